"""Heap leak regression for the wired LMN path: many poll cycles of HDLC+TLS+SML against
the CPython meter simulator on a pty; the live heap (gc.mem_alloc() after gc.collect(),
inside MicroPython) must be flat after warm-up. A leak of the size once suspected
(~1 KB per cycle of 3 meters) grows it by tens of KB over these rounds."""
import json

from gwtool import mpy
from test_link import HERE, bus, drive, meters, pki  # noqa: F401 - fixtures

WARM = 12  # SML caches, STATE.recent (32 entries) and totals, qstrs, TLS sessions
BOUND = 1024  # allocator granularity noise; a leak of 40 B per poll would exceed it


def growth(heap):
    h = heap[WARM:]
    return max(h) - h[0]


def test_meter_stack_heap_is_flat_over_many_polls(pki, bus):
    link, start = bus
    ms = meters(pki)
    start(ms)
    r = drive(link, pki, ms, rounds=30, service_rounds=30, heap=1, timeout=120)
    assert r["polls"] == []  # in heap mode only failures are kept: none
    h = r["heap"]
    assert len(h) == 60 and min(h) > 0
    print("meter.poll heap", h[0], h[29], "service.poll_meter heap", h[30], h[-1])
    assert growth(h[:30]) < BOUND, h[:30]  # Meter.poll: link, TLS session, SML
    assert growth(h[30:]) < BOUND, h[30:]  # + service.poll_meter: ingest, totals, recent


def test_service_schedule_heap_is_flat_with_real_context(pki, bus):
    link, start = bus
    ms = meters(pki)
    start(ms)
    c = {"pty": link.a_path, "pki": str(pki.dir), "rounds": 40, "accelerate": 600,
         "meters": [{"id": m.id, "address": m.address} for m in ms]}
    out = mpy.run(script=HERE / "lmn_heap_driver.py", input=json.dumps(c), path=[HERE],
                  heapsize="512K", timeout=120)
    r = json.loads(out.strip().splitlines()[-1])
    st = r["status"]
    assert st["cycles"] == 40 and r["events"] == [], r
    for m in ms:
        assert st["meters"][m.id]["polls"] == 40 and st["meters"][m.id]["handshakes"] == 1
    print("schedule heap", r["heap"][0], r["heap"][WARM], r["heap"][-1])
    assert growth(r["heap"]) < BOUND, r["heap"]
