"""Status LEDs and the watchdog.

Meanings (for the installer; docs/han.md):
  PWR   on = operational; blinks fast (4 Hz) while booting or after a task crash
        in the last minute.
  TLS   on = a WAN TLS session is up (the WAN layer sets it); off otherwise.
  LMC   on = wired LMN meters answer; flickers (80 ms pulse) on each LMN frame;
        blinks slowly (1 Hz) when a configured wired meter stopped answering.
  wMT   80 ms pulse for every good wireless telegram.
  RSSI  WAN signal from ctx.link.rssi_dbm: off = no link / unknown, slow blink (1 Hz) =
        weak (< -95 dBm), fast blink (4 Hz) = fair (-95..-86 dBm), on = good (>= -85 dBm).
        With a wired WAN (no ctx.link) RSSI is on while the link is usable.
Layers drive them with `ctx.led(name, v)` (steady) or `pulse(ctx, name)` / `set_mode(ctx,
name, mode)` here; this task renders the blink patterns on a 125 ms tick.
"""
import asyncio
import time

_TICK_MS = const(125)
MODES = ("off", "on", "slow", "fast")
_modes = {}
_pulses = {}


def set_mode(ctx, name, mode):
    if mode not in MODES:
        raise ValueError(mode)
    _modes[name] = mode


def pulse(ctx, name, ms=80):
    _pulses[name] = time.ticks_add(time.ticks_ms(), ms)
    ctx.led(name, 1)


def rssi_mode(link):
    if link is None:
        return "on"
    if getattr(link, "state", "up") != "up":
        return "off"
    r = getattr(link, "rssi_dbm", None)
    if r is None:
        return "on"
    if r >= -85:
        return "on"
    if r >= -95:
        return "fast"
    return "slow"


def level(mode, tick):
    """LED level for a mode at tick n (125 ms ticks)."""
    if mode == "on":
        return 1
    if mode == "slow":
        return 1 if tick % 8 < 4 else 0
    if mode == "fast":
        return 1 if tick % 2 == 0 else 0
    return 0


def _pwr_mode(ctx):
    if ctx.operational_ms is None:
        return "fast"
    now = time.time()
    for e in ctx.events:  # (t, level, event, msg)
        if e[2] == "task.crash" and now - e[0] < 60:
            return "fast"
    return "on"


async def run(ctx):
    tick = 0
    while True:
        if ctx.hal.watchdog:
            ctx.hal.watchdog.feed()
        if tick % 2 == 0:
            ctx.sample_heap()
        _modes["PWR"] = _pwr_mode(ctx)
        _modes["RSSI"] = rssi_mode(getattr(ctx, "link", None))
        now = time.ticks_ms()
        for name, until in list(_pulses.items()):
            if time.ticks_diff(now, until) >= 0:
                del _pulses[name]
                if name not in _modes:
                    ctx.led(name, 0)
        for name, mode in _modes.items():
            if name not in _pulses:
                ctx.led(name, level(mode, tick))
        tick += 1
        await asyncio.sleep_ms(_TICK_MS)
