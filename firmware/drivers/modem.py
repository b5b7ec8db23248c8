"""LTE Cat-1 modem (SIMCom A7672x / Quectel EG915U class) over a UART: AT commands.

The protocol half (this module) sends commands, collects responses, dispatches
unsolicited result codes (URCs) and raises ModemError; resilience (retries, backoff,
reset, supervision) belongs to the caller, wan.link_lte (the mqtt_as split).

The stream is injected: machine.UART on a board, hal.unix.pty_uart.PtyUart on the
virtual board (fed by gwtool.modem_emu), a scripted fake in the tests.

Sources: 3GPP TS 27.007 (AT command set for UE): +CPIN 8.3, +CSQ 8.5, +CREG 7.2,
+CGREG 10.1.20, +CEREG 10.1.22, +COPS 7.3, +CESQ 8.69, +CGDCONT 10.1.1, +CGACT 10.1.10,
+CGPADDR 10.1.14, +CGEV 10.1.19, +CME ERROR codes 9.2; ITU-T V.250 (result codes,
ATE0, ATD*99# for the PPP data session); SIMCom A76XX AT command manual V1.0x
(RDY / "PB DONE" start-up URCs, AT+CFUN=1,1 reset); Quectel EG915U AT manual.
"""
import asyncio
import time

_LINE_MAX = const(256)  # longer lines are noise: dropped whole
_CMD_TIMEOUT_MS = const(2000)
_POLL_BUSY_MS = const(2)  # UART poll while a command waits for its answer
_POLL_IDLE_MS = const(40)  # between commands: URCs only

# +CME ERROR codes (27.007 9.2.1) the link reacts to
CME_SIM_NOT_INSERTED = const(10)
CME_SIM_PIN_REQUIRED = const(11)
CME_SIM_PUK_REQUIRED = const(12)
CME_SIM_FAILURE = const(13)
CME_SIM_BUSY = const(14)
CME_INCORRECT_PASSWORD = const(16)

# registration <stat> (27.007 7.2): 1 home, 5 roaming are "registered"
REG_NAMES = ("not searching", "home", "searching", "denied", "unknown", "roaming")

# URC line prefixes (anything else outside a command is counted as noise)
_URCS = ("+CREG:", "+CEREG:", "+CGREG:", "+CPIN:", "RDY", "+CGEV:", "NO CARRIER", "+CSQ:",
         "RING", "+CMTI:", "SMS DONE", "PB DONE", "*ATREADY", "+QIND:", "+CFUN:", "+CUSD:",
         "+CTZV:", "+CTZE:", "+CIEV:", "+QUSIM:", "+CPSI:", "POWERED DOWN", "NORMAL POWER DOWN")


class ModemError(Exception):
    """The modem layer's one exception: reason text and the +CME ERROR code (or None)."""

    def __init__(self, reason, code=None):
        super().__init__(reason if code is None else "%s (CME %d)" % (reason, code))
        self.reason = reason
        self.code = code


def fields(s):
    """Split an AT response's parameters at commas outside double quotes; unquote."""
    out = []
    cur = []
    q = False
    for c in s:
        if c == '"':
            q = not q
        elif c == "," and not q:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur).strip())
    return out


def _int(s, default=None):
    try:
        return int(s)
    except ValueError:
        return default


def params(line, prefix):
    """'+CSQ: 20,99' with prefix '+CSQ:' -> ['20', '99']."""
    return fields(line[len(prefix):].strip())


def parse_reg(line):
    """+CREG/+CGREG/+CEREG response or URC -> (stat, tac/lac, ci, act); None if malformed.

    Response to AT+CEREG?: '+CEREG: <n>,<stat>[,"tac","ci",act]'; URC (n=1/2):
    '+CEREG: <stat>[,"tac","ci",act]'. They differ by whether the 2nd field is a quoted
    hex area code (URC) or a bare <stat> number (response).
    """
    i = line.find(":")
    if i < 0:
        return None
    raw = line[i + 1:].strip()
    f = fields(raw)
    parts = raw.split(",")
    if len(f) >= 2 and _int(f[1]) is not None and not parts[1].strip().startswith('"'):
        f = f[1:]  # response form: drop <n>
    stat = _int(f[0])
    if stat is None or not 0 <= stat <= 10:
        return None
    area = f[1] if len(f) > 1 else None
    ci = f[2] if len(f) > 2 else None
    act = _int(f[3]) if len(f) > 3 else None
    return stat, area or None, ci or None, act


