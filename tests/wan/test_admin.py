"""GWA administration over mutual TLS: time, signed configuration, wake-up checks."""
import json
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from gwtool.emt_server import EmtServer
from gwtool.gwa_server import GwaServer, wakeup_packet
from gwtool.sim_wan import emt_profiles, provision_dir

HERE = Path(__file__).parent

SCRIPT = """
import asyncio, json
from wanctx import Ctx
from crypto.secmod import SoftSecMod
from wan.service import Wan
from wan.admin import Admin
D = "@D@"
ctx = Ctx(@T0@)
sm = SoftSecMod(key_path=D + "/pki/gateway.key")
w = Wan(ctx, sm, pki=D + "/pki", qroot=D + "/q")
w.config_path = D + "/active.json"
w.keys_path = D + "/meters.json"
w.configure(json.loads('@CFG@'), 1)
a = Admin(w)
res = {}
async def main():
@STEPS@
asyncio.run(main())
res["version"] = w.config_version
res["emts"] = sorted(w.outboxes)
res["logs"] = ctx.logs
import sys
# loaded per poll/configuration and dropped after (RAM): gone, also from the packages
res["kept_loaded"] = [m for m in ("crypto.cms", "wan.ntp", "wan.config", "wan.profiles")
                      if m in sys.modules
                      or hasattr(sys.modules[m.split(".")[0]], m.split(".")[1])]
res["http_loaded"] = "wan.http" in sys.modules or hasattr(sys.modules["wan"], "http")
print(json.dumps(res))
"""


def _run(mpy, d, cfg, steps, t0=None):
    body = "\n".join("    " + x for x in steps.strip().splitlines())
    code = (SCRIPT.replace("@D@", str(d)).replace("@CFG@", json.dumps(cfg))
            .replace("@STEPS@", body).replace("@T0@", str(int(t0 or time.time()))))
    # 512K: the firmware is compiled from .py source here (crypto.p256g's table literal
    # alone needs ~8 KB in one piece); a board imports .mpy from ROMFS
    return mpy.json(code, path=[HERE], heapsize="512K", timeout=120)


def test_time_sync_and_signed_config(mpy, pki, tmp_path):
    gwa = GwaServer(pki, tmp_path, gateway_id="GW1", clock=lambda: time.time() + 3600).up()
    emt = EmtServer("emt1", pki.dir, tmp_path).up()
    try:
        d = provision_dir(pki, tmp_path / "data", ["gwa", "emt1"])
        wan = {"gateway_id": "GW1", "gwa": {"host": "127.0.0.1", "port": gwa.port}}
        # 1. time: the gateway runs an hour behind the GWA -> clock corrected
        out = _run(mpy, d, wan, 'res["off"] = await a.sync_time()\nres["now"] = ctx.now()')
        off, delay = out["off"]
        assert abs(off - 3600_000) < 2000 and 0 <= delay < 2000
        assert out["kept_loaded"] == [], out["kept_loaded"]
        assert abs(out["now"] - (time.time() + 3600)) < 3
        # 2. a signed configuration with one EMT profile and a meter key is applied
        new = {"version": 2, "wan": dict(wan, emts=emt_profiles([emt])),
               "keys": {"KAM-12345678": "00" * 16}}
        gwa.publish(new)
        out = _run(mpy, d, wan, 'from wmbus.keys import KeyStore\n'
                                'ctx.wmbus = type("Rx", (), {})()\n'
                                'ctx.wmbus.keys = KeyStore(D + "/meters.json")\n'
                                'res["known_before"] = ctx.wmbus.keys.known("KAM-12345678")\n'
                                'res["ack"] = await a.fetch_config()\n'
                                'res["known"] = ctx.wmbus.keys.known("KAM-12345678")')
        assert out["ack"] == {"version": 2, "result": "applied"}
        assert out["kept_loaded"] == [], out["kept_loaded"]
        # the receiver decrypts the new meter at once (its key store is reloaded)
        assert out["known_before"] is False and out["known"] is True
        assert out["version"] == 2 and out["emts"] == ["emt1"]
        active = json.loads((d / "active.json").read_text())
        assert active["version"] == 2 and "keys" not in active
        assert json.loads((d / "meters.json").read_text()) == {"KAM-12345678": "00" * 16}
        assert gwa.acks[-1]["result"] == "applied"
        # 3. refused: bad signature, unknown field, bad schema, old version; old config kept
        bad = [
            (dict(new, version=3), b"", "0" * 128, "bad signature"),
            (dict(new, version=3, colour="red"), None, None, "unknown field colour"),
            ({"version": 3, "wan": {"emts": [{"id": "x"}]}}, None, None, "missing host"),
            ({"version": 3, "wan": {"emts": [{"id": "x", "host": "h", "port": "1"}]}}, None,
             None, "wrong type"),
            (dict(new, version=0), None, None, "not newer"),
        ]
        for cfg, body, sig, why in bad:
            gwa.publish(cfg, body=json.dumps(cfg).encode() if body == b"" else body,
                        signature=sig)
            out = _run(mpy, d, wan, 'res["ack"] = await a.fetch_config()')
            w = json.dumps(out["ack"])
            assert out["ack"] is not None, (out["logs"], gwa.config)
            assert out["ack"]["result"] == "refused" and why in w, (why, w)
            assert json.loads((d / "active.json").read_text()) == active
            assert any(x[1] == "wan.config" and "refused" in x[2] for x in out["logs"])
        acks = [json.loads(x) for x in (tmp_path / "gwa" / "acks.jsonl").read_text().splitlines()]
        assert [a["result"] for a in acks] == ["applied"] + ["refused"] * 5
        # a whole poll (time, configuration, update offer, logs) is one TLS session
        gwa.publish(dict(new, version=4))
        conns, kept = gwa.connections, gwa.kept
        out = _run(mpy, d, wan, 'ctx.events = [(5, 3, "x", "m")]\n'
                                'await a.session()\nres["sessions"] = w.gwa_sessions')
        assert out["sessions"] == 1 and out["version"] == 4, out
        # time, config; (applied: a new session for the new configuration) ack, update, log
        assert gwa.connections - conns == 2 and gwa.kept - kept == 5, (
            gwa.connections - conns, gwa.kept - kept)
        pushed = [json.loads(x) for x in (tmp_path / "gwa" / "logs.jsonl").read_text().split("\n")
                  if x]
        assert pushed[-1] == [{"t": 5, "level": 3, "event": "x", "msg": "m"}], pushed
        gwa.config = None  # nothing newer: 204
        conns, kept = gwa.connections, gwa.kept
        out = _run(mpy, d, wan, 'await a.session()\nres["sessions"] = w.gwa_sessions')
        assert out["sessions"] == 1 and out["kept_loaded"] == [], out
        assert out["http_loaded"] is False  # HTTP client: loaded per poll, dropped after it
        assert gwa.connections - conns == 1 and gwa.kept - kept == 3, (  # time, config, update
            gwa.connections - conns, gwa.kept - kept)
    finally:
        gwa.down()
        emt.down()


