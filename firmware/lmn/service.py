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

This module is what every boot loads (a gateway may have no wired meter): the state and
the set-up. The polling itself (schedule, poll_meter, push_reader, next_poll) lives in
lmn.poll, imported when a meter or push reader is configured; `service.poll_meter` etc.
still work (module __getattr__).
"""
import gc

STATE = None  # the running service's state, for the REPL and tests


class State:
    def __init__(self):
        self.meters = []
        self.bus = None
        self.push = None  # "lmn_push" pty path (unix board)
        self.period = 60
        self.cycles = 0
        self.missed = 0
        self.readings = 0
        self.push_readings = 0
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


def _config(ctx, stored=True):
    """The board's config; without its "lmn_meters", the stored section's (stored=False:
    the board's only, after the stored one broke the set-up)."""
    cfg = {}
    try:
        cfg.update(ctx.board.config() or {})
    except Exception:  # noqa: BLE001 - boards without a config()
        pass
    if stored and "lmn_meters" not in cfg:
        try:
            import json

            with open("/data/config/active.json") as f:
                act = json.load(f).get("lmn") or {}
            for k in ("meters", "period", "timeout_ms"):
                if k in act:
                    cfg["lmn_" + k] = act[k]
        except (OSError, ValueError, AttributeError, TypeError):
            pass
    return cfg


def setup(ctx):
    global STATE
    st = STATE = State()
    ctx.lmn = st
    ctx.diag_extra = getattr(ctx, "diag_extra", None) or {}
    ctx.diag_extra["lmn"] = st.status
    try:
        _setup(ctx, st, _config(ctx))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        # a stored "lmn" section this firmware cannot read (an older GWA's, not checked
        # as wan.config does now): the board's meters only, not a missing layer
        ctx.log(4, "lmn.config", "%s: %s" % (type(e).__name__, e))
        st.meters = []
        st.bus = None
        _setup(ctx, st, _config(ctx, False))
    gc.collect()


def _setup(ctx, st, cfg):
    st.push = cfg.get("lmn_push")
    st.period = int(cfg.get("lmn_period", 60)) or 60
    meters = cfg.get("lmn_meters") or []
    if meters and ctx.hal.rs485 is not None:
        from lmn import poll

        poll.setup(ctx, st, cfg, meters)


async def run(ctx):
    st = STATE
    if st and (st.meters or st.push or getattr(ctx.hal, "sml_uart", None)):
        from lmn import poll

        await poll.run(ctx, st)
    import asyncio

    while True:
        await asyncio.sleep(3600)


def __getattr__(name):  # schedule, poll_meter, push_reader, next_poll
    from lmn import poll

    return getattr(poll, name)
