"""Delivery over real mutual TLS: MicroPython WAN code -> host EMT servers (no vboard)."""
import json
from pathlib import Path

from gwtool.emt_server import EmtServer
from gwtool.sim_wan import emt_profiles, provision_dir

HERE = Path(__file__).parent

SCRIPT = """
import asyncio, json
from wanctx import Ctx, Link
from crypto.secmod import SoftSecMod
from wan.service import Wan
D = "@D@"
ctx = Ctx()
@CORE@
sm = SoftSecMod(key_path=D + "/pki/gateway.key")
w = Wan(ctx, sm, pki=D + "/pki", qroot=D + "/q")
w.retry_min_s, w.retry_max_s = 0.05, 0.2
w.configure(json.loads('@CFG@'), 7)
t0 = 1767225600
def feed(n, meter="0a01454d480000b8ef47"):
    for i in range(n):
        for taf in ("TAF1", "TAF6", "TAF7"):
            w.on_taf(taf, meter, "1-0:1.8.0*255",
                     {"capture_time": t0 + 900 * i, "raw": 1000 + i, "scaler": -1, "unit": 30,
                      "status": 0})
async def deliver(rounds=20):
    for ob in w.outboxes.values():
        for i in range(rounds):
            try:
                if not await ob.send_one():
                    break
            except Exception as e:
                ctx.log(2, "test.retry", "%s %s" % (type(e).__name__, e))
                await asyncio.sleep_ms(20)
@STEPS@
import sys
# modules loaded per payload/session and dropped after (RAM): gone, also from the packages
drop = [m for m in ("crypto.cms", "wan.cosem", "wan.profiles", "wan.http") if m in sys.modules or hasattr(
    sys.modules[m.split(".")[0]], m.split(".")[1])]
print(json.dumps({"status": w.status(), "logs": ctx.logs[-20:], "kept_loaded": drop,
                  "contexts": sorted(w.ident.contexts), "extra": globals().get("EXTRA")}))
"""

# the ECC modules that signing and key agreement load (wan.service._ECC)
_ECC = ("crypto.ecdsa", "crypto.ecc", "crypto.p256g", "crypto.der")
_LOADED = f"[m for m in {_ECC!r} if m in sys.modules or hasattr(sys.modules['crypto'], m[7:])]"


def _run(mpy, d, cfg, steps, core=""):
    code = (SCRIPT.replace("@D@", str(d)).replace("@CFG@", json.dumps(cfg))
            .replace("@STEPS@", steps).replace("@CORE@", core))
    # 512K: the firmware is compiled from .py source here (crypto.p256g's table literal
    # alone needs ~8 KB in one piece); a board imports .mpy from ROMFS
    return mpy.json(code, path=[HERE], heapsize="512K", timeout=120)


def _servers(pki, tmp_path):
    return [EmtServer(f"emt{i}", pki.dir, tmp_path / "sim").up() for i in (1, 2, 3)]


def test_ecc_modules_dropped_after_the_payloads(mpy, pki, tmp_path):
    # signing and key agreement load the ECC modules; the tick's flush drops them with
    # crypto.cms (RAM between ticks), and the next flush loads them again
    emts = _servers(pki, tmp_path)
    try:
        d = provision_dir(pki, tmp_path / "data", ["emt1", "emt2", "emt3"])
        cfg = {"gateway_id": "EGWT01", "emts": emt_profiles(emts)}
        steps = ("import sys\nEXTRA = []\nfor r in range(2):\n    feed(2)\n"
                 f"    from crypto import ecc\n    EXTRA.append({_LOADED})\n"
                 f"    ecc = None\n    EXTRA.append(w.flush())\n    EXTRA.append({_LOADED})\n")
        out = _run(mpy, d, cfg, steps)
        before, n, after = out["extra"][:3]
        assert "crypto.ecc" in before, before
        assert n >= 3 and after == [], (n, after)  # payloads for the 3 EMTs, then none loaded
        n2, after2 = out["extra"][4:]
        assert n2 >= 3 and after2 == [], out["extra"]  # the next tick: loaded again, dropped
        assert out["kept_loaded"] == [], out["kept_loaded"]
    finally:
        for e in emts:
            e.stop()


