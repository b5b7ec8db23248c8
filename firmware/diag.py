"""Serial-console diagnostics: `import diag; diag.status()` prints one JSON object.

JSON so that a person can read it and `gwtool status` can parse it. Fields: version,
board, uptime_s, heap (free/used/peak), tasks (state, restarts, last error), meters seen,
last errors, plus whatever the layers add through `ctx.diag_extra` (dict of callables).
"""
import gc
import json

from app import event


def status_dict():
    import app

    ctx = app.CTX
    gc.collect()
    try:
        import _build

        ver = {"version": _build.VERSION, "board": _build.BOARD, "git": _build.GIT}
    except ImportError:
        ver = {"version": None, "board": None, "git": None}
    d = dict(ver)
    d["heap"] = {"free": gc.mem_free(), "used": gc.mem_alloc()}
    if ctx is None:
        d["state"] = "not running"
        return d
    ctx.sample_heap()
    d["state"] = "operational" if ctx.operational_ms is not None else "booting"
    d["uptime_s"] = ctx.uptime_ms() // 1000
    d["boot_to_operational_ms"] = ctx.operational_ms
    d["heap"]["peak"] = ctx.heap_peak
    d["tasks"] = ctx.sup.states()
    d["meters"] = ctx.meters
    d["last_errors"] = [event(e) for e in ctx.events[-8:]]
    for k, f in getattr(ctx, "diag_extra", {}).items():
        try:
            d[k] = f()
        except Exception as e:  # noqa: BLE001 - diag must always answer
            d[k] = {"error": "%s: %s" % (type(e).__name__, e)}
    return d


def status():
    """Print status_dict() as JSON, streamed: no single multi-KiB string is built, so it
    still answers on a long-running, fragmented heap."""
    import sys

    json.dump(status_dict(), sys.stdout)
    print()
