"""CLS proxy: a controllable local system (wallbox, heat pump, PV inverter) on the HAN
reaches its external market participant (EMT) only through the gateway.

TR-03109-1 "transparent channel" as a TCP relay: each configured pair has its own
gateway port on the CLS network. A CLS device connects there (only from the pair's
device address); the gateway opens TLS to the pair's EMT (server certificate checked
against /data/pki/ca, the gateway's certificate as client certificate) through the
firewall (WAN, purpose "cls-proxy", only that EMT), and relays bytes both ways. A
session ends when the EMT closes or a side fails, after idle_s without traffic or after
life_s; the device's EOF is a half-close (TLS has none to pass on): the EMT's answer is
still relayed until it closes or stays quiet for _LINGER_S. The EMT's certificate is
checked before the session counts as open (a failure is "cls.emt", not "cls.open");
each session is logged with its byte counts. Unconfigured ports are closed (firewall),
unknown device addresses are refused and logged.

Pair config: {"name", "port", "device": "ip", "emt": {"host", "port", "name"}}; a pair
without a dotted IPv4 device address or with bad ports raises ClsError (a ValueError).
"""
import asyncio
import time

from net.firewall import serve
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("%s: %s -> %s:%s|%s: EMT %s:%s unreachable: %s|%s: device %s not configured"
           "|%s: too many sessions|%s: up %d bytes, down %d bytes, %s, %d ms"
           "|CLS pair %r: bad %s")


_BUF = const(1024)
_HANDSHAKE_S = const(10)  # TCP connect + the EMT's first TLS flight (at most idle_s)
_LINGER_S = const(5)  # after the device's EOF: the EMT's answer may still come (at most idle_s)
_UP_EOF = const(1)  # state["end"]: the device sent EOF (half-close), answers still relayed
_END = const(2)  # the session ends: the EMT closed, or a side failed


class ClsError(ValueError):
    """A CLS pair this proxy cannot serve (configuration)."""


def _ipv4(a):
    p = a.split(".") if isinstance(a, str) else ()
    return len(p) == 4 and all(x.isdigit() and len(x) <= 3 and int(x) < 256 for x in p)


def _port(p):
    return isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536


def check_pair(p):
    """Raise ClsError unless p is {"name", "port", "device": dotted IPv4, "emt": {"host",
    "port"}}: a pair without a device address must not admit every address."""
    if not isinstance(p, dict):
        raise ClsError(msg(_T, 5) % (p, "pair"))
    name = p.get("name")
    e = p.get("emt")
    for ok, what in ((isinstance(name, str) and name, "name"), (_port(p.get("port")), "port"),
                     (_ipv4(p.get("device")), "device"), (isinstance(e, dict), "emt")):
        if not ok:
            raise ClsError(msg(_T, 5) % (name, what))
    h = e.get("host")
    if not (isinstance(h, str) and h and h != "*" and " " not in h):
        raise ClsError(msg(_T, 5) % (name, "emt host"))
    if not _port(e.get("port")):
        raise ClsError(msg(_T, 5) % (name, "emt port"))


