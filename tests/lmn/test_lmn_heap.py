"""RAM regression guard for the LMN layer (docs/memory.md): the heap that importing its
modules from a built ROMFS image costs, measured in the unix port (x64: objects are about
twice their size on the 32-bit boards). The qstr pool's own growth is left out: it comes
in doubling steps whose position depends on everything imported before."""
import json
import re

from gwtool import mpy
from gwtool.build import build

PROBE = r"""
import gc, json, micropython, sys, vfs
img = open(sys.argv[1], "rb").read()
vfs.mount(vfs.VfsRom(img), "/rom")
sys.path.insert(0, "/rom")
for m in json.loads(sys.argv[2]):  # the application's boot-time base (asyncio, app)
    __import__(m)
for group in json.loads(sys.argv[3]):
    gc.collect()
    print("Q<"); micropython.qstr_info()
    a = gc.mem_alloc()
    for m in group:
        __import__(m)
    gc.collect()
    b = gc.mem_alloc()
    print("Q>"); micropython.qstr_info()
    print("HEAP", b - a)
"""


def measure(tmp_path, base, groups):
    """[(heap bytes without qstr pool growth, new qstrs)] for each group of modules."""
    build("unix", tmp_path)
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    out = mpy.run(script=probe, args=[tmp_path / "app.romfs", json.dumps(base),
                                      json.dumps(groups)], heapsize="2M")
    q = [tuple(map(int, t)) for t in
         re.findall(r"n_qstr=(\d+), n_str_data_bytes=\d+, n_total_bytes=(\d+)", out)]
    heap = [int(h) for h in re.findall(r"HEAP (\d+)", out)]
    assert len(q) == 2 * len(groups) and len(heap) == len(groups), out
    res = []
    for i, h in enumerate(heap):
        (n0, t0), (n1, t1) = q[2 * i], q[2 * i + 1]
        res.append((h - (t1 - t0), n1 - n0))
    return res


def test_lmn_heap_budget(tmp_path):
    (svc, nq_svc), (poll, nq_poll) = measure(
        tmp_path, ["asyncio", "app", "app.leds"],
        [["lmn.service"],  # at boot, with or without meters
         ["lmn.poll", "lmn.meter"]])  # polling, HDLC + TLS + SML: once a wired meter is configured
    print("lmn service", svc, nq_svc, "meter stack", poll, nq_poll)
    # measured 2026-11: service ~1.0 KB / 34 qstrs (was 1.9 KB / 86 before the polling
    # moved to lmn.poll), meter stack with lmn.poll ~11.0 KB / 217 qstrs (x64; was
    # 13.0 KB without lmn.poll's share of the old service)
    assert svc < 1200 and nq_svc < 40
    assert poll < 11800 and nq_poll < 230
