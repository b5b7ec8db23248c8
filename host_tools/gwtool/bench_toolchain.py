"""Benchmark figures of the board toolchain against a virtual board (for `gwtool bench`).

`run(quick)` boots a virtual board, then measures over its REPL pty what every board
command pays: raw-REPL round trip, file transfer rate (the provisioning path), and the
time of `diag.status()` and `app.provision.state()` as seen from the host.
"""
import os
import statistics
import tempfile
import time

from .board_link import BoardLink
from .boards import board_facts
from .build import build
from .paths import romfs_path
from .vboard import VBoard


def _median_ms(f, n):
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        xs.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(xs), 2)


def run(quick=True):
    n = 5 if quick else 30
    size = 4096 if quick else 32768
    if not romfs_path("unix").exists():
        build("unix")
    # the link is measured, not the heap budget: headroom so a tight budget cannot stop it
    heap = board_facts("unix")["HEAP_BYTES"] + romfs_path("unix").stat().st_size + 69632
    with tempfile.TemporaryDirectory(prefix="bench-toolchain-") as wd, \
            VBoard(wd, rebuild=False, heap=heap) as vb:
        t = time.perf_counter()
        link = BoardLink(vb.endpoints["repl"])
        link.enter_raw()
        connect_ms = (time.perf_counter() - t) * 1000
        try:
            data = os.urandom(size)
            t = time.perf_counter()
            link.write_file("/data/bench.bin", data)
            write_s = time.perf_counter() - t
            return {
                "repl_connect_ms": round(connect_ms, 2),
                "repl_roundtrip_ms": _median_ms(lambda: link.exec("pass"), n),
                "diag_status_ms": _median_ms(lambda: link.exec("import diag\n"
                                                               "diag.status()"), n),
                "provision_state_ms": _median_ms(
                    lambda: link.call("app.provision", "state"), n),
                "file_write_bytes_per_s": int(size / write_s),
                "file_write_bytes": size,
            }
        finally:
            link.close()
