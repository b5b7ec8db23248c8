"""WAN figures, measured inside MicroPython: ECDSA sign/verify (P-256, brainpoolP256r1;
time and bytes allocated per k*G, sign, verify, ECDH),
CMS build time for a TAF7 day file (96 values x 4 channels, COSEM XML + sign + encrypt),
TLS 1.2 mutual-auth handshake time and GC heap peak during the handshake (sampled by a
concurrent task), with the application image mounted from ROMFS and the board's heap
budget (as on the vboard); GC heap the WAN layer holds with a GWA and one EMT configured,
and after a GWA session and a TAF7 day delivered (x64 port: objects are about twice
the size of the 32-bit boards')."""
import json
import tempfile
from pathlib import Path

from . import mpy
from .boards import board_facts
from .build import build
from .emt_server import EmtServer
from .gwa_server import GwaServer
from .paths import romfs_path
from .pki import make_pki
from .sim_wan import provision_dir

_ECDSA = """
import time, hashlib, json, micropython
from crypto import ecc, ecdsa
out = {}
for name, c in (("p256", ecc.P256), ("bp256", ecc.BP256R1)):
    d = 0x1234567890ABCDEF1234567890ABCDEF % c.n
    pub = c.public(d)
    h = hashlib.sha256(b"bench").digest()
    n = @N@
    t = time.ticks_us()
    for i in range(n):
        sig = ecdsa.sign(c, d + i, h)
    out[name + "_sign_ms"] = time.ticks_diff(time.ticks_us(), t) / n / 1000
    sig = ecdsa.sign(c, d, h)
    t = time.ticks_us()
    for i in range(n):
        assert ecdsa.verify(c, pub, h, *sig)
    out[name + "_verify_ms"] = time.ticks_diff(time.ticks_us(), t) / n / 1000
    t = time.ticks_us()
    ecc.ecdh(c, d, pub)
    out[name + "_ecdh_ms"] = time.ticks_diff(time.ticks_us(), t) / 1000
    # bytes allocated on the heap per operation (garbage: what drives the GC)
    for op, f in (("kg", lambda: c.mul(d)), ("sign", lambda: ecdsa.sign(c, d, h)),
                  ("verify", lambda: ecdsa.verify(c, pub, h, *sig)),
                  ("ecdh", lambda: ecc.ecdh(c, d, pub))):
        a = micropython.mem_total()
        f()
        out[name + "_" + op + "_alloc_bytes"] = micropython.mem_total() - a
print(json.dumps(out))
"""

_CMS = """
import time, json, gc
from crypto import cms
from crypto.secmod import SoftSecMod
from wan import cosem
D = "@D@"
sm = SoftSecMod(key_path=D + "/pki/gateway.key")
gw = open(D + "/pki/gateway.der", "rb").read()
rc = cms.Cert(open(D + "/pki/peers/emt1.der", "rb").read())
t0 = 1767225600
chans = [("0a01454d480000b8ef4%d" % k, "1-0:1.8.0*255",
          [{"capture_time": t0 + 900 * i, "raw": 100000 + i, "scaler": -1, "unit": 30,
            "status": 0} for i in range(96)]) for k in range(4)]
gc.collect()
a0 = gc.mem_alloc()
t = time.ticks_us()
xml = cosem.profile_xml("GW", "TAF7", t0 + 86400, chans)
tx = time.ticks_diff(time.ticks_us(), t)
blob = cms.build(xml, gw, sm, rc, t0 + 86400)
tt = time.ticks_diff(time.ticks_us(), t)
print(json.dumps({"cms_taf7_day_ms": tt / 1000, "cosem_xml_ms": tx / 1000,
                  "cms_taf7_day_xml_bytes": len(xml), "cms_taf7_day_bytes": len(blob)}))
"""

_TLS = """
import vfs, sys, gc, time, json
img = open("@ROMFS@", "rb").read()
vfs.mount(vfs.VfsRom(img), "/rom")
sys.path.insert(0, "/rom")
import asyncio
from crypto.secmod import SoftSecMod
from wan.tlsconn import Identity, open_session
D = "@D@"
class Ctx:
    link = None
    def now(self): return time.time()
    def led(self, n, v): pass
ctx = Ctx()
ident = Identity(SoftSecMod(key_path=D + "/pki/gateway.key"), D + "/pki")
peak = [0]
async def sample(stop):
    while not stop[0]:
        gc.collect()  # live memory only (mem_alloc counts garbage until collected)
        a = gc.mem_alloc()
        if a > peak[0]:
            peak[0] = a
        await asyncio.sleep_ms(0)
async def main():
    ident.context("emt1")
    gc.collect()
    base = gc.mem_alloc()
    peak[0] = base
    stop = [False]
    st = asyncio.create_task(sample(stop))
    t = time.ticks_us()
    s = await open_session(ctx, ident, "emt1", "127.0.0.1", @PORT@)
    s.writer.write(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
    await s.writer.drain()
    await s.reader.readline()
    dt = time.ticks_diff(time.ticks_us(), t)
    stop[0] = True
    await st
    await s.close()
    print(json.dumps({"tls_handshake_ms": dt / 1000, "tls_heap_peak_bytes": peak[0] - base,
                      "heap_free_before_bytes": gc.mem_free() + gc.mem_alloc() - base}))
asyncio.run(main())
"""


