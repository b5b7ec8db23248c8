"""REPL helpers for the wmbus end-to-end tests (a raw-REPL client as in
tests/foundation/test_vboard.py, independent of mpremote)."""
import json
import time

import serial


def raw_exec(port, code, timeout=10):
    s = serial.Serial(port, 921600, timeout=0.2)
    try:
        s.write(b"\r\x03\r\x01")
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(b"raw REPL; CTRL-B to exit\r\n>"):
            buf += s.read(64)
            assert time.monotonic() < deadline, buf
        s.write(code.encode() + b"\x04")
        buf = b""
        while buf.count(b"\x04") < 2:
            buf += s.read(256)
            assert time.monotonic() < deadline, buf
        out, err = buf[2:].split(b"\x04")[:2]
        s.write(b"\r\x02")
        return out.decode(), err.decode()
    finally:
        s.close()


def wmbus_diag(vb):
    """{"w": diag wmbus field, "m": ctx.meters} of a running virtual board."""
    out, err = raw_exec(vb.endpoints["repl"], "import diag, json\n"
                        "d = diag.status_dict()\n"
                        "print(json.dumps({'w': d['wmbus'], 'm': d['meters']}))")
    assert err == "", err
    return json.loads(out)