def test_three_emts_down_and_back_exactly_once(mpy, pki, tmp_path):
    emts = _servers(pki, tmp_path)
    try:
        d = provision_dir(pki, tmp_path / "data", ["emt1", "emt2", "emt3"])
        cfg = {"gateway_id": "EGWT01", "emts": emt_profiles(emts)}
        emts[1].down()
        # emt2 is down: its payloads stay queued, the others get theirs
        out = _run(mpy, d, cfg, "feed(4)\nw.flush()\nasyncio.run(deliver(3))")
        st = out["status"]["emts"]
        assert out["kept_loaded"] == [], out["kept_loaded"]
        # the three EMTs share their issuing sub-CA: one TLS context, made once (RAM:
        # no 3 KB run needed per session late in a fragmented day)
        assert out["contexts"] == ["sub.der"], out["contexts"]
        assert st["emt1"]["pending"] == 0 and st["emt3"]["pending"] == 0
        assert st["emt2"]["pending"] == 1 and st["emt2"]["delivered"] == 0
        # "reboot": a new process on the same /data; more values; emt2 back
        emts[1].up()
        emts[0].drop_ack = 1  # first ack to emt1 is lost: it must be sent again, stored once
        out = _run(mpy, d, cfg, "feed(2)\nw.flush()\nasyncio.run(deliver())")
        st = out["status"]["emts"]
        assert all(v["pending"] == 0 for v in st.values()), out
        for e in emts:
            idx = json.loads((e.dir / "index.json").read_text())
            assert idx and all(x["verified"] for x in idx), idx
            ids = [x["id"] for x in idx]
            assert len(ids) == len(set(ids))
        idx1 = json.loads((emts[0].dir / "index.json").read_text())
        assert sum(x["duplicates"] for x in idx1) == 1
        # emt1 wants TAF1: two payloads (4 + 2 values), exactly the values fed, each once
        xml = [(emts[0].dir / "received" / f"{x['id']}.xml").read_text() for x in idx1]
        assert len(xml) == 2 and all('taf="TAF1"' in x for x in xml)
        assert all(f'id="{x["id"]}"' in b for x, b in zip(idx1, xml))  # id is signed
        assert sum(x.count("<Entry ") for x in xml) == 6
        # emt3 (TAF6+TAF7, pseudonym): gateway and meter ids replaced
        idx3 = json.loads((emts[2].dir / "index.json").read_text())
        assert len(idx3) == 4
        for x in idx3:
            body = (emts[2].dir / "received" / f"{x['id']}.xml").read_text()
            assert "EGWT01" not in body and "0a01454d480000b8ef47" not in body
            assert 'gateway="PSEUDO-3"' in body and 'meter="PSEUDO-3-' in body
            assert x["id"].startswith("PSEUDO-3.emt3.")
        # emt2 got its backlog after coming back: 2 TAF7 payloads, 6 values
        idx2 = json.loads((emts[1].dir / "index.json").read_text())
        xml2 = [(emts[1].dir / "received" / f"{x['id']}.xml").read_text() for x in idx2]
        assert len(xml2) == 2 and sum(x.count("<Entry ") for x in xml2) == 6
    finally:
        for e in emts:
            e.down()


def test_wrong_peer_certificate_refused(mpy, pki, tmp_path):
    """CA/name pinning: emt1's profile pinned to emt2's certificate name must fail TLS."""
    emts = _servers(pki, tmp_path)
    try:
        d = provision_dir(pki, tmp_path / "data", ["emt1", "emt2", "emt3"])
        prof = emt_profiles(emts[:1])
        prof[0]["peer"] = "emt2"  # server presents emt1's certificate
        out = _run(mpy, d, {"gateway_id": "G", "emts": prof},
                   "feed(1)\nw.flush()\nasyncio.run(deliver(2))")
        assert out["status"]["emts"]["emt1"]["pending"] == 1
        assert any(x[1] == "test.retry" for x in out["logs"]), out["logs"]
        assert not (emts[0].dir / "index.json").exists()
    finally:
        for e in emts:
            e.down()


CORE_STORE = """
from store.records import RecordStore
class _Core:
    pass
ctx.core = _Core()
ctx.core.store = RecordStore(D + "/store")
"""


