"""Foundation figures: image sizes per board, boot to operational, C CRC-32 baseline."""
import socket
import statistics
import tempfile
import time

from . import mpy
from .build import build
from .paths import BOARD_NAMES
from .vboard import VBoard

_CRC32 = """
import time, binascii
buf = bytearray(%d)
for i in range(len(buf)):
    buf[i] = (i * 7 + 3) & 0xFF
n = %d
t = time.ticks_us()
for _ in range(n):
    binascii.crc32(buf)
dt = time.ticks_diff(time.ticks_us(), t)
print(len(buf) * n / dt)
"""


def crc32_mbps(quick):
    """MicroPython's C binascii.crc32 in MB/s (the reference for the viper CRCs)."""
    return round(float(mpy.run(_CRC32 % (4096, 200 if quick else 2000)).strip()), 2)


def _han_accepts(url, deadline):
    if not url:
        return True
    host, port = url.split("//")[-1].rstrip("/").split(":")
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), 0.2).close()
            return True
        except OSError:
            time.sleep(0.002)
    return False


def boot_ms(runs):
    """Process start -> all tasks started (ready.json) and the HAN port accepting."""
    times = []
    build("unix")
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            vb = VBoard(d, rebuild=False)
            t0 = time.monotonic()
            vb.start()
            ok = _han_accepts(vb.endpoints.get("han"), time.monotonic() + 10)
            times.append((time.monotonic() - t0) * 1000 if ok else None)
            vb.stop()
    good = [t for t in times if t is not None]
    return round(statistics.median(good), 1) if good else None


def run(quick):
    figs = {"crc32_c_mbps": crc32_mbps(quick)}
    for b in BOARD_NAMES:
        figs[f"romfs_bytes_{b}"] = build(b)["romfs_bytes"]
    figs["boot_to_operational_ms"] = boot_ms(3 if quick else 7)
    return figs
