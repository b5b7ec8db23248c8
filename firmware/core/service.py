"""The core layer's service: opens the record store on /data, sets ctx.core.

setup(ctx): Core over /data/store with the configuration /data/config/active.json
(tenants, taf_profiles, core; "core": {"sign_oml": true} signs OML values with
ctx.secmod, looked up at each capture), a system-log sink in ctx.sinks (every ctx.log lands in
the system log; errors also in the event log), diag field "core". run(ctx): the TAF
tick once a minute of gateway time and the file-system space check every hour.
"""
import asyncio

CORE = None


def setup(ctx):
    global CORE
    from core.core import Core, load_config

    base = getattr(ctx.board, "DATA_DIR", "/data")
    cfg = load_config(base + "/config/active.json")
    bcfg = getattr(ctx.board, "config", None)  # unix board: the vboard's "core" section
    if bcfg is not None and (bcfg() or {}).get("core"):
        cfg["core"] = dict(cfg.get("core") or {}, **bcfg()["core"])
    CORE = Core(base + "/store", ctx.now, ctx.hal.rtc, cfg, ctx_log=ctx.log,
                secmod=lambda: getattr(ctx, "secmod", None))
    ctx.core = CORE
    ctx.sinks.append(CORE.sink)
    extra = getattr(ctx, "diag_extra", None)
    if extra is None:
        extra = ctx.diag_extra = {}
    extra["core"] = CORE.status
    CORE.logs["system"].append(1, "core.start", "core started, %d channels" %
                               len(CORE.oml.chans))


def export(path):
    """Write the core's lists as JSON lines under path (gwtool sim headless finish)."""
    from core.export import export as ex

    return ex(CORE, path)


async def run(ctx):
    core = ctx.core
    n = 0
    while True:
        await ctx.sleep(60)
        if core is None:
            continue
        try:
            core.taf.tick(ctx.now())
            n += 1
            if n % 60 == 1:
                core.store.check_space()
        except Exception as e:  # noqa: BLE001 - keep ticking; the supervisor would too
            ctx.log(3, "core.tick", "%s: %s" % (type(e).__name__, e))
