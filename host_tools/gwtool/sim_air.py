"""Simulator peer: the wireless M-Bus air around the virtual board (gwtool sim).

Meters from gwtool.air_sim.default_meters() transmit at their intervals (simulated
time). Their keys are provisioned through the board config ("wmbus_keys", merged into
/data/keys/meters.json by wmbus.service); the last meter is deliberately unknown.
Options (sim.options): "air_replay" = file of captured hex telegrams sent once after
start, "air_noise" = bit error rate applied to every burst (default 0).
"""
from . import air_sim


class Peer:
    name = "air"

    def __init__(self, sim):
        self.sim = sim
        self.meters = air_sim.default_meters()
        self.air = None
        self.ber = float(sim.options.get("air_noise", 0) or 0)

    def vboard_config(self):
        return {"wmbus_keys": air_sim.keys_of(self.meters)}

    def start(self):
        self.air = air_sim.Air(self.sim.vboard.endpoints["radio"])
        now = self.sim.now()
        for i, m in enumerate(self.meters):
            m.next_t = now + 1 + i
        path = self.sim.options.get("air_replay")
        if path:
            with open(path) as f:
                for fr in air_sim.replay_lines(f):
                    self.air.send(air_sim.frame_chips(fr))

    def endpoints(self):
        return {"air_meters": [m.meter_id for m in self.meters]}

    def step(self):
        now = self.sim.now()
        for m in self.meters:
            if m.next_t is not None and now >= m.next_t:
                chips = m.chips(now)
                if self.ber:
                    chips = air_sim.noise(chips, self.ber)
                self.air.send(chips, m.rssi)
                m.next_t = now + m.interval

    def stop(self):
        if self.air:
            self.air.close()
