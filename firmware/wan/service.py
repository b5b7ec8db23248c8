"""The WAN layer's service: security module, profiles, delivery to EMTs, GWA admin.

setup(ctx): ctx.secmod (the board's secure element when there is one, else the
software module on /data/pki/gateway.key), factory provisioning on the virtual board,
the "wan" configuration, subscription to the core's TAF outputs; ctx.wan = the Wan.
run(ctx): one delivery task for all EMTs, the payload builder on the schedule grid, the
GWA poller, which also reads the wake-up packets between polls (wan.admin, wan.wakeup).
"""
import asyncio
import json
import os

from crypto.secmod import SecModError, SoftSecMod
from store.records import exists, mkdirs, write_atomic  # the store's file helpers (one copy)

from texts import msg, unload
from wan import TAKE_MS, wait_event

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("version %s: %d EMT profiles|no free UDP port|wan.provision"
           "|%d files from factory provisioning|no security module: %s"
           "|no WAN configuration|refused: %s|cannot listen: %s")
_DATA = const("/data")
_CONFIG = const("/data/config/active.json")
_KEY = const("/data/pki/gateway.key")
_METER_KEYS = const("/data/keys/meters.json")
_WAKE_BURST = const(4)  # wake-up packets checked per look at the socket (every 100 ms)
# loaded by signing and key agreement, dropped after each tick's payloads (flush)
_ECC = ("crypto.ecdsa", "crypto.ecc", "crypto.p256g", "crypto.der")


def provision(src, dst=_DATA):
    """Factory provisioning of the virtual board: copy a host folder's files into /data
    where they are missing (never overwrites). Layout of src mirrors /data."""
    n = 0
    for name in os.listdir(src):
        s, d = src + "/" + name, dst + "/" + name
        if os.stat(s)[0] & 0x4000:
            mkdirs(d)
            n += provision(s, d)
        elif not exists(d):
            with open(s, "rb") as f:
                write_atomic(d, f.read(), True)
            n += 1
    return n


def make_secmod(ctx):
    se = getattr(ctx.hal, "se", None)
    if se is not None:
        from drivers.atecc608 import Atecc608SecMod

        return Atecc608SecMod(se, meter_keys_path=_METER_KEYS)
    # no key yet on a fresh board: provisioning generates or loads one (app.provision)
    # no meter keys: the wM-Bus receiver's KeyStore reads the same file (one copy in RAM)
    return SoftSecMod(key_path=_KEY)


