"""The simulated world around a virtual board: meters, radio air, GWA, EMTs, HAN users.

`Sim` boots a VBoard and a set of peers. A peer is a class in its own module listed
in PEERS, with this life cycle (all methods optional except __init__):

    class Peer:
        name = "meters"
        def __init__(self, sim): ...        # sim.workdir, sim.args, sim.pki ...
        def vboard_config(self): return {}  # merged into the board config before boot
        def start(self): ...                # after boot; sim.vboard.endpoints is known
        def endpoints(self): return {}      # merged into DIR/endpoints.json
        def step(self): ...                 # called ~10x per second from the main loop
        def stop(self): ...                 # reverse order of start
        def finish(self): ...               # headless run reached --until: export etc.

Time: the board runs on simulated time `start + accelerate * elapsed`; peers use
sim.now() for the same clock.
"""
import datetime
import importlib
import time
from pathlib import Path

from .vboard import VBoard

PEERS = (
    "gwtool.sim_meters",  # wired LMN meters on the RS485 pty (issue 3)
    "gwtool.sim_air",  # wireless M-Bus air simulator (issue 4)
    "gwtool.sim_core",  # headless export / core checks (issue 5)
    "gwtool.sim_wan",  # GWA + EMT servers, MQTT broker (issue 6)
    "gwtool.sim_han",  # HAN users, CLS echo EMT (issue 7)
    "gwtool.sim_link",  # LTE modem emulator (issue 10)
)


def parse_time(s):
    if s is None:
        return None
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    d = datetime.datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


class Sim:
    def __init__(self, workdir, accelerate=1.0, start=None, until=None, headless=False,
                 peers=None, heap=None, options=None):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.accelerate = float(accelerate)
        self.start_time = parse_time(start) if isinstance(start, str) else start
        self.until = parse_time(until) if isinstance(until, str) else until
        self.headless = headless
        self.heap = heap
        self.options = options or {}
        self.peers = []
        self.vboard = None
        self._t0 = None
        for modname in peers if peers is not None else PEERS:
            try:
                mod = importlib.import_module(modname)
            except ModuleNotFoundError as e:
                if e.name == modname:
                    continue
                raise
            self.peers.append(mod.Peer(self))

    def now(self):
        """Simulated UTC seconds (float), the same clock the board runs on."""
        if self._t0 is None:
            return self.start_time or time.time()
        base = self.start_time if self.start_time is not None else self._wall0
        return base + (time.monotonic() - self._t0) * self.accelerate

    def start(self):
        cfg = {"clock": {"start": self.start_time, "accelerate": self.accelerate}}
        for p in self.peers:
            if hasattr(p, "vboard_config"):
                cfg.update(p.vboard_config() or {})
        self._wall0 = time.time()
        self.vboard = VBoard(self.workdir, heap=self.heap, extra_config=cfg)
        self._t0 = time.monotonic()
        self.vboard.start()
        for p in self.peers:
            if hasattr(p, "start"):
                p.start()
        eps = {}
        for p in self.peers:
            if hasattr(p, "endpoints"):
                eps.update(p.endpoints() or {})
        self.vboard.write_endpoints(**eps)
        return self

    def step(self):
        for p in self.peers:
            if hasattr(p, "step"):
                p.step()

    def run(self):
        """Main loop: until --until (headless) or until interrupted."""
        try:
            while self.vboard.alive():
                if self.until is not None and self.now() >= self.until:
                    for p in self.peers:
                        if hasattr(p, "finish"):
                            p.finish()
                    return True
                self.step()
                time.sleep(0.1)
            return False
        except KeyboardInterrupt:
            return True

    def stop(self):
        for p in reversed(self.peers):
            if hasattr(p, "stop"):
                try:
                    p.stop()
                except Exception as e:  # noqa: BLE001 - stop the rest regardless
                    print(f"sim: {type(p).__name__}.stop failed: {e}")
        if self.vboard:
            self.vboard.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()
