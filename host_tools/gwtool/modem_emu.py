"""An AT-command LTE Cat-1 modem emulator on a pseudo-terminal (SIMCom A7672 flavour).

The virtual board opens `.path` as its modem UART (vboard config key "modem"). The
emulator answers the 3GPP TS 27.007 / V.250 commands the firmware uses and models what
goes wrong in the field, each switchable while the board runs:

- registration delays (`reg_delay` s of "searching" after the SIM is ready),
- no SIM (`sim = "absent"`: +CME ERROR: 10), SIM PIN (`pin`), wrong PIN
  (+CME ERROR: 16; three wrong PINs -> SIM PUK, as a real SIM),
- signal changes (`set_signal(csq, rsrp, rsrq)`; `drift = True`: a random walk),
- dropped registration (`drop(recover_after=None)` / `restore()`), denied
  registration (`deny`),
  network PDN deactivation (`pdn_deactivate()`), module reboot (`reboot()`),
- a hung module (`hung = True`: silence; AT+CFUN=1,1 cannot reach it either),
- garbage bytes and unsolicited result codes (`garbage()`, `urc()`, `chatter = True`
  for a steady stream of RING/+CMTI/noise between the answers).

Registration URCs follow the firmware's AT+CREG/+CGREG/+CEREG=<n> settings (n=1: stat,
n=2: stat,"tac","ci",act). `stats` counts commands, PIN attempts, resets, activations.
"""
import os
import random
import select
import threading
import time

from .ptybridge import open_raw_pty

_REGS = ("+CREG", "+CGREG", "+CEREG")


