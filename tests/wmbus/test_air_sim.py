"""Air simulator pieces (host) and the sim_air peer driving a virtual board."""
import json
import random
import time

from _repl import wmbus_diag
from gwtool import air_sim
from gwtool import wmbus_encode as enc
from gwtool.sim import Sim


def test_encoder_checks_itself():
    assert enc.crc16_en13757(b"123456789") == 0xC2B7
    assert enc.three_of_six(b"\x0f") == b"\x5a\x95"
    f = enc.telegram("KAM", "12345678", 1, 7, enc.record("volume", 1, -3))
    assert f[0] == len(f) - 1
    assert len(enc.add_crc_a(f)) == len(f) + 2 * (1 + (len(f) - 10 + 15) // 16)
    b = enc.add_crc_b(f)
    assert b[0] == len(b) - 1


def test_impairments():
    rng = random.Random(1)
    c = bytes(range(100))
    n = air_sim.noise(c, 0.01, rng)
    flips = sum(bin(x ^ y).count("1") for x, y in zip(c, n))
    assert 1 <= flips <= 30 and len(n) == len(c)
    assert air_sim.truncate(c, 10) == c[:10]
    a, b = b"\x01" * 20, b"\x02" * 10
    col = air_sim.collide(a, b, 15)
    assert col[:15] == a[:15] and col[15:20] == bytes([3] * 5) and col[20:] == b[5:]


def test_replay_lines():
    f = enc.telegram("KAM", "12345678", 1, 7, enc.record("volume", 1, -3))
    lines = ["# capture", "", f"telegram=|{f.hex()}|", enc.add_crc_a(f).hex().upper(),
             f"T1;1;1;2019-04-03 19:00:42.000;97;148;0x{f.hex()}"]
    frames = air_sim.replay_lines(lines)
    assert frames == [enc.add_crc_a(f)] * 3


def test_sim_peer_meters_reach_the_board(tmp_path):
    replay = tmp_path / "capture.txt"
    f = enc.telegram("EMH", "11110000", 1, 2, enc.record("energy", 777, 0))  # unprovisioned
    replay.write_text(f"telegram=|{f.hex()}|\n")
    # heap: this test is about the peer, not the shared 128 KiB budget (see bench)
    sim = Sim(tmp_path / "sim", accelerate=10, peers=["gwtool.sim_air"], heap=1048576,
              options={"air_replay": str(replay)})
    try:
        sim.start()
        want = {m.meter_id for m in sim.peers[0].meters[:-1]}
        unknown = {"ZRI-99999999", "EMH-11110000"}  # the sim's stranger, the replayed one
        deadline = time.monotonic() + 25
        d = {"m": {}, "w": {"unknown_meters": {}}}
        while not (want <= set(d["m"]) and unknown <= set(d["w"]["unknown_meters"])):
            assert time.monotonic() < deadline, d
            for _ in range(5):
                sim.step()
                time.sleep(0.1)
            d = wmbus_diag(sim.vboard)
        assert set(d["w"]["unknown_meters"]) == unknown
        assert not unknown & set(d["m"])
        eps = json.loads((sim.workdir / "endpoints.json").read_text())
        assert len(eps["air_meters"]) == 6
    finally:
        sim.stop()