def registered(stat):
    return stat == 1 or stat == 5


def csq_dbm(rssi):
    """+CSQ <rssi> 0..31 -> dBm (-113 + 2*rssi, 27.007 8.5); 99 (unknown) -> None."""
    if rssi is None or not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


def cesq_rsrp_dbm(v):
    """+CESQ <rsrp> 0..97 -> dBm: 0 is below -140, n is [-141+n, -140+n); 255 -> None."""
    if v is None or not 0 <= v <= 97:
        return None
    return v - 141


def cesq_rsrq_db(v):
    """+CESQ <rsrq> 0..34 -> dB: 0 is below -19.5, n is [-20+n/2, ...); 255 -> None."""
    if v is None or not 0 <= v <= 34:
        return None
    return -20 + v / 2


def act_tech(act):
    """27.007 <AcT> -> '2G' / '3G' / 'LTE' (None if unknown)."""
    if act is None:
        return None
    if act in (0, 1, 3, 8):
        return "2G"
    if act in (2, 4, 5, 6):
        return "3G"
    if act in (7, 9, 10, 11, 12, 13):
        return "LTE"
    return None


class LineSplitter:
    """Bytes from the UART -> complete text lines; garbage is counted, never raised.

    A line ends at CR or LF; empty lines are skipped. A line with bytes outside printable
    ASCII (line noise, a modem booting at another baud rate) or longer than _LINE_MAX is
    dropped whole and counted in `.garbage`.
    """

    def __init__(self):
        self.buf = bytearray()
        self.bad = False
        self.garbage = 0

    def feed(self, data):
        out = []
        buf = self.buf
        for b in data:
            if b == 13 or b == 10:
                if buf:
                    if self.bad:
                        self.garbage += 1
                    else:
                        out.append(buf.decode())
                    buf = self.buf = bytearray()
                elif self.bad:
                    self.garbage += 1
                self.bad = False
            elif b < 32 or b > 126 or len(buf) >= _LINE_MAX:
                self.bad = True
            elif not self.bad:
                buf.append(b)
        return out

    def pending(self):
        """Text without a line end yet (the '> ' prompt of AT+CMGS etc.)."""
        return "" if self.bad else self.buf.decode()


