"""`gwtool decode wmbus`: the firmware decoder run from the host CLI."""
import json
import subprocess

import pytest
from gwtool import wmbus_encode as enc
from gwtool.paths import ROOT

GWTOOL = str(ROOT / ".venv/bin/gwtool")
VEC = [json.loads(x) for x in (ROOT.parent / "shared/vectors/wmbus_telegrams.jsonl")
       .read_text().splitlines() if x.strip()]


def gw(*args):
    p = subprocess.run([GWTOOL, "decode", "wmbus", *args], capture_output=True, text=True,
                       timeout=60)
    assert "Traceback" not in p.stderr + p.stdout
    return p.returncode, p.stdout


def test_json_fields_oms_profile_b():
    v = VEC[21]
    rc, out = gw(v["hex"], "--key", v["key"], "--json")
    assert rc == 0
    d = json.loads(out)
    assert list(d)[:9] == ["manufacturer", "id", "version", "device_type", "access_number",
                           "security_mode", "crc_ok", "mac_ok", "records"]
    assert (d["manufacturer"], d["id"], d["security_mode"], d["crc_ok"], d["mac_ok"]) == (
        "ELS", "12345678", 7, True, True)
    r = d["records"][0]
    assert {k: r[k] for k in ("storage", "tariff", "subunit", "function", "quantity", "unit",
                              "value", "raw", "exponent")} == {
        "storage": 0, "tariff": 0, "subunit": 0, "function": "instantaneous",
        "quantity": "volume", "unit": "m3", "value": 28504.27, "raw": 2850427, "exponent": -2}


def test_wrong_key_exit_2_without_key_in_output():
    v = VEC[19]
    bad = "000102030405060708090A0B0C0D0E0F"
    rc, out = gw(v["hex"], "--key", bad, "--json")
    assert rc == 2
    d = json.loads(out)
    assert d["error"] == "decryption failed" and d["meter"] == "KAW-53820306"
    assert bad.lower() not in out.lower()


@pytest.mark.parametrize("frame,ok", [("A", True), ("B", False), ("none", False),
                                      ("auto", True)])
def test_frame_option(frame, ok):
    v = VEC[20]
    rc, out = gw(v["hex"], "--key", v["key"], "--frame", frame, "--json")
    assert (rc == 0) is ok, out
    if not ok:
        assert "error" in json.loads(out)


def test_long_telegram_keys_file_and_text_output(tmp_path):
    v = VEC[2]  # 195 bytes (390 hex digits): more than MicroPython's argv limit
    keys = tmp_path / "meters.json"
    keys.write_text(json.dumps({"EFE-43054304": v["key"]}))
    rc, out = gw(v["hex"], "--keys", str(keys))
    assert rc == 0 and "EFE-43054304" in out and "1348.631" in out


def test_captured_line_formats_and_bad_input():
    f = enc.add_crc_a(enc.telegram("KAM", "12345678", 1, 7, enc.record("volume", 42, -3)))
    for text in (f"telegram=|{f.hex()}|", f"T1;1;1;2019-04-03 19:00:42.000;97;148;0x{f.hex()}",
                 " ".join(f"{b:02x}" for b in f)):
        rc, out = gw(text, "--json")
        assert rc == 0, out
        assert json.loads(out)["records"][0]["raw"] == 42
    rc, out = gw("zz11", "--json")
    assert rc == 2 and json.loads(out)["error"] == "bad input"
    rc, out = gw("2E44", "--json")
    assert rc == 2 and json.loads(out)["layer"] == "frame"
