"""The LMN service: polls the wired meters on the RS485 bus and hands readings to the core.

Configuration (board config on the unix board, else /data/config/active.json "lmn"):
  "lmn_meters": [{"id": "<server id hex>", "address": <HDLC physical address>,
                  "tls": true,              # tls defaults to true
                  "period": 300}],          # optional, this meter's own fast period
  "lmn_tls": {"cert": hex DER, "key": hex (PKCS#8/SEC1 DER or raw 32-byte scalar),
              "ca": hex DER},               # else /data/pki/gateway.{der,key}, ca/*.der
  "lmn_period": 60,                         # fast polling period, gateway seconds
  "lmn_timeout_ms": 300, "lmn_push": "<pty path>" (plain SML push meter, unix board)
Schedule (docs/contracts.md): each meter is polled at every 900 s grid point plus every
`period` (its own, else `lmn_period`); a cycle that overruns skips the missed points. A meter is "lost" after 3 failed polls in
a row (logged once, LMC LED off) and "back" on its next good poll. Each reading goes to
ctx.ingest(meter, obis, raw, scaler, unit, capture_time, status, via="lmn") once; the
capture time is the gateway time when the answer arrived.
"""
import asyncio
import gc

# the protocol modules are imported when a meter is configured (RAM on small boards)

GRID = 900
LOST_AFTER = 3
_RECENT = 32

STATE = None  # the running service's state, for the REPL and tests


class State:
    def __init__(self):
        self.meters = []
        self.bus = None
        self.period = 60
        self.cycles = 0
        self.missed = 0
        self.readings = 0
        self.push_readings = 0
        self.recent = []  # (meter, obis, capture_time, raw), newest last, bounded
        self.totals = {}  # "meter obis" -> [count, sum of raw]: exactly-once checks

    def status(self):
        return {
            "cycles": self.cycles, "missed": self.missed, "readings": self.readings,
            "push_readings": self.push_readings,
            "bus": self.bus.stats if self.bus else None,
            "meters": {m.id: {"polls": m.polls, "failures": m.failures, "lost": m.lost,
                              "readings": m.readings, "handshakes": m.session.handshakes,
                              "renewals": m.session.renewals, "retries":
                              m.link.stats["retries"], "error": m.last_error}
                       for m in self.meters},
        }


def _config(ctx):
    cfg = {}
    try:
        cfg.update(ctx.board.config() or {})
    except Exception:  # noqa: BLE001 - boards without a config()
        pass
    if "lmn_meters" not in cfg:
        try:
            import json

            with open("/data/config/active.json") as f:
                act = json.load(f).get("lmn") or {}
            for k in ("meters", "period", "timeout_ms"):
                if k in act:
                    cfg["lmn_" + k] = act[k]
        except (OSError, ValueError):
            pass
    return cfg


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _tls_context(cfg):
    from lmn import tlslink

    t = cfg.get("lmn_tls")
    if t:
        cert, key, ca = (bytes.fromhex(t[k]) for k in ("cert", "key", "ca"))
    else:
        import os

        cert = _read("/data/pki/gateway.der")
        key = _read("/data/pki/gateway.key")
        ca = _read("/data/pki/ca/" + sorted(os.listdir("/data/pki/ca"))[0])
    return tlslink.client_context(cert, key, ca)


def setup(ctx):
    global STATE
    st = STATE = State()
    ctx.lmn = st
    ctx.diag_extra = getattr(ctx, "diag_extra", None) or {}
    ctx.diag_extra["lmn"] = st.status
    cfg = _config(ctx)
    st.cfg = cfg
    st.period = int(cfg.get("lmn_period", 60)) or 60
    meters = cfg.get("lmn_meters") or []
    port = ctx.hal.rs485
    if not meters or port is None:
        return
    from lmn import link as _link
    from lmn import meter as _meter

    st.bus = _link.Bus(port)
    context = None
    if any(m.get("tls", True) for m in meters):
        try:
            context = _tls_context(cfg)
        except Exception as e:  # noqa: BLE001 - missing credentials: log, plain meters run
            ctx.log(3, "lmn.tls", "no TLS credentials: %s" % e)
    timeout = int(cfg.get("lmn_timeout_ms", 300))
    for m in meters:
        tls_on = m.get("tls", True)
        if tls_on and context is None:
            continue
        mt = _meter.Meter(st.bus, m["id"].lower(), int(m["address"]),
                          context if tls_on else None, ctx.now, timeout_ms=timeout,
                          renew_s=m.get("renew_s", 31 * 86400),
                          renew_bytes=m.get("renew_bytes", 5000000))
        mt.readings = 0
        mt.period = int(m.get("period", st.period)) or st.period
        mt.due = -1
        st.meters.append(mt)
    gc.collect()


