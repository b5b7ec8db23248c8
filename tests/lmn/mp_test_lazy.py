# RAM guards of the LMN layer (docs/memory.md): a gateway without wired meters loads only
# lmn.service; with meters, lmn.poll and the meter stack come, and the SML encoder
# (lmn.smlx) is unloaded again once the meters' request frames are built.
# heapsize: 256K
import sys
from mptest import eq
from lmn import service


class Hal:
    rs485 = None


class Board:
    def __init__(self, cfg):
        self.cfg = cfg

    def config(self):
        return self.cfg


class Ctx:
    def __init__(self, cfg, port=None):
        self.board = Board(cfg)
        self.hal = Hal()
        self.hal.rs485 = port
        self.logs = []

    def log(self, level, event, msg, detail=None):
        self.logs.append((level, event, msg))

    def now(self):
        return 1000


class Port:
    def readinto(self, buf):
        return 0

    def write(self, buf):
        return len(buf)


def test_lazy_modules():
    # one test: the checks depend on the order (the runner's order is not the file's)
    _no_meters_loads_only_the_service()
    _meters_load_the_stack_and_unload_the_encoder()
    _per_meter_state()


def _no_meters_loads_only_the_service():
    ctx = Ctx({"lmn_period": 60})
    service.setup(ctx)
    for m in ("lmn.poll", "lmn.meter", "lmn.link", "lmn.hdlc", "lmn.sml", "lmn.smlx",
              "lmn.tlslink", "lmn.crc"):
        assert m not in sys.modules, m
    eq(ctx.diag_extra["lmn"](), {"cycles": 0, "missed": 0, "readings": 0,
                                 "push_readings": 0, "bus": None, "meters": {}})


def _meters_load_the_stack_and_unload_the_encoder():
    ctx = Ctx({"lmn_meters": [{"id": "0A01454D480000B8EF47", "address": 17, "tls": False},
                              {"id": "0a01454d480000b8ef48", "address": 18, "tls": False}]},
              Port())
    service.setup(ctx)
    st = service.STATE
    eq([m.id for m in st.meters], ["0a01454d480000b8ef47", "0a01454d480000b8ef48"])
    assert "lmn.poll" in sys.modules and "lmn.meter" in sys.modules
    assert "lmn.smlx" not in sys.modules  # the encoder built the request frames: gone
    import lmn
    assert not hasattr(lmn, "smlx")
    assert all(m.req is not None for m in st.meters)
    eq(ctx.logs, [])
    eq(service.next_poll(0, 60), 60)  # lmn.poll's names through lmn.service


def _per_meter_state():
    # the live state of one configured meter (plain; a TLS session adds its socket):
    # Meter + Link + Session + request frame, measured 876 B on x64 (1036 B while each
    # meter kept its server id bytes and each session all its attributes)
    import gc
    from lmn import link, meter

    bus = link.Bus(Port())
    meter.Meter(bus, "0a01454d480000000000", 16)  # first use: module-level allocations
    gc.collect()
    a = gc.mem_alloc()
    ms = [meter.Meter(bus, "0a01454d4800000000%02x" % i, 17 + i) for i in range(1, 9)]
    gc.collect()
    per = (gc.mem_alloc() - a) // len(ms)
    print("per meter", per)
    assert per < 950, per