_RAM = """
import vfs, sys, gc, time, json
img = open("@ROMFS@", "rb").read()
vfs.mount(vfs.VfsRom(img), "/rom")
sys.path.insert(0, "/rom")
import asyncio
class Ctx:
    link = None
    core = None
    events = []
    class hal:
        class rtc:
            accelerate = 1
    def now(self): return time.time()
    def now_ms(self): return time.time_ns() // 1000000
    def led(self, n, v): pass
    def log(self, *a): pass
    job = None
    jobs = 0
    from app import Context as _C
    hold = _C.hold
    take = _C.take
    give = _C.give
def used():
    gc.collect()
    return gc.mem_alloc()
base = used()
from crypto.secmod import SoftSecMod
from wan.service import Wan
from wan.admin import Admin
w = Wan(Ctx(), SoftSecMod(key_path="@D@/pki/gateway.key"), pki="@D@/pki", qroot="@D@/q")
w.configure(json.loads('@CFG@'), 1)
a = Admin(w)
idle = used() - base
asyncio.run(a.session())
for i in range(96):
    w.on_taf("TAF7", "m", "1-0:1.8.0*255", {"capture_time": 1767225600 + 900 * i, "raw": i,
                                             "scaler": 0, "unit": 30})
w.flush()
async def deliver():
    for ob in w.outboxes.values():
        await ob.send_one()
asyncio.run(deliver())
print(json.dumps({"wan_heap_configured_bytes": idle, "wan_heap_running_bytes": used() - base}))
"""


def _min_heap(romfs, d, port):
    """Smallest heap (without the ROMFS image) in which the handshake succeeds, 4 KiB
    steps: the true requirement, including peaks inside mbedTLS between two yields."""
    code = (_TLS.replace("@ROMFS@", str(romfs)).replace("@D@", str(d))
            .replace("@PORT@", str(port)))
    size = romfs.stat().st_size

    def ok(k):
        try:
            mpy.run(code, heapsize=size + k * 1024, path=[], timeout=60)
            return True
        except mpy.MicroPythonError:
            return False

    lo, hi = 16, 512
    if not ok(hi):
        return None
    while hi - lo > 4:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi * 1024


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def run(quick):
    figures = {}
    out = json.loads(mpy.run(_ECDSA.replace("@N@", "2" if quick else "10"),
                             heapsize="512K").strip().splitlines()[-1])
    figures.update({k: round(v, 2) for k, v in out.items()})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pki = make_pki(tmp / "pki", emts=1)
        d = provision_dir(pki, tmp / "data", ["emt1"])
        out = json.loads(mpy.run(_CMS.replace("@D@", str(d)), heapsize="512K")
                         .strip().splitlines()[-1])
        figures.update({k: round(v, 2) for k, v in out.items()})
        build("unix")
        romfs = romfs_path("unix")
        heap = board_facts("unix")["HEAP_BYTES"] + romfs.stat().st_size + 4096
        emt = EmtServer("emt1", pki.dir, tmp).up()
        gwa = GwaServer(pki, tmp).up()
        try:
            cfg = {"gateway_id": "G", "gwa": {"host": "127.0.0.1", "port": gwa.port},
                   "emts": [{"id": "emt1", "host": "127.0.0.1", "port": emt.port,
                             "tafs": ["TAF7"]}]}
            provision_dir(pki, d, ["gwa"])
            code = (_RAM.replace("@ROMFS@", str(romfs)).replace("@D@", str(d))
                    .replace("@CFG@", json.dumps(cfg)))
            figures.update(json.loads(mpy.run(code, heapsize="1M", path=[], timeout=60)
                                      .strip().splitlines()[-1]))
            runs = []
            for _ in range(1 if quick else 5):
                code = (_TLS.replace("@ROMFS@", str(romfs)).replace("@D@", str(d))
                        .replace("@PORT@", str(emt.port)))
                runs.append(json.loads(mpy.run(code, heapsize=heap, path=[],
                                               timeout=60).strip().splitlines()[-1]))
            if not quick:
                figures["tls_min_heap_bytes"] = _min_heap(romfs, d, emt.port)
        finally:
            emt.down()
            gwa.down()
        figures["tls_handshake_ms"] = round(_median([r["tls_handshake_ms"] for r in runs]), 1)
        figures["tls_heap_peak_bytes"] = max(r["tls_heap_peak_bytes"] for r in runs)
        figures["tls_heap_budget_bytes"] = board_facts("unix")["HEAP_BYTES"]
    return figures


if __name__ == "__main__":
    print(json.dumps(run(True), indent=1))