def next_poll(now, period):
    a = (now // period + 1) * period
    g = (now // GRID + 1) * GRID
    return a if a < g else g


def _note(st, item):
    st.recent.append(item)
    if len(st.recent) > _RECENT:
        st.recent.pop(0)


def _ingest(ctx, st, mid, vals, capture):
    n = 0
    for v in vals:
        if v["raw"] is None:
            continue  # octet strings (server id, firmware signatures): not a reading
        try:
            ctx.ingest(mid, v["obis"], v["raw"], v["scaler"] or 0, v["unit"], capture,
                       v["status"], via="lmn")
        except Exception as e:  # noqa: BLE001 - the core's problem must not stop polling
            ctx.log(3, "lmn.ingest", "%s %s: %s" % (mid, v["obis"], e))
        _note(st, (mid, v["obis"], capture, v["raw"]))
        k = mid + " " + v["obis"]
        t = st.totals.get(k)
        if t is None:
            t = st.totals[k] = [0, 0]
        t[0] += 1
        t[1] += v["raw"]
        n += 1
    st.readings += n
    return n


def _leds(ctx, st):
    ok = any(m.polls for m in st.meters) and not any(m.lost for m in st.meters)
    ctx.led("LMC", 1 if ok else 0)


async def poll_meter(ctx, st, m):
    from lmn.hdlc import HdlcError
    from lmn.sml import SmlError
    from lmn.tlslink import TlsError

    try:
        vals = await m.poll()
    except (HdlcError, TlsError, SmlError) as e:
        m.failures += 1
        m.last_error = "%s: %s" % (type(e).__name__, e.args[0] if e.args else "")
        ctx.log(2, "lmn.poll", "meter %s: %s" % (m.id, m.last_error))
        if m.failures >= LOST_AFTER and not m.lost:
            m.lost = True
            ctx.log(3, "lmn.lost", "meter lost: %s" % m.id)
        _leds(ctx, st)
        return 0
    if m.lost:
        ctx.log(2, "lmn.back", "meter back: %s" % m.id)
    m.lost = False
    m.failures = 0
    m.last_error = None
    n = _ingest(ctx, st, m.id, vals, ctx.now())
    m.readings += n
    ctx.meter_seen(m.id, "lmn", address=m.address, polls=m.polls)
    _leds(ctx, st)
    return n


async def push_reader(ctx, st, stream):
    """A plain SML push meter (optical head / UART): frames in, readings out."""
    from lmn import sml

    tr = sml.Transport()
    while True:
        d = stream.read(256)
        if not d:
            await asyncio.sleep_ms(50)
            continue
        for payload, kind, _ in tr.feed(d):
            if kind is None:
                ctx.log(2, "lmn.push", "frame CRC")
                continue
            try:
                msgs = sml.messages(payload, kind.startswith("kermit"))
            except sml.SmlError as e:
                ctx.log(2, "lmn.push", "%s at %d" % (e.reason, e.offset))
                continue
            vals = sml.readings(msgs)
            if vals and isinstance(vals[0]["server_id"], bytes):
                mid = vals[0]["server_id"].hex()
                st.push_readings += _ingest(ctx, st, mid, vals, ctx.now())


async def run(ctx):
    st = STATE
    push = st.cfg.get("lmn_push") if st else None
    if push:
        from hal.unix.pty_uart import PtyUart

        asyncio.create_task(push_reader(ctx, st, PtyUart(push)))
    elif st and getattr(ctx.hal, "sml_uart", None):
        asyncio.create_task(push_reader(ctx, st, ctx.hal.sml_uart))
    if not st or not st.meters:
        while True:
            await asyncio.sleep(3600)
    await schedule(ctx, st)


async def schedule(ctx, st, cycles=-1):
    """Poll each meter at its grid points (900 s and its own period), in bus order."""
    last = -1
    while cycles:
        cycles -= 1
        base = max(ctx.now(), last)
        for m in st.meters:
            if m.due <= last:
                m.due = next_poll(base, m.period)
        t = min(m.due for m in st.meters)
        await ctx.sleep_until(t)
        for m in st.meters:
            if m.due == t:
                await poll_meter(ctx, st, m)
        st.cycles += 1
        last = t
        if ctx.now() >= t + st.period:
            st.missed += 1