def test_wakeup_checks(mpy, pki, tmp_path):
    d = provision_dir(pki, tmp_path / "data", ["gwa"])
    gkey = serialization.load_pem_private_key((pki.dir / "gwa.key").read_bytes(), None)
    ekey = serialization.load_pem_private_key((pki.dir / "emt1.key").read_bytes(), None)
    t0 = 1767225600
    good = wakeup_packet(gkey, "GW1", t0)
    cases = [
        ("valid", good, True),
        ("replayed", good, False),
        ("forged", wakeup_packet(ekey, "GW1", t0 + 5), False),
        ("other gateway", wakeup_packet(gkey, "GW2", t0 + 6), False),
        ("stale", wakeup_packet(gkey, "GW1", t0 - 3600), False),
        ("future", wakeup_packet(gkey, "GW1", t0 + 3600), False),
        ("garbage", b"SMWU\x01\x03GW1" + b"\x00" * 10, False),
        ("truncated", good[:-1], False),
        ("valid2", wakeup_packet(gkey, "GW1", t0 + 7), True),
    ]
    steps = ("from wan.wakeup import Wakeup\nwu = Wakeup(w, D + '/wu.last')\n"
             "res['r'] = [wu.handle(bytes.fromhex(h), 'test') for h in @P@]\n"
             "wu2 = Wakeup(w, D + '/wu.last')\n"
             "res['after_reboot'] = wu2.handle(bytes.fromhex(@G@), 'test')")
    steps = steps.replace("@P@", repr([c[1].hex() for c in cases])).replace(
        "@G@", repr(cases[-1][1].hex()))
    wan = {"gateway_id": "GW1", "gwa": {"host": "127.0.0.1", "port": 1}}
    out = _run(mpy, d, wan, steps, t0=t0 + 1)
    assert out["r"] == [c[2] for c in cases]
    assert out["after_reboot"] is False  # replay across a reboot is refused
    logs = [x for x in out["logs"] if x[1] == "wan.wakeup"]
    assert len(logs) == len(cases) + 1
    assert sum("invalid" in x[2] for x in logs) == len(cases) - 1
    assert any("bad signature" in x[2] for x in logs)
    assert any("stale" in x[2] for x in logs) and any("replayed" in x[2] for x in logs)
