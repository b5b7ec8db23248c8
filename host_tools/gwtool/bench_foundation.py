"""Foundation figures: CRCs (viper vs C vs plain Python), SML file, image sizes, boot.

run(quick) -> {
  crc32_c_mbps: MicroPython's C binascii.crc32 on a 4 KiB buffer (the reference),
  crc16_x25_viper_mbps, crc16_en13757_viper_mbps: the viper table CRCs (lmn.crc.x25,
      wmbus.crc.crc) on the same buffer in the same process; *_python_mbps: their
      plain-Python references (lmn.crc.update_ref, wmbus.crc.crc_ref);
  crc16_x25_over_crc32 (target >= 0.9), crc16_x25_viper_over_python,
      crc16_en13757_viper_over_python: ratios of figures from that one process;
  sml_file_us: one real 3-message SML file (EMH ED300L: open, get-list, close; 316
      bytes; shared vectors sml_telegrams.jsonl line 1): transport + parse + readings;
  peer_crcmod_x25_mbps: crcmod's C extension (CPython) on the same buffer;
  peer_smllib_sml_file_us: smllib (CPython) SmlStreamReader + get_obis on the same file;
  romfs_bytes_<board> for every board; update_image_bytes_<board>: the signed update
      image (gwtool.update_image: 160-byte header + ROMFS), target esp32_gw <= 256 KiB;
  boot_to_operational_ms: virtual board process start -> ready.json (all tasks started)
      and the HAN port accepting a TCP connection; median of 3 (quick) / 7 runs. }
Timings are the best of several repetitions: the host is shared, the minimum is the cost.
"""
import json
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from . import mpy
from .build import build
from .paths import BOARD_NAMES, VECTORS
from .vboard import VBoard

_CRC = r"""
import time, binascii, json, sys
from lmn import crc as lcrc, sml
from wmbus import crc as wcrc
N = %(n)d
buf = bytearray(4096)
for i in range(len(buf)):
    buf[i] = (i * 7 + 3) & 0xFF

def mbps(f, reps):
    f()
    best = None
    for _ in range(5):
        t = time.ticks_us()
        for _ in range(reps):
            f()
        d = time.ticks_diff(time.ticks_us(), t)
        best = d if best is None or d < best else best
    return len(buf) * reps / best

r = {}
r["crc32_c_mbps"] = mbps(lambda: binascii.crc32(buf), N)
r["crc16_x25_viper_mbps"] = mbps(lambda: lcrc.x25(buf), N)
r["crc16_en13757_viper_mbps"] = mbps(lambda: wcrc.crc(buf), N)
r["crc16_x25_python_mbps"] = mbps(lambda: lcrc.update_ref(0xFFFF, buf), max(1, N // 50))
r["crc16_en13757_python_mbps"] = mbps(lambda: wcrc.crc_ref(buf), max(1, N // 50))
f = bytes.fromhex(sys.stdin.read().strip())
k = N // 4
best = None
for _ in range(5):
    t = time.ticks_us()
    for _ in range(k):
        kind, msgs = sml.decode(f)
        sml.readings(msgs)
    d = time.ticks_diff(time.ticks_us(), t) / k
    best = d if best is None or d < best else best
r["sml_file_us"] = best
r["sml_file_messages"] = len(msgs)
print(json.dumps(r))
"""


def sml_file_hex():
    return json.loads((VECTORS / "sml_telegrams.jsonl").read_text().splitlines()[0])["hex"]


def crc_figures(quick):
    out = mpy.run(_CRC % {"n": 100 if quick else 1000}, input=sml_file_hex(), heapsize="1M",
                  timeout=120 if quick else 600)
    r = json.loads(out.strip().splitlines()[-1])
    r = {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}
    r["crc16_x25_over_crc32"] = round(r["crc16_x25_viper_mbps"] / r["crc32_c_mbps"], 2)
    r["crc16_x25_viper_over_python"] = round(
        r["crc16_x25_viper_mbps"] / r["crc16_x25_python_mbps"], 1)
    r["crc16_en13757_viper_over_python"] = round(
        r["crc16_en13757_viper_mbps"] / r["crc16_en13757_python_mbps"], 1)
    return r


def _best(f, reps, runs=5):
    f()
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(reps):
            f()
        d = (time.perf_counter() - t) / reps
        best = d if best is None or d < best else best
    return best


def peer_figures(quick):
    """CPython peers on the same inputs, where installed."""
    r = {}
    try:
        import crcmod
        import crcmod.predefined

        buf = bytes((i * 7 + 3) & 0xFF for i in range(4096))
        x25 = crcmod.predefined.mkCrcFun("x-25")
        r["peer_crcmod_x25_mbps"] = round(len(buf) / _best(lambda: x25(buf), 200) / 1e6, 2)
        r["peer_crcmod_c_extension"] = bool(
            getattr(sys.modules.get("crcmod.crcmod"), "_usingExtension", False))
    except ImportError:
        pass
    try:
        from smllib import SmlStreamReader

        b = bytes.fromhex(sml_file_hex())

        def parse():
            rd = SmlStreamReader()
            rd.add(b)
            rd.get_frame().get_obis()

        r["peer_smllib_sml_file_us"] = round(_best(parse, 20 if quick else 200) * 1e6, 1)
    except ImportError:
        pass
    return r


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


def boot_ms(runs, heap=None):
    """Process start -> all tasks started (ready.json) and the HAN port accepting."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            vb = VBoard(d, rebuild=False, heap=heap)
            t0 = time.monotonic()
            vb.start()
            ok = _han_accepts(vb.endpoints.get("han"), time.monotonic() + 10)
            times.append((time.monotonic() - t0) * 1000 if ok else None)
            vb.stop()
    good = [t for t in times if t is not None]
    return round(statistics.median(good), 1) if good else None


def image_figures():
    """ROMFS per board (built in parallel) and the signed update image size."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from .paths import romfs_path
    from .update_image import make

    with ThreadPoolExecutor(2) as ex:
        sizes = dict(zip(BOARD_NAMES, ex.map(lambda b: build(b)["romfs_bytes"], BOARD_NAMES)))
    key = ec.generate_private_key(ec.SECP256R1())
    r = {}
    for b in BOARD_NAMES:
        r[f"romfs_bytes_{b}"] = sizes[b]
        r[f"update_image_bytes_{b}"] = len(make(romfs_path(b).read_bytes(), "0.1.0", key, b))
    return r


def run(quick):
    figs = crc_figures(quick)
    figs.update(peer_figures(quick))
    figs.update(image_figures())
    runs = 3 if quick else 7
    try:  # at the board's budget heap (HEAP_BYTES + image + 4096), as the vboard does
        figs["boot_to_operational_ms"] = boot_ms(runs)
        figs["boot_fits_heap_budget"] = True
    except RuntimeError:  # MemoryError at boot: measure with room, say so
        figs["boot_fits_heap_budget"] = False
        figs["boot_to_operational_ms"] = boot_ms(runs, heap=2 * 1024 * 1024)
    return figs


if __name__ == "__main__":
    print(json.dumps(run("--full" not in sys.argv), indent=1))