class ClsProxy:
    def __init__(self, fw, pairs, log, tls_context, host="0.0.0.0", idle_s=300, life_s=3600,
                 max_sessions=2):
        self.fw = fw
        self.pairs = pairs
        self.log = log
        self.tls_context = tls_context  # callable -> client SSLContext (lazy: PKI may change)
        self.host = host
        self.idle_s = idle_s
        self.life_s = life_s
        self.max_sessions = max_sessions
        names = []
        for p in pairs:
            check_pair(p)
            if p["name"] in names:
                raise ClsError(msg(_T, 5) % (p["name"], "name (twice)"))
            names.append(p["name"])
        self.socks = {}
        self.live = {p["name"]: [] for p in pairs}  # the open sessions' states
        self.stats = {p["name"]: {"sessions": 0, "up": 0, "down": 0, "refused": 0, "open": 0}
                      for p in pairs}

    def listen(self):
        for p in self.pairs:
            if p["name"] in self.socks:
                continue
            e = p["emt"]
            self.fw.allow("cls", "in", "cls-proxy", "*", p["port"])
            self.fw.allow("wan", "out", "cls-proxy", e["host"], e["port"])
            self.socks[p["name"]] = self.fw.listen("cls", "cls-proxy", self.host, p["port"])

    def close(self):
        for s in self.socks.values():
            s.close()
        self.socks = {}

    async def run(self):
        self.listen()
        tasks = []
        for p in self.pairs:
            tasks.append(serve(self.socks[p["name"]],
                               lambda r, w, ip, p=p: self.session(p, r, w, ip),
                               accept=lambda ip, p=p: self._accept(p, ip)))
        try:
            # one pair (the usual case): no gather task in between
            await (tasks[0] if len(tasks) == 1 else asyncio.gather(*tasks))
        finally:
            self.socks = {}

    def _accept(self, p, ip):
        st = self.stats[p["name"]]
        if p.get("device") != ip:  # no device address: nobody (never everybody)
            st["refused"] += 1
            self.log(3, "cls.refuse", msg(_T, 2) % (p["name"], ip))
            return False
        if st["open"] >= self.max_sessions:
            # a session whose device has sent EOF only waits for the EMT's last answer:
            # it makes room for the device's next connection (at most one more session
            # for the <= 200 ms it takes to end)
            for s in self.live[p["name"]]:
                if s["end"] == _UP_EOF:
                    s["end"] |= _END
                    return True
            st["refused"] += 1
            self.log(2, "cls.refuse", msg(_T, 3) % p["name"])
            return False
        return True

    async def session(self, p, dr, dw, ip):
        name = p["name"]
        st = self.stats[name]
        st["open"] += 1
        st["sessions"] += 1
        e = p["emt"]
        counts = [0, 0]
        state = {"last": time.ticks_ms(), "why": "closed", "end": 0}
        t0 = time.ticks_ms()
        er = ew = None
        live = self.live[name]
        live.append(state)
        try:
            try:
                er, ew = await self.fw.open_connection(
                    "wan", "cls-proxy", e["host"], e["port"], ssl=self.tls_context(),
                    server_hostname=e.get("name") or e["host"],
                    timeout_s=min(self.idle_s, _HANDSHAKE_S))
            except Exception as ex:  # noqa: BLE001 - TLS/firewall/config: log, drop device
                self.log(3, "cls.emt", msg(_T, 1) % (
                    name, e["host"], e["port"], ex))
                return
            self.log(1, "cls.open", msg(_T, 0) % (name, ip, e["host"], e["port"]))
            up = asyncio.create_task(self._pump(dr, ew, counts, 0, state))
            down = asyncio.create_task(self._pump(er, dw, counts, 1, state))
            while True:
                await asyncio.sleep_ms(200)
                end = state["end"]
                if end & _END:
                    break
                now = time.ticks_ms()
                quiet = time.ticks_diff(now, state["last"])
                if end & _UP_EOF and quiet > min(self.idle_s, _LINGER_S) * 1000:
                    break  # the device is done and the EMT has nothing more for it
                if quiet > self.idle_s * 1000:
                    state["why"] = "idle"
                    break
                if time.ticks_diff(now, t0) > self.life_s * 1000:
                    state["why"] = "lifetime"
                    break
            for t in (up, down):
                t.cancel()
        finally:
            live.remove(state)
            st["open"] -= 1
            st["up"] += counts[0]
            st["down"] += counts[1]
            for w in (dw, ew):
                if w is not None:
                    try:
                        await w.wait_closed()
                    except OSError:
                        pass
            if er is not None:
                self.log(1, "cls.close", msg(_T, 4) % (
                    name, counts[0], counts[1], state["why"], time.ticks_diff(
                        time.ticks_ms(), t0)))

    async def _pump(self, src, dst, counts, i, state):
        """Relay src -> dst through one reused buffer (no heap per chunk); a byte is
        counted once written. The device's EOF (i == 0) is a half-close: the EMT's
        answers still go to the device; any other end ends the session."""
        buf = bytearray(_BUF)
        mv = memoryview(buf)
        end = _END
        try:
            while True:
                n = await src.readinto(buf)
                if n is None:  # TLS: a record not complete yet
                    continue
                if not n:
                    if i == 0:
                        end = _UP_EOF
                    break
                state["last"] = time.ticks_ms()
                dst.write(mv[:n])
                await dst.drain()
                counts[i] += n
                state["last"] = time.ticks_ms()
        except Exception:  # noqa: BLE001 - reset, TLS error, no heap: the session ends
            pass
        state["end"] |= end

    def status(self):
        return self.stats
