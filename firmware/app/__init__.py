"""The gateway application: wires the layers together, in this one place only.

Boot: board.make_hal() builds the hardware objects; each layer's `service` module gets
`setup(ctx)` (synchronous, in order: core before its producers and consumers) and then
`run(ctx)` as a supervised asyncio task. Layers talk through ctx (ctx.core, ctx.meters,
ctx.log), never by importing each other's services.
"""
import asyncio
import gc
import sys
import time

# Layer services in start order, "name=module" with setup()/run(); one string constant
# (a tuple of pairs cost ~0.5 KB of heap; the import interns the module names anyway)
_SERVICES = const("core=core.service lmn=lmn.service radio=wmbus.service taf=taf.service"
                  " link=wan.link_service wan=wan.service han=han.service")
_EVENTS = const(16)
# boot log events and texts, msg(_T, i) (one string constant: RAM, see texts.py)
_T = const("boot.import|boot.setup|%s.setup failed: %s: %s|operational after %d ms"
           "|gateway stopped|GC_THRESHOLD")

CTX = None  # the running gateway, for diag and the REPL


def event(e):
    """An entry of ctx.events, a (t, level, event, msg) tuple, as the documented dict
    {"t", "level", "event", "msg"} (diag last_errors, the GWA's POST /log)."""
    return {"t": e[0], "level": e[1], "event": e[2], "msg": e[3]}


class Context:
    def __init__(self, board, hal):
        from app.supervisor import Supervisor

        self.board = board
        self.hal = hal
        self.boot_ms = time.ticks_ms()
        self.operational_ms = None
        # last errors/warnings, newest last, as (t, level, event, msg) tuples: a dict
        # each was ~150 B more (x64) in a ring that is full on a busy day; event(e)
        # gives the documented dict form (diag last_errors, the GWA's POST /log)
        self.events = []
        # meter id -> [via, count, last_seen, keys, value per key...]: a short list per
        # meter, the key tuples shared (_kt); `meters` gives the documented dict form
        self._seen = {}
        self._kt = {}
        self.sinks = []  # log sinks added by core (system log) etc.: f(level, event, msg)
        self.heap_peak = 0
        self.sup = Supervisor(self.log)
        self.core = None
        self.job = None  # who holds the heap for a big transient job (take), and how often
        self.jobs = 0

    def log(self, level, event, msg, detail=None):
        """Record an event: ring of recent warnings for diag, trace, and the log sinks."""
        if level >= 2:
            self.events.append((time.time(), level, event, msg))
            if len(self.events) > _EVENTS:
                self.events.pop(0)
        tr = self.hal.trace
        if tr:
            tr.write("%d %d %s %s\n" % (time.time(), level, event, msg))
            if detail:
                tr.write(detail)
            tr.flush()
        for s in self.sinks:
            try:
                s(level, event, msg)
            except Exception:  # noqa: BLE001 - a broken sink must not break logging
                pass

    def hold(self, who):
        """Hold the heap for a big transient job of kind `who` if no job of another kind
        holds it (True): "han" (the HAN request stack, loaded while connections are
        open), "wan" (WAN TLS sessions: GWA polls, EMT deliveries) or "cms" (the payload
        builds of a schedule tick). Two kinds at once were the simulated day's heap peak
        (docs/memory.md). give(who) ends each hold."""
        if self.job not in (None, who):
            return False
        self.job = who
        self.jobs += 1
        return True

    async def take(self, who, wait_ms):
        """hold(who), waiting until it can, at most wait_ms host milliseconds; then it
        holds anyway: a job is delayed, never refused."""
        t0 = time.ticks_ms()
        while not self.hold(who):
            if time.ticks_diff(time.ticks_ms(), t0) >= wait_ms:
                self.job, self.jobs = who, 1
                return
            await asyncio.sleep_ms(10)

    def give(self, who):
        if self.job == who:
            self.jobs -= 1
            if self.jobs <= 0:
                self.job = None

    def meter_seen(self, meter_id, via, **info):
        m = self._seen.get(meter_id)
        if m is None:
            m = self._seen[meter_id] = [via, 0, 0, ()]
        m[1] += 1
        m[2] = int(time.time())  # an int: no float object per reading in the list (unix)
        ks = m[3]
        for k in info:
            if k not in ks:  # new keys (first info, apl_error): extend, share the tuple
                new = tuple(j for j in info if j not in ks)
                ks = ks + new
                m = self._seen[meter_id] = m + [info[j] for j in new]  # exact size
                m[3] = self._kt.setdefault(ks, ks)
                break
        for k in info:
            m[4 + ks.index(k)] = info[k]

    @property
    def meters(self):
        """meter id -> {"via", "count", "last_seen", info...}: built on each call, in the
        key order (and so the JSON order) of the former dict per meter."""
        out = self._seen.copy()  # same table layout, so the same order of the meter ids
        for i, m in out.items():
            d = {"via": m[0], "count": m[1]}
            d["last_seen"] = m[2]
            for k, v in zip(m[3], m[4:]):
                d[k] = v
            out[i] = d
        return out

    def ingest(self, meter, obis, raw, scaler, unit, capture_time, status=None, via="lmn"):
        """A reading from a meter (wired or wireless) for the core.

        meter: meter id (str, e.g. server id hex or wM-Bus "KAM-12345678"); obis:
        "A-B:C.D.E*F"; raw: exact integer; scaler: decimal exponent; unit: IEC 62056-6-2
        unit code; capture_time: gateway time (UTC s) when the value was captured;
        status: meter status word (32 bit) or None. Returns the core's record number.
        """
        self.meter_seen(meter, via)
        if self.core is not None:
            return self.core.ingest(meter, obis, raw, scaler, unit, capture_time, status)
        return None

    def now(self):
        """Gateway time, UTC seconds (int); simulated time on an accelerated vboard."""
        return self.hal.rtc.now()

    def now_ms(self):
        return self.hal.rtc.now_ms()

    async def sleep(self, seconds):
        """Sleep `seconds` of gateway time (shorter in real time on an accelerated vboard)."""
        await self.sleep_until_ms(self.now_ms() + int(seconds * 1000))

    async def sleep_until(self, t):
        """Sleep until gateway time t (UTC seconds)."""
        await self.sleep_until_ms(int(t * 1000))

    def real_ms(self, seconds):
        """Host milliseconds that `seconds` of gateway time take from now (for timeouts)."""
        until = getattr(self.hal.rtc, "real_ms_until", None)
        return until(self.now_ms() + int(seconds * 1000)) if until else int(seconds * 1000)

    async def sleep_until_ms(self, t_ms):
        rtc = self.hal.rtc
        until = getattr(rtc, "real_ms_until", None)
        while True:
            left = t_ms - self.now_ms()
            if left <= 0:
                return
            await asyncio.sleep_ms(max(1, until(t_ms) if until else left))

    def led(self, name, v):
        p = self.hal.leds.get(name)
        if p:
            p.value(v)

    def sample_heap(self):
        used = gc.mem_alloc()
        if used > self.heap_peak:
            self.heap_peak = used

    def uptime_ms(self):
        return time.ticks_diff(time.ticks_ms(), self.boot_ms)


