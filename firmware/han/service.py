"""The HAN layer's service: HTTPS portal + JSON API, CLS proxy, switching outputs.

setup(ctx) (at boot, before the board announces itself): reads the HAN configuration,
installs/loads the HAN certificate, opens the listening sockets through the firewall
and publishes ctx.hal.endpoints["han"] = "https://<host>:<port>" and ["cls"]. run(ctx)
serves them. Configuration, merged in this order:
  /data/config/active.json "han" section, then the board's config()["han"] (vboard):
  {"port": 443, "host": "0.0.0.0", "users": {"name": {"role", "password"|"ha1", "cert"}},
   "cls": [pair, ...], "session_idle_s": 600, "conn_idle_s": 60, "max_conns": 4,
   "algorithms": ["SHA-256", "MD5"], "smgw_id": "...", "cert_file"/"key_file": host
   files to install as /data/pki/han.der/han.key when absent, "outputs": schedule,
   "cls_verify": true, "cls_ca_files": [host DER files, instead of /data/pki/ca],
   "cls_idle_s": 300, "cls_life_s": 3600}
Consumers are also taken from ctx.core.tenants (a tenant with a password or ha1 dict).
"""
from store.records import exists

ST = None  # the running layer (han.layer.State; for diag, tests, the REPL)


def _config(ctx, stored=True):
    import json

    cfg = {}
    try:
        if stored:  # False: the board's only (the stored section broke the set-up)
            with open("/data/config/active.json") as f:
                cfg.update(json.load(f).get("han") or {})
    except (OSError, ValueError, AttributeError):
        pass
    bc = getattr(ctx.board, "config", None)
    if bc:
        try:
            cfg.update(bc().get("han") or {})
        except (AttributeError, TypeError):
            pass
    return cfg


def setup_outputs(ctx, cfg, at_boot=False):
    """The switching outputs, restored from /data/outputs.json (independent of the
    portal: they come back after a reboot even without a HAN certificate). at_boot: only
    when there is something to restore or run (a state file, a schedule, an EMT control
    pair); the outputs are off by default, so nothing needs restoring otherwise."""
    if not getattr(ctx.hal, "outputs", None):
        return None
    path = cfg.get("outputs_file") or "/data/outputs.json"
    if at_boot and not (exists(path) or cfg.get("outputs") or any(
            p.get("device") == "outputs" for p in cfg.get("cls") or ())):
        return None
    from drivers.outputs import Outputs

    ctx.outputs = Outputs(ctx.hal.outputs, path, ctx.log, cfg.get("outputs") or ())
    return ctx.outputs


def outputs(ctx):
    """ctx.outputs, created on first use (at boot only when a state file or a schedule
    exists: the outputs are off by default, so nothing needs restoring otherwise)."""
    if getattr(ctx, "outputs", None) is None:
        setup_outputs(ctx, _config(ctx))
    return getattr(ctx, "outputs", None)


def setup(ctx):
    global ST
    out = getattr(ctx, "outputs", None)
    try:
        _setup(ctx, _config(ctx))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        # a stored "han" section this firmware cannot read (an older GWA's, not checked
        # as wan.config does now): the board's HAN configuration, not a missing layer
        ctx.log(4, "han.config", "%s: %s" % (type(e).__name__, e))
        ctx.outputs = out
        ST = None
        _setup(ctx, _config(ctx, False))


def _setup(ctx, cfg):
    global ST
    pki = "/data/pki"
    if getattr(ctx, "outputs", None) is None:
        setup_outputs(ctx, cfg, True)
    if not (exists(pki + "/han.der") or cfg.get("cert_file")):
        ctx.log(3, "han.setup", "HAN portal disabled: no %s/han.der" % pki)
        return
    from han import layer

    try:
        st = layer.build(ctx, cfg, pki)
    except OSError as e:
        ctx.log(3, "han.setup", "HAN portal disabled: %s (no %s/han.der/han.key?)" % (e, pki))
        return
    ST = st
    extra = getattr(ctx, "diag_extra", None)
    if extra is None:
        extra = ctx.diag_extra = {}
    extra["han"] = lambda: layer.status(st)
    layer.listen(ctx, st)


async def run(ctx):
    import asyncio

    st = ST
    if st is None:
        while True:
            out = getattr(ctx, "outputs", None)
            if out is not None and out.schedule:
                out.schedule_tick(ctx.now())
            await ctx.sleep(30)
    from han import layer

    await asyncio.gather(layer.serve(ctx, st), layer.outputs_task(ctx, st))
