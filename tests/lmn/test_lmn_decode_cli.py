"""`gwtool decode sml|hdlc`: JSON out, exit 2 when nothing decodable, never a traceback."""
import json
import subprocess

from gwtool.paths import ROOT, VECTORS

GWTOOL = str(ROOT / ".venv" / "bin" / "gwtool")


def run(*args):
    p = subprocess.run([GWTOOL, "decode", *args], capture_output=True, text=True, timeout=60,
                       check=False)
    assert "Traceback" not in p.stdout + p.stderr
    return p.returncode, json.loads(p.stdout)


def vec(name):
    return [json.loads(x) for x in (VECTORS / name).read_text().splitlines() if x.strip()]


def test_sml_decode_json(tmp_path):
    v = vec("sml_telegrams.jsonl")
    emh = v[0]
    rc, doc = run("sml", emh["hex"], "--json")
    assert rc == 0
    f = doc["files"][0]
    assert f["crc_ok"] is True
    assert [m["body"] for m in f["messages"]] == ["OpenResponse", "GetListResponse",
                                                  "CloseResponse"]
    e = next(x for x in doc["values"] if x["obis"] == "1-0:1.8.0*255")
    assert e == {"obis": "1-0:1.8.0*255", "raw": 172433683, "scaler": -1, "unit": 30,
                 "value": 17243368.3, "server_id": "06454d4801027156cd45", "status": 386,
                 "val_time": None}
    # a binary capture with two frames and garbage, via @FILE
    p = tmp_path / "cap.bin"
    p.write_bytes(b"junk" + bytes.fromhex(v[6]["hex"]) + b"\x00\x01" + bytes.fromhex(v[11]["hex"]))
    rc, doc = run("sml", f"@{p}")
    assert rc == 0 and len(doc["files"]) == 2
    assert doc["files"][1]["crc"] == "kermit_be"
    big = next(x for x in doc["values"] if x["obis"] == "1-0:1.8.0*255")
    assert big["raw"] == 29416461614 and big["scaler"] == -4


def test_sml_garbage_exits_2_with_error_entry():
    rc, doc = run("sml", "00112233445566778899", "--json")
    assert rc == 2 and doc["errors"] and doc["files"] == []
    rc, doc = run("sml", "1b1b1b1b010101017605", "--json")
    assert rc == 2 and doc["errors"][0]["offset"] == 0
    rc, doc = run("sml", "zz", "--json")
    assert rc == 2


def _x25(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def _sml_frame(payload):
    body = b"\x1b" * 4 + b"\x01" * 4 + payload.replace(b"\x1b" * 4, b"\x1b" * 8)
    pad = -len(body) % 4
    body += b"\x00" * pad + b"\x1b" * 4 + bytes((0x1A, pad))
    crc = _x25(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def test_sml_message_error_offset_is_the_wire_offset():
    """A message error is reported where its byte is in the input: after the start sequence
    and any escaped escapes before it, not at its index in the unescaped payload."""
    emh = bytes.fromhex(vec("sml_telegrams.jsonl")[0]["hex"])
    payload = bytearray(emh[8:emh.index(b"\x1b\x1b\x1b\x1b\x1a")])
    # the second message (GetListResponse): a list of 6, its 6-byte transaction id first
    second = payload.index(b"\x76\x07", 1)
    server = payload.index(bytes.fromhex("06454d4801027156cd45"))  # in the first message
    assert server < second
    payload[second] = 0x75  # now a list of 5: "message is not a list of 6"
    plain = _sml_frame(bytes(payload))
    # the same with an escape sequence (doubled on the wire) in the first message's server id
    w = server + 3 & ~3
    payload[w:w + 4] = b"\x1b" * 4
    escaped = _sml_frame(bytes(payload))
    for framed, shift in ((plain, 0), (escaped, 4)):
        rc, doc = run("sml", "abcd" + framed.hex(), "--json")
        err = doc["errors"][0]
        assert rc == 0 and len(doc["files"]) == 1  # the frame is there, its message is not
        assert err["reason"] == "message is not a list of 6", err
        assert err["offset"] == 2 + 8 + second + shift, (err, second, shift)
        assert framed[err["offset"] - 2] == 0x75


def test_hdlc_decode_json():
    v = vec("hdlc_frames.jsonl")
    rc, doc = run("hdlc", v[1]["hex"] + v[12]["hex"], "--json")
    assert rc == 0
    ua, i = doc["frames"]
    assert ua["control"] == "UA" and ua["dest"] == [16] and ua["src"] == [1, 17]
    assert ua["hcs_ok"] is True and ua["fcs_ok"] is True and ua["pf"] is True
    assert ua["parameters"]["max_tx"] == 154
    assert i["control"] == "I" and (i["ns"], i["nr"]) == (1, 2) and i["src"] == [1, 3875]
    assert i["format"] == 0xA01B and i["length"] == 27 and i["segmented"] is False
    assert doc["errors"] == []


def test_hdlc_bad_fcs_reported_and_garbage_exit_2():
    v = vec("hdlc_frames.jsonl")
    b = bytearray.fromhex(v[0]["hex"])
    b[-2] ^= 1
    rc, doc = run("hdlc", b.hex() + v[11]["hex"], "--json")
    assert rc == 0
    assert [f["fcs_ok"] for f in doc["frames"]] == [False, True]
    assert any(e["reason"] == "bad FCS" for e in doc["errors"])
    rc, doc = run("hdlc", "7ea0ff0102", "--json")
    assert rc == 2 and doc["errors"][0]["offset"] >= 0 and doc["frames"] == []
