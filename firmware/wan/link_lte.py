"""WAN link, variant -M: the integrated LTE Cat-1 modem (fallback 3G/2G), sealed SIM.

Bring-up: power-on (PWRKEY, AT sync, echo off, URCs on) -> SIM status, PIN from the
configuration (a PIN the SIM rejected is never sent again until the configuration
changes: three wrong PINs would lock the SIM with its PUK) -> APN (+CGDCONT) -> wait
for registration (+CEREG/+CGREG/+CREG home or roaming; URCs wake the wait) -> operator,
RSSI, LTE quality -> data session:
- "host" (virtual board, modules with an internal IP stack): PDP context activation
  (+CGACT) and address (+CGPADDR); the AT channel stays open for monitoring;
- "ppp" (the boards): ATD*99# then network.PPP on the UART. With one UART the AT channel
  is busy while PPP runs, so RSSI is the value measured before dialling and the link is
  supervised through PPP's own state (a CMUX multiplexer would lift that; not done).

While up: signal and registration polled every poll_s; URCs (registration lost, +CGEV
PDN deactivated / network detach, RDY = the module rebooted, +CPIN NOT READY = SIM gone,
NO CARRIER) end the session at once.
"""
from drivers.modem import ModemError, CME_INCORRECT_PASSWORD, parse_reg, registered, \
    act_tech, csq_dbm, params, REG_NAMES
from wan.link import Link, LinkError

_REG_TYPES = ("+CEREG:", "+CGREG:", "+CREG:")


