"""gwtool bench: the JSON it prints (one real --quick run) and the pure helpers."""
import json
import math
import re
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


def _readme_figure_names():
    """The names the README's figure table explains, as patterns: `*` any part of a name,
    `{a,b}` either, `[_x]` optional, `<board>` a board's name."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Benchmarks: how to read each figure", 1)[1].split("\n## ", 1)[0]
    pats = []
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
            rx = re.escape(name).replace(r"\*", "[a-z0-9_]*").replace("<board>", "[a-z0-9_]+")
            rx = re.sub(r"\\\{(.*?)\\\}", lambda m: "(" + m.group(1).replace(",", "|") + ")", rx)
            rx = re.sub(r"\\\[(.*?)\\\]", lambda m: "(" + m.group(1) + ")?", rx)
            pats.append(re.compile(rx + r"\Z"))
    return pats


def test_readme_explains_every_figure(quick):
    """Every figure of a quick run and of the full run in BENCHMARKS.md has a row in the
    README's table ("how to read each figure")."""
    pats = _readme_figure_names()
    assert len(pats) > 60
    explained = lambda k: any(p.match(k) for p in pats)
    assert not explained("no_such_figure_ms") and explained("p256_ecdh_alloc_bytes")
    assert explained("han_readings_day_rps_ingest") and explained("romfs_bytes_esp32_gw")
    full = cmd_bench.load_run(ROOT / "BENCHMARKS.md")["figures"]
    assert len(full) > len(quick["figures"]) / 2
    for run, figs in (("quick", quick["figures"]), ("BENCHMARKS.md", full)):
        missing = sorted(k for k in figs if not explained(k))
        assert not missing, f"{run}: no README row for {missing}"


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


def _run(figures, quick=False, met=None):
    return {"machine": {"cpu": "X", "cores": 2, "platform": "L", "python": "3.11",
                        "micropython": "1.29"}, "date": "2026-11-25 10:00 UTC",
            "quick": quick, "figures": figures, "details": {"day_completes_in_128k": False},
            "targets": cmd_bench.check_targets(met or {}), "missing": [], "errors": {},
            "area_seconds": {"wmbus": 1.0}}


def test_better_when_follows_the_names():
    for name, way in (("crc32_c_mbps", "higher"), ("aes_ecb_kB_s", "higher"),
                      ("store_append_per_s", "higher"), ("han_readings_rps_ingest", "higher"),
                      ("ccm_over_ecb", "higher"), ("sml_file_us", "lower"),
                      ("wmbus_telegram_us_mode7_afl", "lower"), ("tls_handshake_ms", "lower"),
                      ("heap_peak_bytes", "lower"), ("hdlc_stream_cpu_percent", "lower"),
                      ("day_telegrams", None), ("heap_budget_bytes", None),
                      ("day_min_heap_resolution_bytes", None),
                      ("heap32_over_64_imports", None)):
        assert cmd_bench.better_when(name) == way, name


def test_compare_names_worse_and_better_beyond_the_tolerance():
    before = _run({"crc32_c_mbps": 100.0, "sml_file_us": 50.0, "heap_peak_bytes": 1000,
                   "day_telegrams": 10, "gone_mbps": 1.0},
                  met={"ccm_over_ecb": 0.5, "boot_to_operational_ms": 40})
    now = _run({"crc32_c_mbps": 80.0, "sml_file_us": 40.0, "heap_peak_bytes": 1050,
                "day_telegrams": 20, "new_ms": 3.0}, quick=True,
               met={"ccm_over_ecb": 0.3, "boot_to_operational_ms": 45})
    c = cmd_bench.compare(now, before)
    assert c["worse"] == ["crc32_c_mbps"]                  # 0.8x a speed
    assert c["better"] == ["sml_file_us"]                  # 0.8x a time
    assert "verdict" not in c["changes"]["heap_peak_bytes"]  # +5 %: within the tolerance
    assert "verdict" not in c["changes"]["day_telegrams"]    # a count: neither
    assert c["changes"]["crc32_c_mbps"] == {"before": 100.0, "now": 80.0, "ratio": 0.8,
                                            "verdict": "worse"}
    assert c["only_now"] == ["new_ms"] and c["only_before"] == ["gone_mbps"]
    assert c["targets_changed"] == {"ccm_over_ecb": {
        "target": "AES-CCM >= 0.4x bulk cryptolib ECB", "before": True, "now": False}}
    assert c["quick_vs_full"] is True
    assert cmd_bench.compare(before, before)["worse"] == []


def test_load_run_reads_the_json_and_the_markdown_it_wrote(tmp_path):
    run = _run({"crc32_c_mbps": 190.5, "heap_live_peak_bytes": 224506},
               met={"ccm_over_ecb": 0.39, "crc16_x25_over_crc32": 1.4})
    md = tmp_path / "B.md"
    md.write_text(cmd_bench.markdown(run, 400))
    back = cmd_bench.load_run(md)
    assert back["figures"] == {"crc32_c_mbps": 190.5, "heap_live_peak_bytes": 224506}
    assert back["targets"]["ccm_over_ecb"]["met"] is False
    assert back["targets"]["crc16_x25_over_crc32"]["met"] is True
    assert back["details"] == {"day_completes_in_128k": False}
    assert back["date"].endswith("UTC")
    js = tmp_path / "b.json"
    js.write_text(json.dumps(run))
    assert cmd_bench.load_run(js)["figures"] == run["figures"]
    assert cmd_bench.compare(run, back)["worse"] == []
    real = cmd_bench.load_run(ROOT / "BENCHMARKS.md")  # the file in the repository parses
    assert real["figures"]["day_min_heap_app_bytes"] > 0 and "day_completes_in_128k" in real[
        "targets"]


@pytest.mark.parametrize("text", ["{not json", '{"a": 1}', "# notes\n\nno table here\n",
                                  "| `x` | fast |\n"])
def test_load_run_refuses_other_files(tmp_path, text):
    p = tmp_path / "x.md"
    p.write_text(text)
    with pytest.raises(ValueError, match="x.md"):
        cmd_bench.load_run(p)


def test_against_from_the_command_line(tmp_path):
    """A real run of one area against the repository's BENCHMARKS.md, and a bad file
    refused before anything runs."""
    gwtool = Path(sys.executable).parent / "gwtool"
    p = subprocess.run([str(gwtool), "bench", "--quick", "--json", "--only", "wmbus",
                        "--against", str(ROOT / "BENCHMARKS.md")], capture_output=True,
                       text=True, cwd=ROOT, timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout)
    cmp = res["against"]
    assert cmp["file"].endswith("BENCHMARKS.md") and cmp["date"]
    assert "wmbus_telegram_us" in cmp["changes"] and cmp["quick_vs_full"] is True
    assert "day_min_heap_app_bytes" in cmp["only_before"]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    p = subprocess.run([str(gwtool), "bench", "--against", str(bad)], capture_output=True,
                       text=True, cwd=ROOT, timeout=60, check=False)
    assert p.returncode == 2 and "no figures" in p.stderr