class ModemEmulator:
    def __init__(self, sim="ready", pin=None, reg_delay=1.0, operator="Telekom.de", act=7,
                 csq=20, rsrp=50, rsrq=20, roaming=False, boot_delay=0.2, seed=1, deny=False,
                 hung=False, chatter=False, drift=False):
        self.master, self.slave, self.path = open_raw_pty()
        self.lock = threading.RLock()
        self.sim = sim  # "ready" | "absent"
        self.pin = pin  # None: no PIN lock
        self.reg_delay = reg_delay
        self.operator = operator
        self.act = act
        self.csq, self.rsrp, self.rsrq = csq, rsrp, rsrq
        self.roaming = roaming
        self.boot_delay = boot_delay
        self.deny = deny
        self.hung = hung
        self.chatter = chatter
        self.drift = drift  # random walk of the signal every 2 s (the simulator's default)
        self._restore_at = None
        self.dropped = False
        self.rng = random.Random(seed)
        self.stats = {"commands": 0, "pin_attempts": 0, "resets": 0, "activations": 0,
                      "garbage": 0, "urcs": 0}
        self.log = []  # (time, "rx"/"tx", text), bounded
        self._rx = b""
        self._stop = False
        self._boot()
        self._t = threading.Thread(target=self._loop, name="modem-emu", daemon=True)
        self._t.start()

    # --- model --------------------------------------------------------------------
    def _boot(self):
        self.cfun = 1
        self.echo = True
        self.n = {r: 0 for r in _REGS}
        self.cgerep = False
        self.pin_ok = self.pin is None
        self.pin_tries = 3
        self.pdp = False
        self.apn = None
        self.data_mode = False
        self.t_ready = time.monotonic() if self._sim_ready() else None
        self.reported = 0
        self.pending_rdy = time.monotonic() + self.boot_delay

    def _sim_ready(self):
        return self.sim == "ready" and (self.pin is None or self.pin_ok)

    def reg_stat(self):
        if self.cfun != 1 or not self._sim_ready():
            return 0
        if self.deny:
            return 3
        if self.dropped:
            return 2
        if self.t_ready is None:
            self.t_ready = time.monotonic()
        if time.monotonic() - self.t_ready < self.reg_delay:
            return 2
        return 5 if self.roaming else 1

    def _sim_state(self):
        if self.sim != "ready":
            return None
        if self.pin is not None and not self.pin_ok:
            return "SIM PIN" if self.pin_tries > 0 else "SIM PUK"
        return "READY"

    # --- knobs for tests (thread-safe) --------------------------------------------
    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if not hasattr(self, k):
                    raise AttributeError(k)
                setattr(self, k, v)
                if k in ("sim", "pin"):
                    self.pin_ok = self.pin is None
                    self.pin_tries = 3
                    self.t_ready = time.monotonic() if self._sim_ready() else None

    def set_signal(self, csq, rsrp=None, rsrq=None):
        with self.lock:
            self.csq = csq
            if rsrp is not None:
                self.rsrp = rsrp
            if rsrq is not None:
                self.rsrq = rsrq

    def drop(self, recover_after=None):
        """The network drops the registration (URC goes out on the next tick); with
        recover_after (s) it comes back by itself."""
        with self.lock:
            self.dropped = True
            self.pdp = False
            self._restore_at = None if recover_after is None else \
                time.monotonic() + recover_after

    def restore(self, delay=None):
        with self.lock:
            self._restore_at = None
            self.dropped = False
            self.t_ready = time.monotonic() - self.reg_delay + (delay or 0)

    def pdn_deactivate(self):
        with self.lock:
            self.pdp = False
            if self.cgerep:
                self._urc("+CGEV: NW PDN DEACT 1")

    def reboot(self):
        with self.lock:
            self.stats["resets"] += 1
            self._boot()

    def urc(self, line):
        with self.lock:
            self._urc(line)

    def garbage(self, n=24):
        with self.lock:
            self.stats["garbage"] += 1
            self._write(bytes(self.rng.getrandbits(8) for _ in range(n)) + b"\r\n")

    def received(self):
        with self.lock:
            return [t for _, d, t in self.log if d == "rx"]

    # --- I/O ----------------------------------------------------------------------
    def _write(self, data):
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _send(self, *lines):
        for ln in lines:
            self._note("tx", ln)
            self._write(b"\r\n" + ln.encode() + b"\r\n")

    def _urc(self, line):
        self.stats["urcs"] += 1
        self._send(line)

    def _note(self, d, text):
        self.log.append((time.monotonic(), d, text))
        if len(self.log) > 2000:
            del self.log[:500]

    def _loop(self):
        last_chatter = last_drift = time.monotonic()
        while not self._stop:
            try:
                r, _, _ = select.select([self.master], [], [], 0.05)
            except (OSError, ValueError):
                return
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                with self.lock:
                    if not self.hung:
                        self._feed(data)
            with self.lock:
                if self.hung:
                    continue
                now = time.monotonic()
                if self.pending_rdy and now >= self.pending_rdy:
                    self.pending_rdy = None
                    self._urc("RDY")
                    if self.sim == "ready":
                        self._urc("+CPIN: " + self._sim_state())
                    else:
                        self._urc("+CPIN: NOT INSERTED")
                if self._restore_at is not None and now >= self._restore_at:
                    self.restore()
                if self.drift and now - last_drift > 2:
                    last_drift = now
                    self.csq = max(3, min(31, self.csq + self.rng.randint(-2, 2)))
                    self.rsrp = max(10, min(70, self.rsrp + self.rng.randint(-3, 3)))
                self._report_reg()
                if self.chatter and now - last_chatter > 0.4:
                    last_chatter = now
                    self._urc(self.rng.choice(("RING", '+CMTI: "SM",1', "+CTZV: 32,0")))
                    self.garbage(self.rng.randint(1, 40))

    def _report_reg(self):
        st = self.reg_stat()
        if st == self.reported or self.pending_rdy:
            return
        self.reported = st
        if st not in (1, 5):
            self.pdp = False
        for r in _REGS:
            n = self.n[r]
            if n == 1 or (n == 2 and st not in (1, 5)):
                self._urc(f"{r}: {st}")
            elif n == 2:
                self._urc(f'{r}: {st},"1A2B","01A2B3C4",{self.act}')

    def _feed(self, data):
        if self.data_mode:
            if b"+++" in data:
                self.data_mode = False
                self._send("OK")
            return
        self._rx += data
        while True:
            i = self._rx.find(b"\r")
            if i < 0:
                if len(self._rx) > 1024:
                    self._rx = b""
                return
            raw, self._rx = self._rx[:i], self._rx[i + 1:]
            line = raw.strip(b"\n").decode("ascii", "replace").strip()
            if not line:
                continue
            self._note("rx", line)
            if self.echo:
                self._write(raw.strip(b"\n") + b"\r\n")
            if self.pending_rdy:
                continue  # still booting: a real module drops the bytes
            self.stats["commands"] += 1
            self._send(*self._answer(line))

    # --- commands -----------------------------------------------------------------
    def _answer(self, c):  # one table of commands
        u = c.upper()
        if not u.startswith("AT"):
            return ["ERROR"]
        if u in ("AT", "ATZ", "AT+CMEE=1", "AT+COPS=3,0", "AT&F"):
            return ["OK"]
        if u in ("ATE0", "ATE1"):
            self.echo = u == "ATE1"
            return ["OK"]
        if u == "AT+CGEREP=2,1":
            self.cgerep = True
            return ["OK"]
        for r in _REGS:
            if u.startswith("AT" + r + "="):
                self.n[r] = int(u.split("=")[1] or 0)
                self.reported = -1 if self.n[r] else self.reported
                return ["OK"]
            if u == "AT" + r + "?":
                st = self.reg_stat()
                if st in (1, 5) and self.n[r] == 2:
                    return [f'{r}: 2,{st},"1A2B","01A2B3C4",{self.act}', "OK"]
                return [f"{r}: {self.n[r]},{st}", "OK"]
        if u == "AT+CGSN" or u == "AT+GSN":
            return ["861234567890123", "OK"]
        if u in ("AT+CICCID", "AT+CCID", "AT+ICCID"):
            if self.sim != "ready":
                return ["+CME ERROR: 10"]
            return ["+ICCID: 8949020000012345678" if u != "AT+CCID"
                    else "+CCID: 8949020000012345678", "OK"]
        if u == "AT+CPIN?":
            s = self._sim_state()
            return ["+CME ERROR: 10"] if s is None else [f"+CPIN: {s}", "OK"]
        if u.startswith("AT+CPIN="):
            return self._enter_pin(c.split("=", 1)[1].strip('"'))
        if u == "AT+CSQ":
            return [f"+CSQ: {self.csq},99", "OK"]
        if u == "AT+CESQ":
            lte = self.act == 7 and self.reg_stat() in (1, 5)
            rsrq, rsrp = (self.rsrq, self.rsrp) if lte else (255, 255)
            return [f"+CESQ: 99,99,255,255,{rsrq},{rsrp}", "OK"]
        if u == "AT+COPS?":
            if self.reg_stat() in (1, 5):
                return [f'+COPS: 0,0,"{self.operator}",{self.act}', "OK"]
            return ["+COPS: 0", "OK"]
        if u.startswith("AT+CGDCONT="):
            self.apn = c.split(",")[2].strip('"') if c.count(",") >= 2 else None
            return ["OK"]
        if u.startswith("AT+CGAUTH="):
            return ["OK"]
        if u == "AT+CGACT=1,1":
            if self.reg_stat() not in (1, 5):
                return ["+CME ERROR: 30"]  # no network service
            self.pdp = True
            self.stats["activations"] += 1
            return ["OK"]
        if u == "AT+CGACT=0,1":
            self.pdp = False
            return ["OK"]
        if u == "AT+CGPADDR=1":
            return ['+CGPADDR: 1,"10.64.12.7"' if self.pdp else "+CGPADDR: 1,", "OK"]
        if u.startswith("ATD*99"):
            if self.reg_stat() not in (1, 5):
                return ["NO CARRIER"]
            self.data_mode = True
            return ["CONNECT 150000000"]
        if u == "ATH":
            return ["OK"]
        if u in ("AT+CFUN=1,1", "AT+CRESET"):
            self.stats["resets"] += 1
            self._send("OK")
            self._boot()
            return []
        if u.startswith("AT+CFUN="):
            self.cfun = int(u.split("=")[1].split(",")[0])
            return ["OK"]
        return ["ERROR"]

    def _enter_pin(self, pin):
        self.stats["pin_attempts"] += 1
        if self.sim != "ready":
            return ["+CME ERROR: 10"]
        if self.pin is None or self.pin_ok:
            return ["+CME ERROR: 3"]  # operation not allowed
        if self.pin_tries <= 0:
            return ["+CME ERROR: 12"]  # SIM PUK required
        if pin == self.pin:
            self.pin_ok = True
            self.t_ready = time.monotonic()
            return ["OK", "+CPIN: READY"]
        self.pin_tries -= 1
        return ["+CME ERROR: 16"]

    def close(self):
        self._stop = True
        self._t.join(1)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
