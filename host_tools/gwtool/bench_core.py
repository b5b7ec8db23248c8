"""Core benchmarks for `gwtool bench`, measured inside the MicroPython unix port on a
littlefs2 image (the unix board's /data: a file block device, every write straight to
the file as on NOR flash).

run(quick) -> dict of named figures:
- store_append_per_s: raw record-store appends per second (40-byte payloads, each durable
  before append returns: littlefs file append + close).
- ingest_values_per_s: ctx.core.ingest() per second with TAF7 fed (OML record + TAF engine).
- store_bytes_per_value: flash blocks used by the OML lists / values stored (littlefs
  overhead included), after N values over 6 channels.
- oml_record_bytes: record size on flash without file-system overhead.
- oml_query_ms: one paged OML query (100 rows) from a channel of N values.
"""
import json
import tempfile
from pathlib import Path

from . import mpy
from .paths import ROOT

CODE = r"""
import time, os, vfs, json, gc
from hal.unix.blockdev import FileBlockDev
QUICK = %(quick)d
IMG = %(img)r
bdev = FileBlockDev(IMG, 4096, 1024)
vfs.VfsLfs2.mkfs(bdev)
vfs.mount(vfs.VfsLfs2(bdev), "/b")
from store.records import RecordStore, encode
from core.core import Core
from core import oml
out = {}
n = 300 if QUICK else 2000
s = RecordStore("/b/raw")
l = s.open_list("x", 100000)
p = b"x" * 40
t = time.ticks_us()
for i in range(n):
    l.append(p)
out["store_append_per_s"] = round(n / (time.ticks_diff(time.ticks_us(), t) / 1e6))
clk = [1767225600]
c = Core("/b/core", lambda: clk[0], config={"core": {"tafs": ["TAF7"]}})
st0 = os.statvfs("/b")
t = time.ticks_us()
for i in range(n):
    clk[0] += 10
    c.ingest("m%%d" %% (i %% 6), "1-0:1.8.0*255", 1000000 + i, -1, 30, clk[0])
out["ingest_values_per_s"] = round(n / (time.ticks_diff(time.ticks_us(), t) / 1e6))
st1 = os.statvfs("/b")
out["store_bytes_per_value"] = round((st0[3] - st1[3]) * st0[0] / n, 1)
out["oml_record_bytes"] = len(encode(1, oml.pack(1, 1, 1, 0, 30, 0)))
t = time.ticks_us()
q = c.oml.query("m0", "1-0:1.8.0*255", 1767225600 + n * 5, 1 << 40, 0, 100)
out["oml_query_ms"] = round(time.ticks_diff(time.ticks_us(), t) / 1000, 1)
out["store_values"] = n
print(json.dumps(out))
"""


def run(quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as d:
        img = str(Path(d) / "bench.lfs2")
        out = mpy.run(CODE % {"quick": int(quick), "img": img}, heapsize="512K",
                      timeout=600, cwd=str(ROOT))
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(run(False), indent=1))