def test_core_record_store_for_values(mpy, pki, tmp_path):
    """With ctx.core.store the TAF values queue in the core's record store (payloads stay
    in files); a restart in between loses nothing."""
    emts = _servers(pki, tmp_path)
    try:
        d = provision_dir(pki, tmp_path / "data", ["emt1", "emt2", "emt3"])
        cfg = {"gateway_id": "G", "emts": emt_profiles(emts[:1])}
        out = _run(mpy, d, cfg, "feed(5)", core=CORE_STORE)
        assert (d / "store" / "wan-emt1.TAF1").is_dir()
        out = _run(mpy, d, cfg, "feed(2)\nw.flush()\nasyncio.run(deliver())", core=CORE_STORE)
        assert out["status"]["emts"]["emt1"]["pending"] == 0
        idx = json.loads((emts[0].dir / "index.json").read_text())
        assert len(idx) == 1 and idx[0]["verified"]
        xml = (emts[0].dir / "received" / f"{idx[0]['id']}.xml").read_text()
        assert xml.count("<Entry ") == 7
    finally:
        for e in emts:
            e.down()


def test_values_read_back_per_pass_and_sorted(mpy, pki, tmp_path):
    """A payload's values are read from the input queue while the CMS is made (twice:
    hash, then encryption; not held as tuples): each value once, per channel in capture
    time order also when they came out of order, and the signature verifies."""
    emts = _servers(pki, tmp_path)
    try:
        d = provision_dir(pki, tmp_path / "data", ["emt1", "emt2", "emt3"])
        cfg = {"gateway_id": "G", "emts": emt_profiles(emts[:1])}
        steps = """
for i in (3, 0, 2, 1):  # meter A out of order, meter B in order
    w.on_taf("TAF1", "0a01454d480000b8ef47", "1-0:1.8.0*255",
             {"capture_time": t0 + 900 * i, "raw": 500 + i, "scaler": -1, "unit": 30, "status": 0})
for i in range(3):
    w.on_taf("TAF1", "0a01454d480000b8ef48", "1-0:2.8.0*255",
             {"capture_time": t0 + 900 * i, "raw": 700 + i, "scaler": 0, "unit": 30, "status": 1})
w.flush()
asyncio.run(deliver())
"""
        out = _run(mpy, d, cfg, steps)
        assert out["status"]["emts"]["emt1"]["pending"] == 0, out
        idx = json.loads((emts[0].dir / "index.json").read_text())
        assert len(idx) == 1 and idx[0]["verified"], idx
        xml = (emts[0].dir / "received" / f"{idx[0]['id']}.xml").read_text()
        a, b = xml.split('obis="1-0:2.8.0*255"') if xml.index("2.8.0") > xml.index("1.8.0") \
            else xml.split('obis="1-0:1.8.0*255"')[::-1]
        assert [f'value="{500 + i}"' in a for i in range(4)] == [True] * 4
        assert [a.index(f'value="{500 + i}"') for i in range(4)] == sorted(
            a.index(f'value="{500 + i}"') for i in range(4))  # by capture time
        assert [b.index(f'value="{700 + i}"') for i in range(3)] == sorted(
            b.index(f'value="{700 + i}"') for i in range(3))
        assert xml.count("<Entry ") == 7
    finally:
        for e in emts:
            e.down()


def test_contexts_made_at_start_up(mpy, pki, tmp_path):
    """Wan.run makes the pinned TLS contexts before any session (Identity.prewarm: each
    needs ~3 KB in one piece, which a fragmented heap late in a day may not have); peers
    of one issuing CA share one; a peer without a pinned certificate is left to its
    session."""
    emts = _servers(pki, tmp_path)
    try:
        d = provision_dir(pki, tmp_path / "data", ["emt1", "emt2", "emt3"])
        profiles = emt_profiles(emts)
        profiles[2]["peer"] = "nobody"
        cfg = {"gateway_id": "G", "emts": profiles}
        steps = """
async def brief():
    t = asyncio.create_task(w.run())
    await asyncio.sleep_ms(300)
    t.cancel()
    await asyncio.sleep_ms(10)
asyncio.run(brief())
"""
        out = _run(mpy, d, cfg, steps)
        assert out["contexts"] == ["sub.der"], out
        assert not any((e.dir / "index.json").exists() for e in emts)  # no session yet
        assert out["kept_loaded"] == [], out["kept_loaded"]
    finally:
        for e in emts:
            e.down()
