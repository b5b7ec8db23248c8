"""The WAN link service: builds ctx.link for the board's variant (-M modem, -E Ethernet).

Listed in app._SERVICES before "wan" so ctx.link exists when the WAN layer sets up.
Settings: the "link" section of /data/config/active.json (APN, PIN, supervision...;
see docs/link.md), overridden on the virtual board by vboard config key "link";
ctx.link.configure() applies new ones at run time (e.g. the GWA profile's APN).
"""
import json


def _config(ctx):
    from wan.link import LinkError, check

    cfg = {}
    try:
        with open("/data/config/active.json") as f:
            cfg.update(check(json.load(f).get("link") or {}))
    except (OSError, ValueError, AttributeError):
        pass
    except LinkError as e:  # a stored section this firmware refuses: the defaults
        ctx.log(4, "link.config", str(e))
    vb = getattr(ctx.hal, "vboard", None)
    if vb and vb.get("link"):
        cfg.update(vb["link"])
    return cfg


def _ppp_factory():
    try:
        import network
    except ImportError:
        return None
    if not hasattr(network, "PPP"):
        return None
    return network.PPP


def make_link(ctx, variant, cfg):
    hal = ctx.hal
    if variant == "M":
        from drivers.modem import Modem
        from wan.link_lte import LteLink

        uart = getattr(hal, "modem_uart", None)
        modem = None
        if uart is not None:
            modem = Modem(uart, getattr(hal, "modem_pwrkey", None),
                          getattr(hal, "modem_reset", None))
        if "data" not in cfg:
            cfg["data"] = "host" if getattr(hal, "vboard", None) is not None else "ppp"
        return LteLink(ctx, modem, cfg, _ppp_factory() if cfg["data"] == "ppp" else None)
    from wan.link_eth import EthLink

    link = EthLink(ctx, getattr(hal, "eth", None), cfg)
    link.try_up_now()
    return link


def setup(ctx):
    variant = getattr(ctx.hal, "wan_variant", None) or getattr(ctx.board, "WAN_VARIANT", "E")
    link = make_link(ctx, variant, _config(ctx))
    ctx.link = link
    if ctx.hal.net is not None:
        link.guard_net(ctx.hal.net)
    extra = getattr(ctx, "diag_extra", None)
    if extra is None:
        extra = ctx.diag_extra = {}
    extra["link"] = link.info


async def run(ctx):
    await ctx.link.run()
