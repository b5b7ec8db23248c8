"""gwtool bench: the JSON it prints (one real --quick run) and the pure helpers."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from gwtool import bench_day, cmd_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick():
    gwtool = Path(sys.executable).parent / "gwtool"
    p = subprocess.run([str(gwtool), "bench", "--quick", "--json"], capture_output=True,
                       text=True, cwd=ROOT, timeout=170, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    try:
        return json.loads(p.stdout)
    except ValueError:
        pytest.fail("not JSON: " + p.stdout[:500] + "\nstderr: " + p.stderr[-1500:])


def test_quick_json_structure(quick):
    for k in ("machine", "quick", "figures", "details", "targets", "missing", "errors",
              "area_seconds"):
        assert k in quick, k
    assert quick["quick"] is True
    # areas of other layers report their own failures here; these two are this area's
    assert all(isinstance(v, str) for v in quick["errors"].values())
    assert "foundation" not in quick["errors"] and "day" not in quick["errors"], quick["errors"]
    assert quick["machine"]["cpu"] and quick["machine"]["python"]


def test_quick_figures_are_positive_numbers(quick):
    figs = quick["figures"]
    assert len(figs) >= 30
    for k, v in figs.items():
        assert isinstance(v, (int, float)) and not isinstance(v, bool), k
        assert math.isfinite(v) and v > 0, (k, v)
    # the foundation's and the day's own figures are always there
    for k in ("crc32_c_mbps", "crc16_x25_viper_mbps", "crc16_x25_python_mbps",
              "crc16_en13757_viper_mbps", "sml_file_us", "boot_to_operational_ms",
              "romfs_bytes_esp32_gw", "romfs_bytes_rp2040_gw", "romfs_bytes_unix",
              "update_image_bytes_esp32_gw", "heap_peak_bytes", "day_min_heapsize_bytes"):
        assert k in figs, k
    assert figs["update_image_bytes_esp32_gw"] > figs["romfs_bytes_esp32_gw"]
    # the day's smallest heap is at least what was live at some point of the day
    assert figs["day_min_heapsize_bytes"] >= figs["heap_live_peak_bytes"] - 1024
    assert set(quick["missing"]) <= set(cmd_bench.REQUIRED)


def test_quick_targets_have_met_flags(quick):
    t = quick["targets"]
    assert set(t) == set(cmd_bench.TARGETS)
    for k, v in t.items():
        assert v["met"] in (True, False, None), k
        assert v["target"]
        if v["met"] is not None:
            assert "value" in v
    # the heap verdict is measured every run, never left open
    assert t["day_completes_in_128k"]["met"] in (True, False)
    assert isinstance(quick["details"]["day_probes"], list)


def test_check_targets():
    r = cmd_bench.check_targets({"ccm_over_ecb": 0.39, "boot_to_operational_ms": 120,
                                 "day_completes_in_128k": False})
    assert r["ccm_over_ecb"]["met"] is False
    assert r["boot_to_operational_ms"]["met"] is True
    assert r["day_completes_in_128k"]["met"] is False
    assert r["three_of_six_viper_over_python"]["met"] is None


def test_aliases_map_area_names():
    raw = {"aes_ecb_kB_s": 200000.0, "aes_viper_ecb_kB_s": 20000.0, "hdlc_frames_s": 50000,
           "wmbus_telegram_us_mode5_4rec": 51.2, "crc_ratio": 1.4}
    got = {k: f(raw) for k, f in cmd_bench.ALIASES.items()}
    assert got["aes_ecb_bulk_mbps"] == 200.0
    assert got["aes_viper_over_cryptolib"] == 0.1
    assert got["hdlc_frame_us"] == 20.0
    assert got["wmbus_telegram_us"] == 51.2
    assert got["crc16_x25_over_crc32"] == 1.4
    assert got["aes_ccm_mbps"] is None


def test_bisect_rounds_finds_threshold():
    need = 300 * 1024 + 123
    rounds = []

    def ok_many(hs):
        rounds.append(list(hs))
        return [h >= need for h in hs]

    h, res = bench_day.bisect_rounds(ok_many, 100 * 1024, 1024 * 1024, 4096, width=3,
                                     rounds=9)
    assert need <= h < need + 4096 + 1024 and res <= 4096
    assert all(len(r) <= 3 for r in rounds) and len(rounds) <= 6
    rounds.clear()
    h, res = bench_day.bisect_rounds(ok_many, 100 * 1024, 1024 * 1024, 4096, width=3,
                                     rounds=1)
    # hi > 1.5 lo: quadratically closer to lo (lo + (hi - lo) * (1, 4, 9) / 16)
    assert rounds == [[157 * 1024, 331 * 1024, 619 * 1024]]
    assert h == 331 * 1024 and res == (331 - 157) * 1024
    rounds.clear()
    h, res = bench_day.bisect_rounds(ok_many, 280 * 1024, 400 * 1024, 4096, width=3,
                                     rounds=1)
    assert rounds == [[310 * 1024, 340 * 1024, 370 * 1024]]  # evenly over (lo, hi)
    assert h == 310 * 1024 and res == 30 * 1024


def test_trace_watch_stops_a_failing_probe(tmp_path):
    w = bench_day._TraceWatch(tmp_path)
    assert w.memory_error() is None  # no trace.log yet
    (tmp_path / "trace.log").write_text("1 1 wan.delivered emt1 x\n1 4 task.crash wan: Memo")
    w.next = 0
    assert w.memory_error() is None  # the half-written line is not read yet
    with open(tmp_path / "trace.log", "a") as f:
        f.write("ryError: memory allocation failed, allocating 4096 bytes\n")
    w.next = 0
    assert "MemoryError" in w.memory_error()


def test_failure_detection(tmp_path):
    ok = {"last_errors": [{"event": "wan.time", "msg": "clock set"}],
          "tasks": {"lmn": {"state": "running", "last_error": None}}}
    assert bench_day._failure(ok, tmp_path) is None
    mem = {"last_errors": [], "tasks": {"han": {
        "state": "restarting", "last_error": "MemoryError: memory allocation failed"}}}
    assert "MemoryError in task han" == bench_day._failure(mem, tmp_path)
    boot = {"last_errors": [{"event": "boot.setup", "msg": "wan.setup failed"}], "tasks": {}}
    assert bench_day._failure(boot, tmp_path).startswith("boot")
    (tmp_path / "trace.log").write_text("1 4 task.crash radio: MemoryError: ...\n")
    assert "trace.log" in bench_day._failure(ok, tmp_path)


def test_markdown_has_every_figure_and_target():
    res = {"machine": {"cpu": "X", "cores": 2, "platform": "L", "python": "3.11",
                       "micropython": "1.29"},
           "quick": False, "figures": {"crc32_c_mbps": 190.5, "heap_live_peak_bytes": 5},
           "details": {"day_completes_in_128k": False},
           "targets": cmd_bench.check_targets({"ccm_over_ecb": 0.39}),
           "missing": [], "errors": {}, "area_seconds": {"day": 300.0}}
    md = cmd_bench.markdown(res, 400)
    assert "| `crc32_c_mbps` | 190.5 |" in md and "| `heap_live_peak_bytes` | 5 |" in md
    assert "| AES-CCM >= 0.4x bulk cryptolib ECB | 0.39 | False |" in md
    assert '"day_completes_in_128k": false' in md and "6.7 min" in md


def test_tls_handshake_heap_measures_the_handshake(tmp_path):
    """bench_han.tls_handshake_heap bisects the smallest heap in which the MicroPython
    server completes one handshake: its script must start in a heap far below that
    (before, it compiled the firmware's han.tlsutil and store.records from source, which
    needed ~65 KB, and the figure was that instead of the handshake's). A handshake then
    needs a few KB beyond the loaded certificate and key (mbedTLS on this port)."""
    from gwtool import bench_han
    from gwtool.sim_han import make_han_cert

    der, key, _ = make_han_cert(tmp_path / "tls")
    ok, base, _ = bench_han._handshake_ok(tmp_path, 32, der, bench_han._key_der(key))
    assert ok and base is not None and base < 16384, (ok, base)
    n = bench_han.tls_handshake_heap(tmp_path)
    assert 1024 < n < 24 * 1024, n


def test_tls_heap_parts_count_the_context_and_the_session(tmp_path):
    """bench_han.tls_heap_parts: a server context with certificate and key holds a few KB
    of mbedTLS state on this port, an established session less than its handshake
    needed (the handshake's buffers are freed), and both more than nothing."""
    from gwtool import bench_han

    ctx, sess = bench_han.tls_heap_parts(tmp_path)
    assert 1024 < ctx < 16384, ctx
    assert 256 < sess < bench_han.tls_handshake_heap(tmp_path), sess
