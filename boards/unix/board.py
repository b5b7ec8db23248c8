"""Board: unix (virtual board on the host, x64 MicroPython unix port).

Hardware is emulated behind the same driver interfaces as on the boards: RS485 is a
pseudo-terminal, the radio a register-level CC1101 model fed over a socket, the flash a
littlefs2 image file, the secure element a software module. `gwtool vboard` writes the
config (GW_VBOARD) that frozen/vboot.py reads; this module turns it into a Hal.
"""
NAME = "unix"
ARCH = "x64"
# The smaller board budget (esp32_gw, 128 KiB) in 64-bit terms: this port's objects,
# pointers and GC blocks are twice the size of the 32-bit boards' (docs/memory.md), so
# the same application state needs about twice the bytes here. `gwtool bench` reports
# the measured minimum (boot and a simulated day) beside this budget.
HEAP_BYTES = 262144
# Collect after every GC_THRESHOLD bytes allocated (gc.threshold), not only when the
# heap is full: survivors then stay packed at the low end and the heap keeps long free
# runs for TLS and CMS buffers. Measured on the simulated day (docs/memory.md): the
# smallest heap that completes it fell from ~2.4x to ~1.2x the live set. 16 KiB became
# affordable once a payload build allocated 1.7 MB instead of 6.4 MB (crypto.ecc comb)
# and the receive paths stopped allocating per byte: at 262,144 app bytes the 1800x day
# completes with as many readings as 32 KiB had (8 KiB: ~10 % fewer; before those cuts
# 16 KiB cost a third of the telegrams).
GC_THRESHOLD = 16384  # 8192 on the 32-bit boards (half-size objects)
DATA_DIR = "/data"
WAN_VARIANT = "E"  # Ethernet (-E): the host's sockets

# Pins: all virtual (hal.unix.gpio.Pin by name; make_hal): RS485_DE, LED_PWR/TLS/LMC/WMT/
# RSSI, OUT1..OUT3, RELAY_SET/RELAY_RESET. No PINS table here: nothing reads it on this
# board (the real boards' make_hal maps PINS to GPIOs), and a dict costs heap.


_BOOTED = False


def config():
    """The vboard configuration (GW_VBOARD): vboot's copy while booting, read from the
    file again after boot (rare: han.service.outputs on first use). The meters' TLS keys
    and the other set-up sections are not kept in RAM once the services are set up."""
    import vboot

    c = vboot.CONFIG
    if c is None or _BOOTED:
        import json
        import os

        p = os.getenv("GW_VBOARD")
        if not p:
            return c or {}
        with open(p) as f:
            c = json.load(f)
    return c


def booted():
    """app: boot is done (services set up, announced): drop the configuration but the
    image path (`gwtool deploy`/`reset` read vboot.CONFIG["romfs"] over the REPL)."""
    global _BOOTED
    import vboot

    c = vboot.CONFIG
    if c:
        vboot.CONFIG = {"romfs": c.get("romfs")}
        _BOOTED = True


def make_hal():
    import sys

    from hal import Hal
    from hal.unix.gpio import Pin
    from hal.unix.rtc import Rtc
    from hal.unix.net import HostNet, HostNic
    from hal.unix.pty_uart import PtyUart, raw_nonblocking

    cfg = config()
    clock = cfg.get("clock") or {}
    hal = Hal(rtc=Rtc(clock.get("start"), clock.get("accelerate", 1), clock.get("wall0"),
                      clock.get("slow")),
              net=HostNet(),
              console=(sys.stdin.buffer, sys.stdout.buffer))
    raw_nonblocking(0)  # the console: the process's stdin/stdout (a pty from gwtool)
    hal.leds = {n: Pin(n) for n in ("PWR", "TLS", "LMC", "WMT", "RSSI")}
    hal.outputs = {n: Pin(n) for n in ("OUT1", "OUT2", "OUT3", "RELAY_SET", "RELAY_RESET")}
    if cfg.get("workdir"):
        hal.trace = open(cfg["workdir"] + "/trace.log", "a")
    if cfg.get("rs485"):
        from drivers.rs485 import Rs485

        hal.rs485 = Rs485(PtyUart(cfg["rs485"]), Pin("RS485_DE"), 921600)
    # WAN link: -M with the modem emulator's pty (gwtool.sim_link), else -E = host network
    hal.wan_variant = cfg.get("wan_variant") or WAN_VARIANT
    if cfg.get("modem"):
        hal.modem_uart = PtyUart(cfg["modem"], 115200)
    hal.eth = HostNic()
    if cfg.get("radio"):  # CC1101 model; the board listens, the air simulator connects
        from hal.unix.cc1101_emu import Cc1101Emu
        from drivers.cc1101 import CC1101

        hal.radio_spi = Cc1101Emu(cfg["radio"], cfg.get("radio_rate") or 12500)
        hal.radio = CC1101(hal.radio_spi.spi, hal.radio_spi.cs, hal.radio_spi.gdo0,
                           hal.radio_spi.gdo2)
    # "han"/"cls" are set by han.service.setup once listening (cfg["han"] is its config)
    hal.endpoints = {"radio": cfg.get("radio"), "han": None}
    # virtual-board marker for wan.link_service (host data path) + its "link" section only
    hal.vboard = {"link": cfg["link"]} if cfg.get("link") else {}
    return hal


def announce(ctx):
    """Tell gwtool vboard we are operational: ready.json in the work directory."""
    import json

    cfg = config()  # (before booted(): the boot copy)
    if not cfg.get("workdir"):
        return
    tmp = cfg["workdir"] + "/ready.json.tmp"
    with open(tmp, "w") as f:
        json.dump({"operational_ms": ctx.operational_ms, "endpoints": ctx.hal.endpoints}, f)
    import os

    os.rename(tmp, cfg["workdir"] + "/ready.json")
