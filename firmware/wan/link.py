"""The WAN link (ctx.link): one interface over the board's variant, state and supervision.

The WAN layer never knows whether it runs over the LTE modem (-M, wan.link_lte) or
Ethernet (-E, wan.link_eth). It reads `ctx.link.state` and connects only when it is "up";
it calls `ctx.link.session_ok()` after every successful WAN session (TLS handshake with
the GWA/EMT done). See docs/contracts.md (WAN link) and docs/link.md.

States: "down" (not wanted, or between a loss and the next attempt), "registering"
(bringing the link up: modem power-on, SIM, registration, data session / carrier, DHCP),
"up" (the WAN may connect), "failed" (the last attempt failed; retry after a backoff
that doubles from backoff_min_s to backoff_max_s; after reset_after failures in a row
the modem/NIC is reset).

Supervision: while up, if no WAN session succeeded for supervision_s (gateway time,
counted from the later of "link up" and the last session_ok()), the link is cycled
(torn down and brought up again). Only the link is touched: HAN and LMN keep running.

Every state change is logged (ctx.log -> system log) and set on the RSSI LED at once
(on = up, off otherwise); app.leds then renders the signal pattern from `state` and
`rssi_dbm` (slow/fast blink for weak/fair signal, see app/leds.py).
"""
import asyncio

from wan import wait_event
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("%s must be a positive number|%s must be text|I/O error %s"
           "|data must be host or ppp|hard reset after %d failures: %s|ignored: %s"
           "|link settings must be an object|link.config|link.listener|link.supervision"
           "|no WAN session for %d s: cycling the link|no link hardware"
           "|static needs ip and gw|supervision: no WAN session for %d s")


def _defaults():
    # a new dict per call, none kept at module level (RAM): the numeric settings
    return {
        "supervision_s": 3600,  # gateway seconds without a successful WAN session -> cycle
        "backoff_min_s": 10,
        "backoff_max_s": 600,
        "reset_after": 3,  # failed attempts in a row before a hard reset of the modem/NIC
        "poll_s": 30,  # signal/registration poll while up
        "reg_timeout_s": 180,  # network registration
        "carrier_timeout_s": 30,  # Ethernet link/DHCP
        "sync_tries": 10,  # AT probes at modem power-on
    }


class LinkError(Exception):
    """The link layer's one exception: why bringing up / keeping up the link failed."""


_TEXT = ("apn", "apn_user", "apn_password", "pin", "data")


def check(cfg):
    """Validate a "link" settings dict; returns it or raises LinkError."""
    if not isinstance(cfg, dict):
        raise LinkError(msg(_T, 6))
    numeric = _defaults()
    for k, v in cfg.items():
        if k in numeric:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise LinkError(msg(_T, 0) % k)
        elif k in _TEXT:
            if v is not None and not isinstance(v, str):
                raise LinkError(msg(_T, 1) % k)
        elif k == "static":
            if v is not None and not (isinstance(v, dict) and isinstance(v.get("ip"), str)
                                      and isinstance(v.get("gw"), str)):
                raise LinkError(msg(_T, 12))
    if cfg.get("data") not in (None, "host", "ppp"):
        raise LinkError(msg(_T, 3))
    return cfg


