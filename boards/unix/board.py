"""Board: unix (virtual board on the host, x64 MicroPython unix port).

Hardware is emulated behind the same driver interfaces as on the boards: RS485 is a
pseudo-terminal, the radio a register-level CC1101 model fed over a socket, the flash a
littlefs2 image file, the secure element a software module. `gwtool vboard` writes the
config (GW_VBOARD) that frozen/vboot.py reads; this module turns it into a Hal.
"""
NAME = "unix"
ARCH = "x64"
HEAP_BYTES = 131072  # the smaller of the two board budgets (esp32_gw)
DATA_DIR = "/data"
WAN_VARIANT = "E"  # Ethernet (-E): the host's sockets

PINS = {
    "RS485_DE": "vpin",
    "LED_PWR": "vpin", "LED_TLS": "vpin", "LED_LMC": "vpin", "LED_WMT": "vpin",
    "LED_RSSI": "vpin",
    "OUT1": "vpin", "OUT2": "vpin", "OUT3": "vpin", "RELAY_SET": "vpin", "RELAY_RESET": "vpin",
}


def config():
    import vboot

    return vboot.CONFIG or {}


def make_hal():
    from hal import Hal
    from hal.unix.gpio import Pin
    from hal.unix.rtc import Rtc
    from hal.unix.net import HostNet
    from hal.unix import console

    cfg = config()
    clock = cfg.get("clock") or {}
    hal = Hal(rtc=Rtc(clock.get("start"), clock.get("accelerate", 1)), net=HostNet(),
              console=console.streams())
    hal.leds = {n: Pin(n) for n in ("PWR", "TLS", "LMC", "WMT", "RSSI")}
    hal.outputs = {n: Pin(n) for n in ("OUT1", "OUT2", "OUT3", "RELAY_SET", "RELAY_RESET")}
    if cfg.get("workdir"):
        hal.trace = open(cfg["workdir"] + "/trace.log", "a")
    if cfg.get("rs485"):
        from hal.unix.pty_uart import PtyUart
        from drivers.rs485 import Rs485

        hal.rs485 = Rs485(PtyUart(cfg["rs485"]), Pin("RS485_DE"), 921600)
    hal.endpoints = {"radio": cfg.get("radio"), "han": cfg.get("han")}
    hal.vboard = cfg
    return hal


def announce(ctx):
    """Tell gwtool vboard we are operational: ready.json in the work directory."""
    import json

    cfg = config()
    if not cfg.get("workdir"):
        return
    tmp = cfg["workdir"] + "/ready.json.tmp"
    with open(tmp, "w") as f:
        json.dump({"operational_ms": ctx.operational_ms, "endpoints": ctx.hal.endpoints}, f)
    import os

    os.rename(tmp, cfg["workdir"] + "/ready.json")
