"""Status LEDs and the watchdog: PWR steady on, others driven by the layers via ctx.led().

Meanings (documented for the installer in boards/README.md):
PWR on = operational; TLS on = a WAN TLS session is up; LMC blinks = wired LMN traffic;
wMT pulses = good wireless telegram; RSSI = WAN signal (off/blink slow/on).
"""
import asyncio

_TICK_MS = const(250)


async def run(ctx):
    pwr = ctx.hal.leds.get("PWR")
    if pwr:
        pwr.value(1)
    while True:
        if ctx.hal.watchdog:
            ctx.hal.watchdog.feed()
        ctx.sample_heap()
        await asyncio.sleep_ms(_TICK_MS)