class Link:
    """Base class: state, events, LED, supervision loop; subclasses do the variant.

    Subclass hooks (async): _bring_up() returns when up or raises LinkError;
    _check() -> None while fine, or a reason string when the link was lost;
    _teardown() (never raises); _reset() (hard reset, never raises).
    """

    variant = "?"

    def __init__(self, ctx, cfg=None):
        self.ctx = ctx
        self.cfg = _defaults()
        if cfg:
            try:
                self.cfg.update(check(cfg))
            except LinkError as e:
                ctx.log(3, msg(_T, 7), msg(_T, 5) % e)
        self.state = "down"
        self.reason = None
        self.rssi_dbm = None
        self.since = ctx.now()
        self.up_since = None
        self.last_ok = None
        self.wanted = True
        self.fails = 0
        self.transitions = 0
        self.details = {}  # variant information for info(): operator, tech, ip, ...
        self.counters = {"ups": 0, "failures": 0, "cycles": 0, "resets": 0, "losses": 0,
                         "sessions_ok": 0, "lookups": 0, "lookups_while_down": 0}
        self._listeners = []
        self._wake = asyncio.Event()
        self._cycle = None
        self._lost = None
        self._busy = False  # tearing down

    # --- the interface the WAN layer and the technician page use -------------------
    def on_change(self, cb):
        """cb(link, old_state, new_state) after every state change (sync, must not block)."""
        self._listeners.append(cb)

    def session_ok(self):
        """The WAN layer reports a successful session: restarts the supervision timer."""
        self.last_ok = self.ctx.now()
        self.counters["sessions_ok"] += 1

    def info(self):
        d = {"variant": self.variant, "state": self.state, "reason": self.reason,
             "rssi_dbm": self.rssi_dbm, "since": self.since, "up_since": self.up_since,
             "last_session_ok": self.last_ok, "supervision_s": self.cfg["supervision_s"]}
        d.update(self.details)
        d.update(self.counters)
        return d

    async def up(self, timeout_s=None):
        """Want the link up; wait until it is up (True) or an attempt failed (False)."""
        self.wanted = True
        n = self.transitions
        self._wake.set()
        await self._await(lambda: self.state == "up" or (
            self.state == "failed" and self.transitions > n), timeout_s)
        return self.state == "up"

    async def down(self, timeout_s=None):
        """Take the link down and keep it down until up() is called."""
        self.wanted = False
        self._wake.set()
        return await self._await(lambda: self.state == "down" and not self._busy, timeout_s)

    def cycle(self, why="requested"):
        """Ask for a tear-down and bring-up (e.g. by the technician)."""
        self._cycle = why
        self._wake.set()

    def configure(self, cfg):
        """New link settings (APN, PIN, supervision...): used from the next attempt on.
        Raises LinkError (and changes nothing) if a value has the wrong type or range."""
        self.cfg.update(check(cfg))
        self._configured(cfg)
        self._wake.set()  # end a backoff wait: try with the new settings now

    # --- the network guard ---------------------------------------------------------
    def guard_net(self, net):
        """Count peer-address look-ups through hal.net (all WAN connections resolve
        their peer there first); look-ups while the link is not up are the evidence
        that something tried to connect over a dead link."""
        orig = net.getaddrinfo

        def getaddrinfo(*a):
            self.counters["lookups"] += 1
            if self.state != "up":
                self.counters["lookups_while_down"] += 1
            return orig(*a)

        net.getaddrinfo = getaddrinfo
        net.link = self

    # --- state ---------------------------------------------------------------------
    def _set(self, state, reason=None):
        old = self.state
        if old == state and reason == self.reason:
            return
        self.state = state
        self.reason = reason
        self.since = self.ctx.now()
        self.transitions += 1
        level = 3 if state == "failed" else (2 if old == "up" else 1)
        text = "%s -> %s" % (old, state)
        if reason:
            text += ": " + reason
        if state == "up":
            text += self._summary()
        self.ctx.log(level, "link." + state, text)
        self._led_now()
        for cb in self._listeners:
            try:
                cb(self, old, state)
            except Exception as e:  # noqa: BLE001 - a listener must not stop the link
                self.ctx.log(3, msg(_T, 8), "%s: %s" % (type(e).__name__, e))

    def _summary(self):
        return " (%s)" % self.variant

    def _led_now(self):
        self.ctx.led("RSSI", 1 if self.state == "up" else 0)

    async def _await(self, cond, timeout_s):
        n = 0
        limit = None if timeout_s is None else int(timeout_s * 20)
        while not cond():
            if limit is not None and n >= limit:
                return False
            n += 1
            await asyncio.sleep_ms(50)
        return True

    async def _wait(self, ms):
        """Sleep up to ms (None = forever) or until woken by a request/URC."""
        if ms is None:
            await self._wake.wait()
        else:
            await wait_event(self._wake, int(ms))
        self._wake.clear()

    def _lose(self, reason):
        """From URC handlers: the link is gone; the loop tears down and retries."""
        self._lost = reason
        self._wake.set()

    # --- the loop ------------------------------------------------------------------
    async def run(self):
        await self._loop()

    async def _loop(self):
        cfg = self.cfg
        backoff = cfg["backoff_min_s"] * 1000
        self._lost = None
        if self.state not in ("up", "down"):
            self._set("down", "restart")
        while True:
            if not self.wanted:
                if self.state != "down" or self.reason != "requested":
                    self._set("down", "requested")
                    await self._teardown_now()
                while not self.wanted:
                    await self._wait(None)
                continue
            if self.state != "up":
                self._lost = None
                self._cycle = None  # a bring-up is what a cycle asks for
                self._set("registering", None)
                try:
                    await self._bring_up()
                    if not self.wanted:
                        continue
                    if self._lost:
                        raise LinkError(self._lost)
                except (LinkError, OSError) as e:
                    self.fails += 1
                    self.counters["failures"] += 1
                    await self._teardown_now()
                    why = str(e) if isinstance(e, LinkError) else msg(_T, 2) % e
                    if self.fails >= cfg["reset_after"]:
                        self.fails = 0
                        self.counters["resets"] += 1
                        self.ctx.log(3, "link.reset", msg(_T, 4)
                                     % (cfg["reset_after"], why))
                        await self._reset()
                    self._set("failed", why)
                    await self._wait(backoff)
                    backoff = min(backoff * 2, cfg["backoff_max_s"] * 1000)
                    continue
                self.fails = 0
                backoff = cfg["backoff_min_s"] * 1000
                self.up_since = self.ctx.now()
                self.counters["ups"] += 1
                self._set("up", None)
            why = await self._supervise()
            self.up_since = None
            if self.wanted:
                self._set("down", why)  # first: nothing may start a connection now
                await self._teardown_now()

    async def _teardown_now(self):
        self._busy = True
        try:
            await self._teardown()
        finally:
            self._busy = False

    async def _supervise(self):
        cfg = self.cfg
        while True:
            if not self.wanted:
                return "requested"
            if self._cycle:
                why, self._cycle = self._cycle, None
                self.counters["cycles"] += 1
                return "cycle: " + why
            try:
                lost = self._lost or await self._check()
            except (LinkError, OSError) as e:
                lost = str(e)
            if lost:
                self._lost = None
                self.counters["losses"] += 1
                return lost
            last = self.up_since or 0
            if self.last_ok is not None and self.last_ok > last:
                last = self.last_ok
            if self.ctx.now() - last >= cfg["supervision_s"]:
                self.counters["cycles"] += 1
                self.ctx.log(3, msg(_T, 9), msg(_T, 10)
                             % (self.ctx.now() - last))
                return msg(_T, 13) % cfg["supervision_s"]
            await self._wait(cfg["poll_s"] * 1000)

    # --- hooks ---------------------------------------------------------------------
    def _configured(self, cfg):
        pass

    async def _bring_up(self):
        raise LinkError(msg(_T, 11))

    async def _check(self):
        return None

    async def _teardown(self):
        pass

    async def _reset(self):
        pass