class LteLink(Link):
    variant = "M"

    def __init__(self, ctx, modem, cfg=None, ppp_factory=None):
        super().__init__(ctx, cfg)
        self.modem = modem
        self.ppp_factory = ppp_factory  # stream -> network.PPP-like (boards)
        self.ppp = None
        self._powered = False
        self._bad_pin = None
        self._reg = {}  # "+CEREG:" -> last <stat>
        self._check_fails = 0
        if modem is not None:
            modem.on_urc = self._urc
        self.details = {"operator": None, "tech": None, "registration": None, "ber": None,
                        "rsrp_dbm": None, "rsrq_db": None, "ip": None, "imei": None,
                        "iccid": None, "sim": None, "data": self.cfg.get("data", "host")}

    def _summary(self):
        d = self.details
        return " (%s %s, %s dBm)" % (d["tech"], d["operator"], self.rssi_dbm)

    def _configured(self, cfg):
        if "pin" in cfg:
            self._bad_pin = None

    # --- URCs ------------------------------------------------------------------------
    def _urc(self, line):
        for pre in _REG_TYPES:
            if line.startswith(pre):
                r = parse_reg(line)
                if r is None:
                    return
                self._reg[pre] = r[0]
                self._note_reg(r)
                if self.state == "up" and not self._registered():
                    self._lose("registration lost (%s)" % REG_NAMES[r[0]]
                               if r[0] < len(REG_NAMES) else "registration lost")
                elif self.state == "registering":
                    self._wake.set()
                return
        if line.startswith("+CSQ:"):
            p = params(line, "+CSQ:")
            try:
                self.rssi_dbm = csq_dbm(int(p[0]))
            except ValueError:
                pass
        elif line.startswith("+CGEV:"):
            if "DEACT" in line or "DETACH" in line:
                if self.state == "up":
                    self._lose("network: " + line[6:].strip())
        elif line == "RDY" or line == "*ATREADY":
            if self._powered:  # not the start-up RDY of our own power-on
                self._powered = False
                if self.state in ("up", "registering"):
                    self._lose("modem restarted")
        elif line.startswith("+CPIN:"):
            if ("NOT INSERTED" in line or "NOT READY" in line) and self.state == "up":
                self._lose("SIM " + line[6:].strip().lower())
        elif line == "NO CARRIER":
            if self.state == "up":
                self._lose("data session ended (NO CARRIER)")

    def _registered(self):
        for v in self._reg.values():
            if registered(v):
                return True
        return False

    def _note_reg(self, r):
        stat, area, ci, act = r
        self.details["registration"] = REG_NAMES[stat] if stat < len(REG_NAMES) else str(stat)
        if act is not None and registered(stat):
            self.details["tech"] = act_tech(act)
        if area:
            self.details["area"] = area
        if ci:
            self.details["cell"] = ci

    # --- bring-up ----------------------------------------------------------------------
    async def _bring_up(self):
        m = self.modem
        if m is None:
            raise LinkError("no modem UART on this board")
        m.start()
        try:
            if not self._powered:
                await m.power_on(self.cfg["sync_tries"])
                self._powered = True
                if self.details["imei"] is None:
                    self.details["imei"], self.details["iccid"] = await m.identity()
            else:
                await m.sync(3)
            await self._sim()
            apn = self.cfg.get("apn")
            if apn:
                await m.set_apn(apn, self.cfg.get("apn_user"), self.cfg.get("apn_password"))
            await self._register()
            op, act = await m.operator()
            self.details["operator"] = op
            if act is not None:
                self.details["tech"] = act_tech(act)
            await self._signal()
            if self.cfg.get("data", "host") == "ppp":
                await self._ppp_up()
            else:
                self.details["ip"] = await m.activate()
        except ModemError as e:
            raise LinkError("modem: %s" % e) from None

    async def _sim(self):
        m = self.modem
        sim = await m.sim_status()
        if sim == "SIM PIN":
            pin = self.cfg.get("pin")
            if not pin:
                self.details["sim"] = "PIN required"
                raise LinkError("SIM PIN required but none configured")
            if pin == self._bad_pin:
                self.details["sim"] = "wrong PIN"
                raise LinkError("wrong PIN (not retried until the PIN is reconfigured)")
            try:
                await m.enter_pin(pin)
            except ModemError as e:
                if e.code == CME_INCORRECT_PASSWORD:
                    self._bad_pin = pin
                    self.details["sim"] = "wrong PIN"
                    raise LinkError("wrong PIN") from None
                raise
            for _ in range(20):  # SIM initialisation after the PIN: up to ~10 s
                sim = await m.sim_status()
                if sim != "SIM PIN" and sim != "BUSY":
                    break
                await self._wait(500)
        self.details["sim"] = sim.lower()
        if sim == "SIM PUK":
            raise LinkError("SIM locked (PUK required)")
        if sim != "READY":
            raise LinkError("SIM " + sim.lower())

    async def _register(self):
        m = self.modem
        ms = self.cfg["reg_timeout_s"] * 1000
        waited = 0
        while True:
            if not self.wanted:
                raise LinkError("down requested")
            r = await m.registration()
            self._reg = {"+CEREG:": r[0]}
            self._note_reg(r)
            if registered(r[0]):
                return
            if r[0] == 3:
                raise LinkError("registration denied")
            try:
                await self._signal()
            except ModemError:
                pass
            if waited >= ms:
                raise LinkError("not registered after %d s (%s)"
                                % (ms // 1000, self.details["registration"]))
            await self._wait(1000)  # a +CEREG URC ends the wait early
            waited += 1000

    async def _signal(self):
        m = self.modem
        self.rssi_dbm, self.details["ber"] = await m.signal()
        q = await m.lte_quality()
        self.details.update(q)

    async def _ppp_up(self):
        m = self.modem
        if self.ppp_factory is None:
            raise LinkError("PPP data session not available on this board")
        await m.dial()
        m.stop()  # the UART carries PPP from now on
        # network.PPP needs the native machine.UART (irq() + IRQ_RXIDLE), not the hal
        # wrapper (hal.mcu.uart.McuUart keeps it in .u); MicroPython docs, network.PPP.
        ppp = self.ppp = self.ppp_factory(getattr(m.stream, "u", m.stream))
        user = self.cfg.get("apn_user")
        if user:
            ppp.connect(security=getattr(ppp, "SEC_PAP", 1), user=user,
                        key=self.cfg.get("apn_password") or "")
        else:
            ppp.connect()
        for _ in range(self.cfg["carrier_timeout_s"] * 10):
            if ppp.isconnected():
                self.details["ip"] = _ppp_addr(ppp)
                return
            await self._wait(100)
        raise LinkError("PPP negotiation timed out")

    # --- while up ----------------------------------------------------------------------
    async def _check(self):
        if self.ppp is not None:
            return None if self.ppp.isconnected() else "PPP down"
        m = self.modem
        try:
            await self._signal()
            r = await m.registration()
            self._check_fails = 0
        except ModemError as e:
            self._check_fails += 1
            if self._check_fails >= 3:
                self._check_fails = 0
                return "modem not answering: %s" % e
            return None
        self._reg = {"+CEREG:": r[0]}
        self._note_reg(r)
        if not registered(r[0]):
            return "registration lost (%s)" % self.details["registration"]
        return None

    async def _teardown(self):
        m = self.modem
        if m is None:
            return
        if self.ppp is not None:
            try:
                self.ppp.disconnect()
            except (AttributeError, OSError):
                pass
            self.ppp = None
            m.start()
            await m.hangup()
        elif self.details.get("ip"):
            await m.deactivate()
        self.details["ip"] = None
        self._reg = {}

    async def _reset(self):
        if self.modem is not None:
            await self.modem.reset()
        self._powered = False


def _ppp_addr(ppp):
    try:
        return ppp.ipconfig("addr4")[0]
    except (AttributeError, OSError, ValueError):
        pass
    try:
        return ppp.ifconfig()[0]
    except (AttributeError, OSError):
        return None
