"""Firmware update in MicroPython against the host GWA: offer, resumable download,
signature/downgrade checks, staging, activation (no vboard; the boot loader's A/B trial
and rollback run in test_e2e_update.py)."""
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from gwtool.gwa_server import GwaServer
from gwtool.sim_wan import provision_dir
from gwtool.update_image import make, parse

HERE = Path(__file__).parent

SCRIPT = """
import asyncio, json, os
from wanctx import Ctx
from crypto.secmod import SoftSecMod
from wan.service import Wan
from wan.admin import Admin
from wan.update import Updater
D = "@D@"
ctx = Ctx()
w = Wan(ctx, SoftSecMod(key_path=D + "/pki/gateway.key"), pki=D + "/pki", qroot=D + "/q")
w.configure({"gateway_id": "GW1", "gwa": {"host": "127.0.0.1", "port": @PORT@}}, 1)
a = Admin(w)
u = Updater(w, fw=D + "/fw")
res = {}
async def poll():
    try:
        return await u.poll(a._request)
    except Exception as e:
        import sys, io
        b = io.StringIO(); sys.print_exception(e, b)
        return "%s: %s %s" % (type(e).__name__, e, b.getvalue())
res["r"] = asyncio.run(poll())
try:
    res["tick"] = u.tick()
except SystemExit as e:
    res["tick"] = "restart"
res["state"] = u.state()
res["files"] = sorted(os.listdir(D + "/fw"))
res["logs"] = ctx.logs
print(json.dumps(res))
"""


def test_update_download_verify_stage(mpy, pki, tmp_path):
    gwa = GwaServer(pki, tmp_path).up()
    try:
        d = provision_dir(pki, tmp_path / "data", ["gwa"])
        (d / "fw").mkdir()
        (d / "fw" / "boot.json").write_text(json.dumps({"versions": {"factory": "0.1.0"}}))
        key = serialization.load_pem_private_key((pki.dir / "gwa.key").read_bytes(), None)
        evil = serialization.load_pem_private_key((pki.dir / "emt1.key").read_bytes(), None)
        romfs = bytes(range(256)) * 100  # stands in for the ROMFS image
        code = SCRIPT.replace("@D@", str(d)).replace("@PORT@", str(gwa.port))

        def run():
            # the firmware is compiled from .py source here: the compiler needs heap that a
            # board (.mpy in ROMFS) does not, e.g. ~8 KB in one piece for the table literal
            # of crypto.p256g
            return mpy.json(code, path=[HERE], heapsize="512K", timeout=120)

        # older than installed: refused, logged, nothing downloaded
        gwa.offer_update(make(romfs, "0.0.9", key), "0.0.9")
        out = run()
        assert out["r"] is None and gwa.downloads == [], out
        assert any(x[1] == "fw.refused" and "no downgrade" in x[2] for x in out["logs"])
        # bad signature: downloaded, refused at verification, removed
        gwa.offer_update(make(romfs, "0.3.0", evil), "0.3.0")
        out = run()
        assert out["r"] is False, out
        assert any(x[1] == "fw.verify" and "bad signature" in x[2] for x in out["logs"])
        assert "update.part" not in out["files"] and "a.romfs" not in out["files"]
        # good image; the connection breaks after 2 chunks: the next poll resumes
        good = make(romfs, "0.2.0", key, created=1767225600)
        assert parse(good, key.public_key())["version"] == "0.2.0"
        gwa.chunk = 4096
        gwa.fail_image_after = 2
        gwa.downloads.clear()
        gwa.offer_update(good, "0.2.0", activate_at=0)
        out = run()
        assert "WanError" in out["r"] and "update.part" in out["files"], out
        conns = gwa.connections
        out = run()
        assert out["r"] is True, out
        # the resumed download of 6 chunks used one kept-alive TLS session (+ update offer)
        assert gwa.connections - conns <= 3 and gwa.kept >= 5, (gwa.connections - conns)
        starts = [s for s, n in gwa.downloads]
        assert starts[:3] == [0, 4096, 8192] and len(starts) == len(set(starts))
        assert (d / "fw" / "a.romfs").read_bytes() == romfs
        # activation time (0) has come: trial slot a, restart requested
        assert out["tick"] == "restart"
        st = out["state"]
        assert st["trial"] == "a" and st["trial_boots"] == 0 and "staged" not in st
        assert st["versions"]["a"] == "0.2.0"
        assert any(x[1] == "fw.activate" for x in out["logs"])
    finally:
        gwa.down()
