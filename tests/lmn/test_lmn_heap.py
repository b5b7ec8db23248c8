"""RAM regression guard for the LMN layer (docs/memory.md): the heap that importing its
modules from a built ROMFS image costs, measured in the unix port (x64: objects are about
twice their size on the 32-bit boards). The qstr pool's own growth is left out: it comes
in doubling steps whose position depends on everything imported before."""
from gwtool.testing import import_heap


def test_lmn_heap_budget(tmp_path):
    (svc, nq_svc), (poll, nq_poll) = import_heap(
        tmp_path, ["asyncio", "app", "app.leds"],
        [["lmn.service"],  # at boot, with or without meters
         ["lmn.poll", "lmn.meter"]])  # polling, HDLC + TLS + SML: once a wired meter is configured
    print("lmn service", svc, nq_svc, "meter stack", poll, nq_poll)
    # measured 2026-11: service ~1.0 KB / 34 qstrs (was 1.9 KB / 86 before the polling
    # moved to lmn.poll), meter stack with lmn.poll ~11.0 KB / 217 qstrs (x64; was
    # 13.0 KB without lmn.poll's share of the old service)
    assert svc < 1200 and nq_svc < 40
    assert poll < 11800 and nq_poll < 230