def _load(ctx):
    """Import and set up the services, then start their run() tasks (in the order of a
    dict of the services, as before); the dict is not kept (RAM)."""
    from texts import msg

    services = {}
    for item in _SERVICES.split():
        name, modname = item.split("=")
        try:
            mod = __import__(modname, None, None, ("run",))
        except ImportError as e:
            ctx.log(3, msg(_T, 0), "%s: %s" % (modname, e))
            continue
        services[name] = mod
        setup = getattr(mod, "setup", None)
        if setup:
            try:
                setup(ctx)
            except Exception as e:  # noqa: BLE001 - boot the rest, report this one
                ctx.log(4, msg(_T, 1), msg(_T, 2) % (name, type(e).__name__, e))
        gc.collect()
    for name, mod in services.items():
        run = getattr(mod, "run", None)
        if run:
            ctx.sup.add(name, lambda run=run: run(ctx))


async def _start(ctx):
    from app import leds, repl
    from texts import msg

    _load(ctx)
    ctx.sup.add("leds", lambda: leds.run(ctx))
    if ctx.hal.console:
        r = repl.Repl(ctx.hal.console[0], ctx.hal.console[1])
        ctx.sup.add("repl", r.run)
        r.banner()
    await asyncio.sleep_ms(0)
    ctx.operational_ms = ctx.uptime_ms()
    ctx.log(1, "boot.ok", msg(_T, 3) % ctx.operational_ms)
    announce = getattr(ctx.board, "announce", None)
    if announce:
        announce(ctx)
    booted = getattr(ctx.board, "booted", None)
    if booted:  # the board drops what only boot needed (unix: the vboard configuration)
        booted()
    while True:
        await asyncio.sleep(3600)


def main():
    global CTX
    import board
    from texts import msg

    gc.collect()
    thr = getattr(board, msg(_T, 5), 0)
    if thr:  # keeps the heap compact (boards/unix/board.py)
        gc.threshold(thr)
    CTX = Context(board, board.make_hal())
    try:
        asyncio.run(_start(CTX))
    except KeyboardInterrupt:
        pass
    except Exception as e:  # escaped the scheduler (a MemoryError in it): logged, shown
        try:
            import io

            buf = io.StringIO()
            sys.print_exception(e, buf)
            CTX.log(4, "app.fatal", "%s: %s" % (type(e).__name__, e), detail=buf.getvalue())
        except Exception:  # noqa: BLE001 - the error itself is what the console shows
            pass
        raise
    finally:
        CTX.sup.stop()
        print(msg(_T, 4), file=sys.stderr)
