"""Polling of the wired meters (the part of lmn.service that runs only when a meter or a
push reader is configured; see lmn.service for the configuration and the schedule)."""
import asyncio
import gc

from micropython import const
from texts import msg, unload

_GRID = const(900)
_LOST_AFTER = const(3)
# log texts and paths, msg(_T, i) (one string constant: RAM, see texts.py)
_T = const("no TLS credentials: %s|meter %s: %s|meter lost: %s|meter back: %s|lmn.ingest"
           "|/data/pki/gateway.der|/data/pki/gateway.key|/data/pki/ca")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def setup(ctx, st, cfg, meters):
    from lmn import link as _link
    from lmn import meter as _meter

    st.bus = _link.Bus(ctx.hal.rs485)
    context = None
    if any(m.get("tls", True) for m in meters):
        try:
            from lmn import tlslink

            t = cfg.get("lmn_tls")
            if t:
                cert, key, ca = (bytes.fromhex(t[k]) for k in ("cert", "key", "ca"))
            else:
                import os

                cert = _read(msg(_T, 5))
                key = _read(msg(_T, 6))
                ca = msg(_T, 7)
                ca = _read(ca + "/" + sorted(os.listdir(ca))[0])
            context = tlslink.client_context(cert, key, ca)
            cert = key = ca = None
        except Exception as e:  # noqa: BLE001 - missing credentials: log, plain meters run
            ctx.log(3, "lmn.tls", msg(_T, 0) % e)
        gc.collect()
    timeout = int(cfg.get("lmn_timeout_ms", 300))
    now = ctx.now  # one bound method for every session (each `ctx.now` makes a new one)
    for m in meters:
        tls_on = m.get("tls", True)
        if tls_on and context is None:
            continue
        mid = m["id"].lower()
        hasattr(_meter, mid)  # interned (a qstr): the one object for every holder
        mid = "%s" % mid
        mt = _meter.Meter(st.bus, mid, int(m["address"]),
                          context if tls_on else None, now, timeout_ms=timeout,
                          renew_s=m.get("renew_s", 31 * 86400),
                          renew_bytes=m.get("renew_bytes", 5000000))
        mt.readings = 0
        mt.period = int(m.get("period", st.period)) or st.period
        mt.due = -1
        st.meters.append(mt)
    # the SML encoder (lmn.smlx) made the meters' request frames: unload it
    unload("lmn.smlx")


def next_poll(now, period):
    a = (now // period + 1) * period
    g = (now // _GRID + 1) * _GRID
    return a if a < g else g


def _ingest(ctx, st, mid, vals, capture):
    n = 0
    for v in vals:
        raw = v["raw"]
        if raw is None:
            continue  # octet strings (server id, firmware signatures): not a reading
        ob = v["obis"]
        try:
            ctx.ingest(mid, ob, raw, v["scaler"] or 0, v["unit"], capture, v["status"],
                       via="lmn")
        except Exception as e:  # noqa: BLE001 - the core's problem must not stop polling
            ctx.log(3, msg(_T, 4), "%s %s: %s" % (mid, ob, e))
        k = mid + " " + ob
        t = st.totals.get(k)
        if t is None:  # the key interned: the next readings' keys are that qstr (no str)
            hasattr(st, k)
            t = st.totals["%s" % k] = [0, 0]
        t[0] += 1
        t[1] += raw
        n += 1
    st.readings += n
    return n


async def poll_meter(ctx, st, m):
    from lmn.hdlc import HdlcError
    from lmn.sml import SmlError
    from lmn.tlslink import TlsError

    n = 0
    try:
        vals = await m.poll()
    except (HdlcError, TlsError, SmlError) as e:
        m.failures += 1
        m.last_error = "%s: %s" % (type(e).__name__, e.args[0] if e.args else "")
        ctx.log(2, "lmn.poll", msg(_T, 1) % (m.id, m.last_error))
        if m.failures >= _LOST_AFTER and not m.lost:
            m.lost = True
            ctx.log(3, "lmn.lost", msg(_T, 2) % m.id)
        vals = None
    if vals is not None:
        if m.lost:
            ctx.log(2, "lmn.back", msg(_T, 3) % m.id)
            m.lost = False
        if m.failures:  # (assigned only when they change: see lmn.meter.Meter)
            m.failures = 0
        if m.last_error is not None:
            m.last_error = None
        n = _ingest(ctx, st, m.id, vals, ctx.now())
        m.readings += n
        ctx.meter_seen(m.id, "lmn", address=m.address, polls=m.polls)
    ms = st.meters  # the LMC LED: polled and none lost
    ctx.led("LMC", 1 if any(x.polls for x in ms) and not any(x.lost for x in ms) else 0)
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


async def run(ctx, st):
    if st.push:
        from hal.unix.pty_uart import PtyUart

        asyncio.create_task(push_reader(ctx, st, PtyUart(st.push)))
    elif getattr(ctx.hal, "sml_uart", None):
        asyncio.create_task(push_reader(ctx, st, ctx.hal.sml_uart))
    if st.meters:
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
