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

Time: the board runs on simulated time (firmware/hal/unix/simclock.py: `accelerate`x,
slowed to `slow.factor`x around every 900 s grid point so that polls at the quarter
hour keep realistic latencies); peers use sim.now(), computed by the same SimClock code.
"""
import datetime
import importlib
import importlib.util
import time
from pathlib import Path

from .paths import FIRMWARE
from .vboard import VBoard


def _load_simclock():
    spec = importlib.util.spec_from_file_location(
        "gw_simclock", FIRMWARE / "hal" / "unix" / "simclock.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.SimClock


SimClock = _load_simclock()
# around each quarter hour: 2 s before to 10 s after at 20x (TAF7 window is +/-9 s;
# 10 s at 20x leave 500 ms of host time for a poll cycle of 3 TLS meters, also on a busy CI)
DEFAULT_SLOW = {"period": 900, "before": 2, "after": 10, "factor": 20}

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
                 peers=None, heap=None, options=None, rebuild=True):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.accelerate = float(accelerate)
        self.start_time = parse_time(start) if isinstance(start, str) else start
        self.until = parse_time(until) if isinstance(until, str) else until
        self.headless = headless
        self.heap = heap
        self.rebuild = rebuild  # False: boot the image built before (benchmark probes)
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
        return self.clock.sim(time.time() - self._wall0)

    def start(self):
        # wall0: the host time at which simulated time == start, so the board's clock
        # and sim.now() agree however long the board takes to boot
        self._wall0 = time.time()
        self._t0 = time.monotonic()
        clock = {"start": self.start_time or self._wall0, "accelerate": self.accelerate,
                 "wall0": self._wall0}
        slow = self.options.get("slow", DEFAULT_SLOW if self.accelerate > 30 else None)
        if slow:
            clock["slow"] = slow
        self.clock = SimClock.from_config(clock)
        cfg = {"clock": clock}
        for p in self.peers:
            if hasattr(p, "vboard_config"):
                cfg.update(p.vboard_config() or {})
        self.vboard = VBoard(self.workdir, heap=self.heap, extra_config=cfg, rebuild=self.rebuild)
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
