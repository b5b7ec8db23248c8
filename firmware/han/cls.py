"""CLS proxy: a controllable local system (wallbox, heat pump, PV inverter) on the HAN
reaches its external market participant (EMT) only through the gateway.

TR-03109-1 "transparent channel" as a TCP relay: each configured pair has its own
gateway port on the CLS network. A CLS device connects there (only from the pair's
device address); the gateway opens TLS to the pair's EMT (server certificate checked
against /data/pki/ca, the gateway's certificate as client certificate) through the
firewall (WAN, purpose "cls-proxy", only that EMT), and relays bytes both ways. A
session ends when either side closes, after idle_s without traffic or after life_s;
each session is logged with its byte counts. Unconfigured ports are closed (firewall),
unknown device addresses are refused and logged.

Pair config: {"name", "port", "device": "ip", "emt": {"host", "port", "name"}}.
"""
import asyncio
import time

from net.firewall import serve
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("%s: %s -> %s:%s|%s: EMT %s:%s unreachable: %s|%s: device %s not configured"
           "|%s: too many sessions|%s: up %d bytes, down %d bytes, %s, %d ms")


_BUF = const(1024)


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
        self.socks = {}
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
        dev = p.get("device")
        if dev and dev != ip:
            st["refused"] += 1
            self.log(3, "cls.refuse", msg(_T, 2) % (p["name"], ip))
            return False
        if st["open"] >= self.max_sessions:
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
        state = {"last": time.ticks_ms(), "why": "closed"}
        t0 = time.ticks_ms()
        er = ew = None
        try:
            try:
                er, ew = await self.fw.open_connection(
                    "wan", "cls-proxy", e["host"], e["port"], ssl=self.tls_context(),
                    server_hostname=e.get("name") or e["host"])
            except Exception as ex:  # noqa: BLE001 - TLS/firewall/config: log, drop device
                self.log(3, "cls.emt", msg(_T, 1) % (
                    name, e["host"], e["port"], ex))
                return
            self.log(1, "cls.open", msg(_T, 0) % (name, ip, e["host"], e["port"]))
            up = asyncio.create_task(self._pump(dr, ew, counts, 0, state))
            down = asyncio.create_task(self._pump(er, dw, counts, 1, state))
            while True:
                await asyncio.sleep_ms(200)
                if state.get("done"):
                    break
                now = time.ticks_ms()
                if time.ticks_diff(now, state["last"]) > self.idle_s * 1000:
                    state["why"] = "idle"
                    break
                if time.ticks_diff(now, t0) > self.life_s * 1000:
                    state["why"] = "lifetime"
                    break
            for t in (up, down):
                t.cancel()
        finally:
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
        try:
            while True:
                data = await src.read(_BUF)
                if not data:
                    break
                counts[i] += len(data)
                state["last"] = time.ticks_ms()
                dst.write(data)
                await dst.drain()
        except (OSError, EOFError):
            pass
        state["done"] = True

    def status(self):
        return self.stats
