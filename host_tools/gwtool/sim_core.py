"""Simulator peer for the measurement core (issue 5): the headless export.

On finish() (a headless run reached --until) the firmware writes its lists as JSON
lines to DIR/export/: oml.jsonl, taf1.jsonl, taf2.jsonl, taf6.jsonl, taf7.jsonl and
logs/<system|event|calibration|consumer-N>.jsonl (schema: README "Simulation exports
(schema)"). The unix board reaches host paths directly, so a raw-REPL exec of
core.service.export(path) on the running gateway does the work; DIR/export/counts.json
holds the number of lines per file.
"""
import json
import time

import serial


def raw_exec(port, code, timeout=120):
    """Minimal raw-REPL client (as tests/foundation/test_vboard.py)."""
    s = serial.Serial(port, 921600, timeout=0.2)
    try:
        s.write(b"\r\x03\r\x01")
        buf = b""
        deadline = time.monotonic() + 10
        while not buf.endswith(b"raw REPL; CTRL-B to exit\r\n>"):
            buf += s.read(64)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no raw REPL: {buf[-200:]!r}")
        s.write(code.encode() + b"\x04")
        buf = b""
        deadline = time.monotonic() + timeout
        while buf.count(b"\x04") < 2:
            buf += s.read(4096)
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw REPL exec timed out: {buf[-200:]!r}")
        out, err = buf[2:].split(b"\x04")[:2]
        s.write(b"\r\x02")
        return out.decode(), err.decode()
    finally:
        s.close()


class Peer:
    name = "core"

    def __init__(self, sim):
        self.sim = sim
        self.counts = None

    def vboard_config(self):
        """All four built-in TAFs in the simulated world (options["core"] overrides)."""
        o = dict(getattr(self.sim, "options", {}) or {}).get("core") or {}
        return {"core": {"tafs": o.get("tafs", ["TAF1", "TAF2", "TAF6", "TAF7"])}}

    def export(self):
        out = self.sim.workdir / "export"
        out.mkdir(parents=True, exist_ok=True)
        code = ("import gc\ngc.collect()\nfrom core import service\nimport json\n"
                f"print(json.dumps(service.export({str(out)!r})))\n")
        for attempt in range(3):  # a busy gateway may be short of heap for a moment
            stdout, err = raw_exec(self.sim.vboard.endpoints["repl"], code)
            if not err.strip():
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("export failed in the firmware:\n" + err)
        self.counts = json.loads(stdout.strip().splitlines()[-1])
        (out / "counts.json").write_text(json.dumps(self.counts, indent=1))
        return self.counts

    def finish(self):
        self.export()
