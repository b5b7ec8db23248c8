"""Simulator peer: wired electricity meters on the virtual board's RS485 pty (issue 3).

By default three meters (SML server ids 0a01454d4800000000{01,02,03}, HDLC physical
addresses 17..19) with 1.8.0 (import) and 2.8.0 (export) registers counting up in
simulated time, TLS 1.2 with per-meter certificates `meter-<id>` from the sim's test PKI
(DIR/pki). The board learns them through its config ("lmn_meters", "lmn_tls" with the
gateway's certificate, key and the root CA in hex). Options (sim.options["meters"]):
{"count": n, "tls": bool, "faults": {...}, "period": s}.
On finish() DIR/meters.json lists what every meter served.
"""
import json

from . import meter_sim
from .pki import make_pki

REGISTERS = {"1-0:1.8.0*255": (12345670, -1, 30, 2.5),  # Wh*10, ~9 kW average import
             "1-0:2.8.0*255": (543210, -1, 30, 0.7)}


def meter_id(i):
    return f"0a01454d4800000000{i:02x}"


class Peer:
    name = "meters"

    def __init__(self, sim):
        self.sim = sim
        o = dict(getattr(sim, "options", {}) or {}).get("meters") or {}
        self.count = int(o.get("count", 3))
        self.tls = o.get("tls", True)
        self.faults = o.get("faults") or {}
        self.period = o.get("period")
        self.ids = [meter_id(i + 1) for i in range(self.count)]
        self.pki = getattr(sim, "pki", None) or make_pki(
            sim.workdir / "pki", meters=self.ids)
        self.meters = []
        for k, mid in enumerate(self.ids):
            self.pki.issue("meter-" + mid)
            regs = {ob: [raw + 1000 * k, sc, unit, rate] for ob, (raw, sc, unit, rate) in
                    REGISTERS.items()}
            ctx = meter_sim.server_context(self.pki, "meter-" + mid) if self.tls else None
            self.meters.append(meter_sim.Meter(mid, 17 + k, regs, ctx, clock=sim.now))
        self.bus = None

    def vboard_config(self):
        g = self.pki.paths("gateway")
        if not g["der"].exists():
            self.pki.issue("gateway")
        cfg = {"lmn_meters": [{"id": m.id, "address": m.address, "tls": bool(self.tls)}
                              for m in self.meters],
               "lmn_tls": {"cert": g["der"].read_bytes().hex(),
                           "key": g["key_pk8"].read_bytes().hex(),
                           "ca": (self.pki.dir / "root.der").read_bytes().hex()}}
        if self.period:
            cfg["lmn_period"] = self.period
        return cfg

    def start(self):
        self.bus = meter_sim.Bus(self.sim.vboard.endpoints["rs485"], self.meters,
                                 faults=self.faults).start()

    def endpoints(self):
        return {"meters": [{"id": m.id, "address": m.address} for m in self.meters]}

    def served(self):
        """{meter id: {obis: [count, sum of raw]}} of every answer the meters gave."""
        out = {}
        for m in self.meters:
            t = out.setdefault(m.id, {})
            for _, regs in list(m.served):
                for ob, raw in regs:
                    c = t.setdefault(ob, [0, 0])
                    c[0] += 1
                    c[1] += raw
        return out

    def finish(self):
        (self.sim.workdir / "meters.json").write_text(json.dumps(self.served(), indent=1))

    def stop(self):
        if self.bus:
            self.bus.stop()
            self.bus = None
