"""HDLC link + TLS + SML over a real pseudo-terminal: MicroPython gateway side (the
firmware's lmn package) against the CPython meter simulator (gwtool.meter_sim)."""
import json
from pathlib import Path

import pytest
from gwtool import meter_sim, mpy
from gwtool.pki import make_pki
from gwtool.ptybridge import PtyLink

HERE = Path(__file__).parent
IDS = [f"0a01454d480000000{i:03x}" for i in range(1, 4)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), emts=0,
                    meters=IDS + ["0a01454d480000000999"])


@pytest.fixture
def bus():
    link = PtyLink("rs485")
    made = []

    def start(meters, **faults):
        b = meter_sim.Bus(link.b_path, meters, faults=faults).start()
        made.append(b)
        return b

    yield link, start
    for b in made:
        b.stop()
    link.close()


def meters(pki, n=3, tls=True, **kw):
    return [meter_sim.Meter(i, 16 + k, tls_ctx=meter_sim.server_context(pki, "meter-" + i)
                            if tls else None, **kw) for k, i in enumerate(IDS[:n])]


def drive(link, pki, ms, rounds=2, tls=True, timeout=90, **cfg):
    c = {"pty": link.a_path, "pki": str(pki.dir), "rounds": rounds,
         "meters": [{"id": m.id, "address": m.address, "tls": tls} for m in ms], **cfg}
    out = mpy.run(script=HERE / "lmn_driver.py", input=json.dumps(c), path=[HERE],
                  heapsize="512K", timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def served(m):
    return [[list(x) for x in regs] for _, regs in m.served]


def test_three_meters_over_tls(pki, bus):
    link, start = bus
    ms = meters(pki)
    b = start(ms)
    r = drive(link, pki, ms, rounds=3)
    assert [p[1] for p in r["polls"]] == ["ok"] * 9
    for m in ms:
        got = [p[2] for p in r["polls"] if p[0] == m.id]
        assert got == served(m)  # each reading exactly what the meter served, once
        assert m.handshakes == 1 and r["sessions"][m.id] == [1, 0]
    assert r["bus"]["timeouts"] == 0 and b.frames_in > 0


def test_segmentation_both_ways_without_tls(pki, bus):
    link, start = bus
    ms = meters(pki, 2, tls=False, max_info=32)
    ms[0].registers.update({f"1-0:{c}.7.0*255": [c * 10, 0, 27, 0] for c in range(21, 40)})
    start(ms)
    r = drive(link, pki, ms, rounds=2, tls=False)
    assert [p[1] for p in r["polls"]] == ["ok"] * 4
    assert len(r["polls"][0][2]) == 21
    assert [p[2] for p in r["polls"] if p[0] == ms[0].id] == served(ms[0])
    # a ~130-byte request in 32-byte segments, a ~900-byte answer likewise
    assert r["bus"]["tx_frames"] > 20


def test_faults_are_retried_and_no_reading_is_duplicated(pki, bus):
    link, start = bus
    ms = meters(pki, count_requests=True)
    b = start(ms, bitflip=0.05, truncate=0.03, crc=0.03, silence=0.03)
    r = drive(link, pki, ms, rounds=6, timeout_ms=150, retries=4, timeout=150)
    assert b.log, "no fault was injected"
    oks = [p for p in r["polls"] if p[1] == "ok"]
    assert len(oks) >= 12
    assert sum(x["retries"] for x in r["links"].values()) > 0
    for p in r["polls"]:
        assert p[1] in ("ok", "HdlcError", "TlsError", "SmlError")
    for m in ms:
        got = [p[2] for p in oks if p[0] == m.id]
        s = served(m)
        assert all(g in s for g in got)
        assert len({json.dumps(g) for g in got}) == len(got)  # never twice


def test_busy_meter_rnr_is_waited_for(pki, bus):
    link, start = bus
    ms = meters(pki, 1, tls=False)
    ms[0].busy = 2
    start(ms)
    r = drive(link, pki, ms, rounds=2, tls=False)
    assert [p[1] for p in r["polls"]] == ["ok"] * 2
    assert r["links"][ms[0].id]["retries"] == 2 and ms[0].busy == 0
    assert r["bus"]["timeouts"] == 0  # RNR is an answer: no waiting for a timeout
    assert [p[2] for p in r["polls"]] == served(ms[0])


def test_session_renewal_after_byte_limit(pki, bus):
    link, start = bus
    ms = meters(pki, 1)
    start(ms)
    r = drive(link, pki, ms, rounds=5, renew_bytes=600)
    assert [p[1] for p in r["polls"]] == ["ok"] * 5
    hs, renewals = r["sessions"][ms[0].id]
    assert renewals >= 1 and hs == renewals + 1
    assert ms[0].handshakes == hs


def test_session_renewal_after_time_limit(pki, bus):
    link, start = bus
    ms = meters(pki, 1)
    start(ms)
    r = drive(link, pki, ms, rounds=3, renew_s=1, sleep_ms=1100)
    assert [p[1] for p in r["polls"]] == ["ok"] * 3
    assert r["sessions"][ms[0].id] == [3, 2] and ms[0].handshakes == 3


def test_concurrent_polls_share_the_bus(pki, bus):
    link, start = bus
    ms = meters(pki, count_requests=True)
    b = start(ms)
    r = drive(link, pki, ms, rounds=3, concurrent=True)
    assert [p[1] for p in r["polls"]] == ["ok"] * 9
    for m in ms:  # every answer reached the meter that was asked
        assert [p[2] for p in r["polls"] if p[0] == m.id] == served(m)
    assert r["bus"]["stray"] == 0 and r["bus"]["timeouts"] == 0
    assert b.frames_in == r["bus"]["tx_frames"]


def test_silent_meter_is_lost_and_comes_back_others_unaffected(pki, bus):
    link, start = bus
    ms = meters(pki)
    ms[1].silent = True
    start(ms)
    r = drive(link, pki, ms, rounds=1, service_rounds=3, timeout_ms=100, retries=1)
    res = {p[0]: p[1] for p in r["polls"]}
    assert res[ms[0].id] == "ok" and res[ms[2].id] == "ok" and res[ms[1].id] == "HdlcError"
    events = [(lv, ev, msg) for lv, ev, msg in r["logs"]]
    assert [e for e in events if e[1] == "lmn.lost"] == [(3, "lmn.lost",
                                                          "meter lost: " + ms[1].id)]
    got_meters = {g[0] for g in r["got"]}
    assert got_meters == {ms[0].id, ms[2].id}


def test_meter_with_wrong_certificate_is_refused(pki, bus):
    link, start = bus
    m = meter_sim.Meter(IDS[0], 16, tls_ctx=meter_sim.server_context(
        pki, "meter-0a01454d480000000999"))
    start([m])
    r = drive(link, pki, [m], rounds=1)
    assert r["polls"][0][1] == "TlsError"
    assert m.requests == 0  # no SML request ever reached the impostor


def test_plain_sml_push_meter_replay(pki, bus):
    from gwtool.paths import VECTORS

    link, start = bus
    b = start([])
    vs = [json.loads(x) for x in (VECTORS / "sml_telegrams.jsonl").read_text().splitlines()
          if x.strip()]
    stream = b"".join(b"\x00\xff" + bytes.fromhex(v["hex"]) for v in vs)
    import threading
    import time

    def later():
        time.sleep(1.0)
        b.replay(stream, chunk=37)

    threading.Thread(target=later, daemon=True).start()
    r = drive(link, pki, [], push=3)
    ids = {g[0] for g in r["got"]}
    assert len(ids) >= 10  # every capture's meter (two EasyMeter frames share a meter)
    e = [g for g in r["got"] if g[1] == "1-0:1.8.0*255" and g[2] == 29416461614]
    assert e and e[0][3] == -4