class Modem:
    """AT command channel: one command at a time, URCs to `on_urc(line)`.

    `start()` starts the reader task; `command()` returns the response lines, raising
    ModemError on ERROR / +CME ERROR / timeout / NO CARRIER.
    """

    def __init__(self, stream, pwrkey=None, reset_pin=None, on_urc=None):
        self.stream = stream
        self.pwrkey = pwrkey
        self.reset_pin = reset_pin
        self.on_urc = on_urc
        self.lines = LineSplitter()
        self.stats = {"commands": 0, "errors": 0, "timeouts": 0, "urcs": 0, "noise": 0}
        self._lock = asyncio.Lock()
        self._cmd = None  # command in flight
        self._prefix = None
        self._resp = None  # info lines of the command in flight
        self._final = None  # final result line
        self._task = None
        self.rx_error = None
        self.ready_seen = 0  # 'RDY' / '*ATREADY' start-up URCs seen (module (re)booted)

    # --- reader -------------------------------------------------------------------
    def start(self):
        if self._task is None:
            self._task = asyncio.create_task(self._reader())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _reader(self):
        # Polled reads (as lmn.link does): the hal UARTs are Python wrappers that
        # asyncio's poller cannot register; read(n) returns at once with what is there.
        # While a command is in flight, command() reads for itself.
        while True:
            if self._cmd is None and self._pump():
                continue
            await asyncio.sleep_ms(_POLL_IDLE_MS)

    def _pump(self):
        """Read what the UART has and route its lines; False if nothing was there."""
        try:
            data = self.stream.read(128)
        except OSError as e:
            self.rx_error = e
            return False
        if not data:
            return False
        for line in self.lines.feed(data):
            self.handle_line(line)
        return True

    def handle_line(self, line):
        """Route one received line: final result, response line, URC or noise."""
        cmd = self._cmd
        if cmd is not None:
            if line == "OK" or line == "CONNECT" or line.startswith("CONNECT "):
                return self._finish(line)
            if (line == "ERROR" or line.startswith("+CME ERROR:")
                    or line.startswith("+CMS ERROR:")):
                return self._finish(line)
            if line == "NO CARRIER" and cmd.startswith("ATD"):
                return self._finish(line)
            if line == cmd:  # echo (before ATE0)
                return None
            if self._prefix and line.startswith(self._prefix):
                self._resp.append(line)
                return None
        for u in _URCS:
            if line.startswith(u):
                self.stats["urcs"] += 1
                if line == "RDY" or line == "*ATREADY":
                    self.ready_seen += 1
                if self.on_urc:
                    self.on_urc(line)
                return None
        if cmd is not None and self._prefix == "":
            self._resp.append(line)  # bare response lines (AT+CGSN, AT+CIMI)
            return None
        self.stats["noise"] += 1
        return None

    def _finish(self, line):
        self._final = line

    # --- commands -----------------------------------------------------------------
    async def command(self, cmd, prefix=None, timeout_ms=_CMD_TIMEOUT_MS):
        """Send `cmd` (without CR); return the info lines that start with `prefix`.

        prefix "" collects every non-URC line (commands that answer bare values).
        """
        async with self._lock:
            self._cmd = cmd
            self._prefix = prefix
            self._resp = []
            self._final = None
            self.stats["commands"] += 1
            try:
                self.stream.write(cmd.encode() + b"\r")
                t0 = time.ticks_ms()
                while self._final is None:
                    if self._pump():
                        continue
                    if time.ticks_diff(time.ticks_ms(), t0) >= timeout_ms:
                        self.stats["timeouts"] += 1
                        raise ModemError("timeout: " + cmd)
                    await asyncio.sleep_ms(_POLL_BUSY_MS)
                final = self._final
                resp = self._resp
            finally:
                self._cmd = None
                self._prefix = None
        if final == "OK" or final.startswith("CONNECT"):
            return resp
        self.stats["errors"] += 1
        if final.startswith("+CME ERROR:") or final.startswith("+CMS ERROR:"):
            code = _int(final[11:].strip())
            raise ModemError(cmd, code if code is not None else -1)
        raise ModemError("%s: %s" % (cmd, final))

    async def query(self, cmd, prefix, timeout_ms=_CMD_TIMEOUT_MS):
        """A read command with one info line: its parameters, or ModemError."""
        lines = await self.command(cmd, prefix, timeout_ms)
        if not lines:
            raise ModemError("no %s in answer to %s" % (prefix, cmd))
        return params(lines[-1], prefix)

    # --- power --------------------------------------------------------------------
    async def pulse(self, pin, ms):
        if pin is not None:
            pin.value(1)
            await asyncio.sleep_ms(ms)
            pin.value(0)

    async def sync(self, tries=10, timeout_ms=500):
        """Send AT until OK (the module is up and the baud rate matches)."""
        for _ in range(tries):
            try:
                await self.command("AT", None, timeout_ms)
                return True
            except ModemError:
                await asyncio.sleep_ms(100)
        raise ModemError("no answer to AT")

    async def power_on(self, tries=10):
        """PWRKEY pulse (A7672: >=50 ms low via the driver transistor; EG915U: >=500 ms),
        then AT until OK, echo off, numeric +CME errors, registration URCs with location,
        long alphanumeric operator names, packet-domain event URCs (+CGEV)."""
        if self.pwrkey is not None:
            await self.pulse(self.pwrkey, 600)
        await self.sync(tries)
        await self.command("ATE0")
        await self.command("AT+CMEE=1")
        for c in ("AT+CREG=2", "AT+CGREG=2", "AT+CEREG=2", "AT+COPS=3,0", "AT+CGEREP=2,1"):
            try:
                await self.command(c)
            except ModemError:
                pass  # not every module has every one (2G-only: no +CEREG)

    async def reset(self):
        """Hard reset: the RESET line if the board has one, else AT+CFUN=1,1."""
        if self.reset_pin is not None:
            await self.pulse(self.reset_pin, 300)
            return
        try:
            await self.command("AT+CFUN=1,1", None, 2000)
        except ModemError:
            pass

    # --- SIM ----------------------------------------------------------------------
    async def sim_status(self):
        """'READY', 'SIM PIN', 'SIM PUK', ... or 'NOT INSERTED' / 'FAILURE' / 'BUSY'."""
        try:
            p = await self.query("AT+CPIN?", "+CPIN:", 5000)
        except ModemError as e:
            if e.code == CME_SIM_NOT_INSERTED:
                return "NOT INSERTED"
            if e.code == CME_SIM_FAILURE:
                return "FAILURE"
            if e.code == CME_SIM_BUSY:
                return "BUSY"
            raise
        return p[0]

    async def enter_pin(self, pin):
        try:
            await self.command('AT+CPIN="%s"' % pin, None, 5000)
        except ModemError as e:
            if e.code == CME_INCORRECT_PASSWORD:
                raise ModemError("wrong PIN", e.code) from None
            raise

    # --- network ------------------------------------------------------------------
    async def registration(self):
        """Best of +CEREG (LTE), +CGREG (PS 2G/3G), +CREG (CS): (stat, area, ci, act)."""
        best = None
        for cmd, pre in (("AT+CEREG?", "+CEREG:"), ("AT+CGREG?", "+CGREG:"),
                         ("AT+CREG?", "+CREG:")):
            try:
                lines = await self.command(cmd, pre)
            except ModemError:
                continue
            r = parse_reg(lines[-1]) if lines else None
            if r is None:
                continue
            if registered(r[0]):
                return r
            if best is None or r[0] == 3:  # denied is the most telling failure
                best = r
        if best is None:
            raise ModemError("no registration status")
        return best

    async def signal(self):
        """(rssi_dbm or None, ber or None) from +CSQ."""
        p = await self.query("AT+CSQ", "+CSQ:")
        rssi = _int(p[0])
        ber = _int(p[1]) if len(p) > 1 else None
        return csq_dbm(rssi), (ber if ber is not None and 0 <= ber <= 7 else None)

    async def lte_quality(self):
        """{'rsrp_dbm', 'rsrq_db'} from +CESQ (None values if not on LTE / unsupported)."""
        try:
            p = await self.query("AT+CESQ", "+CESQ:")
        except ModemError:
            return {"rsrp_dbm": None, "rsrq_db": None}
        rsrq = _int(p[4]) if len(p) > 5 else None
        rsrp = _int(p[5]) if len(p) > 5 else None
        return {"rsrp_dbm": cesq_rsrp_dbm(rsrp), "rsrq_db": cesq_rsrq_db(rsrq)}

    async def operator(self):
        """(name or None, act or None) from AT+COPS? ('+COPS: 0,0,"Telekom.de",7')."""
        p = await self.query("AT+COPS?", "+COPS:", 5000)
        name = p[2] if len(p) > 2 and p[2] else None
        act = _int(p[3]) if len(p) > 3 else None
        return name, act

    async def identity(self):
        """(IMEI, ICCID) for the technician; None where the module does not answer."""
        imei = iccid = None
        try:
            lines = await self.command("AT+CGSN", "")
            imei = lines[0] if lines else None
        except ModemError:
            pass
        for cmd, pre in (("AT+CCID", "+CCID:"), ("AT+CICCID", "+ICCID:"),
                         ("AT+QCCID", "+QCCID:")):  # generic/Quectel, SIMCom, Quectel
            try:
                iccid = (await self.query(cmd, pre))[0]
                break
            except ModemError:
                pass
        return imei, iccid

    async def set_apn(self, apn, user=None, password=None):
        """PDP context 1 = IPv4 on `apn` (27.007 +CGDCONT), optional PAP authentication."""
        await self.command('AT+CGDCONT=1,"IP","%s"' % apn)
        if user:
            try:
                await self.command('AT+CGAUTH=1,1,"%s","%s"' % (password or "", user))
            except ModemError:
                await self.command('AT+CGAUTH=1,1,"%s","%s"' % (user, password or ""))

    async def activate(self, timeout_ms=30000):
        """Activate PDP context 1 inside the module (the unix board's data path); -> IP."""
        await self.command("AT+CGACT=1,1", None, timeout_ms)
        p = await self.query("AT+CGPADDR=1", "+CGPADDR:")
        return p[1] if len(p) > 1 and p[1] else None

    async def deactivate(self):
        try:
            await self.command("AT+CGACT=0,1", None, 10000)
        except ModemError:
            pass

    async def dial(self, timeout_ms=30000):
        """ATD*99# (V.250 + 27.007 10.2.1.1): the UART carries PPP after CONNECT."""
        await self.command("ATD*99#", None, timeout_ms)

    async def hangup(self):
        """Back to command mode: +++ guard times (1 s silence either side), then ATH."""
        await asyncio.sleep_ms(1100)
        self.stream.write(b"+++")
        await asyncio.sleep_ms(1100)
        try:
            await self.command("ATH", None, 5000)
        except ModemError:
            pass