def load_config(path=_CONFIG):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Wan:
    def __init__(self, ctx, secmod, pki="/data/pki", qroot="/data/wan/q"):
        self.ctx = ctx
        self.qroot = qroot
        self.config_path = _CONFIG
        self.keys_path = _METER_KEYS
        self.secmod = secmod
        self.pki = pki
        self.ident = None  # wan.tlsconn.Identity, made by configure() (lazy: RAM)
        self.gateway_id = "GW"
        self.gwa = {}
        self.emts = []
        self.outboxes = {}
        self.retry_min_s = 30
        self.retry_max_s = 3600
        self.config_version = None
        self.admin = False  # GWA administration (wan.admin, loaded per poll) present
        self.poller = None  # the poll task
        self.gwa_sessions = 0  # completed GWA polls
        self.last_event = 0  # time of the last event sent to the GWA (POST /log)
        self.updater = True  # wan.update.Updater when needed (wan.admin._update), else None
        self.wakeup = None  # wan.wakeup.Wakeup, made at the first packet (RAM)
        self.wakeup_sock = None
        self.wake = asyncio.Event()  # a payload was built, or a schedule tick (deliver)

    def configure(self, wan_section, version=None):
        """Apply a validated "wan" section (raises profiles.ProfileError)."""
        from wan import profiles
        from wan.delivery import Outbox
        from wan.tlsconn import Identity

        try:
            gid, gwa, emts = profiles.parse(wan_section)
        finally:
            profiles = None
            unload("wan.profiles")  # the schema check, not needed until the next one (RAM)
        if self.ident is None:
            self.ident = Identity(self.secmod, self.pki)
        # the outboxes first (their queues are opened here: this can fail, e.g. OSError),
        # then everything at once: a failure leaves the running profiles as they were
        old = self.outboxes
        boxes = {}
        for e in emts:
            ob = old.get(e.id)
            if ob is None or ob.emt.tafs != e.tafs:
                ob = Outbox(self, e)
            boxes[e.id] = ob
        for ob in old.values():
            if boxes.get(ob.emt.id) is not ob:
                ob.drop_mqtt()  # a replaced or removed profile: its broker session too
        for e in emts:
            ob = boxes[e.id]
            if ob.emt.mqtt != e.mqtt or ob.emt.alias != e.alias or gid != self.gateway_id:
                ob.drop_mqtt()  # broker, or client id (gateway_name) changed
            ob.emt = e
        self.gateway_id = gid
        self.gwa = gwa
        self.emts = emts
        self.outboxes = boxes
        self.config_version = version
        self._rules()
        self.ctx.log(1, "wan.config", msg(_T, 0) % (version, len(emts)))

    def _rules(self):
        """The firewall's WAN rules out are the profiles' endpoints, nothing else: the GWA,
        each EMT and its MQTT broker (wan.http.open_session enforces them; net.firewall).
        Replaced with each configuration; the wake-up port's rule in is made once, with
        its socket (setup)."""
        from net import firewall

        fw = firewall.of(self.ctx)
        for p in ("gwa", "emt", "mqtt"):
            fw.revoke(p)
        g = self.gwa
        if g:
            fw.allow("wan", "out", "gwa", g["host"], g["port"])
        for e in self.emts:
            fw.allow("wan", "out", "emt", e.host, e.port)
            m = e.mqtt
            if m:
                fw.allow("wan", "out", "mqtt", m["host"], m["port"])

    def on_taf(self, taf, meter, obis, value):
        """ctx.core.taf.subscribe callback: queue the value for every EMT that wants it."""
        n = 0
        for ob in self.outboxes.values():
            try:
                if ob.add(taf, meter, obis, value):
                    n += 1
            except Exception as e:  # noqa: BLE001 - never break the core's TAF engine
                self.ctx.log(3, "wan.queue", "%s: %s: %s" % (ob.emt.id, type(e).__name__, e))
        return n

    def flush(self):
        """Build the payloads due now. The ECC modules that signing and key agreement
        loaded are dropped after them, like crypto.cms after each payload: ~7 KB on x64
        that would stay loaded between the schedule ticks, when the HAN request stack
        and the ingest need the heap (RAM)."""
        now = self.ctx.now()
        n = 0
        try:
            for ob in self.outboxes.values():
                try:
                    n += ob.flush(now)
                except Exception as e:  # noqa: BLE001 - one EMT's bad cert must not stop others
                    self.ctx.log(3, "wan.build", "%s: %s: %s" % (ob.emt.id, type(e).__name__, e))
        finally:
            for m in _ECC:
                unload(m)
        return n

    def status(self):
        return {"config": self.config_version,
                "emts": {k: {"pending": o.pending(), "delivered": o.delivered,
                             "failures": o.failures} for k, o in self.outboxes.items()}}

    async def poll(self):
        """The GWA poller: a poll (wan.admin.Admin, the module loaded per poll and dropped
        after it: RAM) every poll_s, or at once after a valid wake-up packet, also one that
        came during the poll (the UDP socket is read here every 100 ms: no listener task)."""
        import time

        while True:
            if self.gwa:
                import gc

                await self.ctx.take("wan", TAKE_MS)
                try:
                    gc.collect()  # the poll's objects packed low (docs/memory.md)
                    try:
                        from wan.admin import Admin
                    except ImportError:  # a build without GWA administration
                        self.admin = False
                        return
                    try:
                        await Admin(self).poll()
                    finally:
                        Admin = None
                        unload("wan.admin")
                finally:
                    self.ctx.give("wan")
            t0 = time.ticks_ms()
            ms = self.ctx.real_ms(self.gwa.get("poll_s", 900))
            waited = 0  # summed in steps: one ticks_diff spans half the ticks period only
            while waited < ms:  # (2^29 ms, 6.2 days, on a 32-bit board: a weekly poll)
                if self.wakeup_sock is not None and self.woken():
                    break
                await asyncio.sleep_ms(100)
                t = time.ticks_ms()
                waited += time.ticks_diff(t, t0)
                t0 = t

    def woken(self):
        """Check the wake-up packets received (Wan.poll, between polls) with wan.wakeup
        (loaded at the first packet): True when one was valid."""
        ok = False
        for _ in range(_WAKE_BURST):  # a stream of packets does not hold the event loop
            try:
                pkt, src = self.wakeup_sock.recvfrom(256)
            except OSError:
                return ok
            if self.wakeup is None:
                from wan.wakeup import Wakeup

                self.wakeup = Wakeup(self)
            if self.wakeup.handle(pkt, src):
                ok = True
        return ok

    async def deliver(self):
        """Delivery to all EMTs in one task (WAN sessions run one at a time anyway,
        Identity.lock; a task per EMT held ~450 B x64 each): each outbox sends what is
        queued unless it waits out a backoff after a failure."""
        while True:
            self.wake.clear()
            nxt = 0
            for ob in list(self.outboxes.values()):
                if ob.retry_at <= self.ctx.now_ms():
                    await ob.deliver()
                if ob.retry_at and (not nxt or ob.retry_at < nxt):
                    nxt = ob.retry_at
            if nxt:
                await wait_event(self.wake, max(1, self.ctx.real_ms(
                    (nxt - self.ctx.now_ms()) / 1000)))
            else:  # until a payload is built or the next schedule tick (run)
                await self.wake.wait()

    async def run(self):
        if self.ident is not None:  # contexts made while the heap is unfragmented
            peers = [(e.mqtt or {}).get("peer") or e.peer for e in self.emts]
            if self.admin:
                peers.insert(0, self.gwa.get("name", "gwa"))
            self.ident.prewarm(peers, self.ctx.log)
        dt = None
        while True:
            if dt is None or dt.done():
                dt = asyncio.create_task(self.deliver())
            if self.admin and (self.poller is None or self.poller.done()):
                self.poller = asyncio.create_task(self.poll())
            # payloads on the grid of the smallest schedule
            sched = [e.schedule_s for e in self.emts] or [900]
            flush_s = max(1, min(sched))
            now = self.ctx.now()
            await self.ctx.sleep_until((now // flush_s + 1) * flush_s)
            # builds wait for WAN sessions in progress (a GWA poll's TLS session and
            # wan.admin next to a build was the day's heap peak); they run without an
            # await, so nothing starts during them
            await self.ctx.take("cms", TAKE_MS)
            try:
                self.flush()
            finally:
                self.ctx.give("cms")
            self.wake.set()  # each outbox tries its queue at least once per tick
            up = self.updater
            if up and up is not True:
                up.tick()


def bind_udp(port, random, host="0.0.0.0"):
    """Non-blocking UDP socket on `port`; 0 = a free port from 40000-59999 (MicroPython
    has no getsockname, so the port is chosen here and reported in hal.endpoints).
    Returns (socket, port)."""
    import socket

    for i in range(50):
        p = port or 40000 + int.from_bytes(random(2), "big") % 20000
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(socket.getaddrinfo(host, p)[0][-1])
        except OSError:
            s.close()
            if port:
                raise
            continue
        s.setblocking(False)
        return s, p
    raise OSError(msg(_T, 1))


WAN = None


def setup(ctx):
    global WAN
    cfg = {}
    try:
        cfg = ctx.board.config() or {}
    except (AttributeError, ImportError):
        pass
    if cfg.get("wan_provision"):
        try:
            n = provision(cfg["wan_provision"])
            if n:
                ctx.log(1, msg(_T, 2), msg(_T, 3) % n)
        except OSError as e:
            ctx.log(3, msg(_T, 2), "failed: %s" % e)
    if getattr(ctx, "secmod", None) is None:
        try:
            ctx.secmod = make_secmod(ctx)
        except SecModError as e:
            ctx.log(4, "wan.secmod", msg(_T, 4) % e)
            ctx.secmod = None
            return
    active = load_config()
    wan_cfg = (active or {}).get("wan") or cfg.get("wan")
    if not wan_cfg:
        # nothing to talk to: keep RAM free (the GWA address comes with provisioning)
        ctx.log(1, "wan.idle", msg(_T, 5))
        return
    WAN = ctx.wan = Wan(ctx, ctx.secmod)
    if cfg.get("wan_retry"):  # before configure(): the outboxes copy it when made
        WAN.retry_min_s, WAN.retry_max_s = cfg["wan_retry"]
    try:
        WAN.configure(wan_cfg, (active or {}).get("version"))
    except (ValueError, OSError) as e:  # profiles.ProfileError, a queue not opened
        ctx.log(4, "wan.config", msg(_T, 6) % e)
        if cfg.get("wan") and cfg["wan"] is not wan_cfg:
            # the factory profiles (board config): the GWA stays reachable, it can send
            # a configuration this firmware accepts
            try:
                WAN.configure(cfg["wan"], None)  # None: the GWA's next one is taken
            except (ValueError, OSError) as e:
                ctx.log(4, "wan.config", msg(_T, 6) % e)
    WAN.admin = True  # wan.admin is loaded per poll (Wan.poll)
    if WAN.gwa:
        try:
            WAN.wakeup_sock, port = bind_udp(WAN.gwa.get("wakeup_port", 0), WAN.secmod.random)
            ctx.hal.endpoints["wakeup"] = "127.0.0.1:%d" % port
            from net import firewall

            firewall.of(ctx).allow("wan", "in", "wake-up", "*", port)
        except OSError as e:
            ctx.log(3, "wan.wakeup", msg(_T, 7) % e)
    core = getattr(ctx, "core", None)
    taf = getattr(core, "taf", None)
    if taf is not None and hasattr(taf, "subscribe"):
        taf.subscribe(WAN.on_taf)
    extra = getattr(ctx, "diag_extra", None)
    if extra is None:
        extra = ctx.diag_extra = {}
    extra["wan"] = WAN.status


async def run(ctx):
    if WAN is None:
        while True:
            await asyncio.sleep(3600)
    await WAN.run()
