"""gwtool.bench_link runs and returns its named figures (values are not judged here)."""
from gwtool import bench_link


def test_bench_link_quick_figures():
    res = bench_link.run(True)
    assert set(res) == {"at_roundtrip_us", "line_split_mb_s", "heap_link_m_bytes",
                        "bringup_ms"}
    assert res["bringup_ms"] > 0, "the link did not come up against the emulator"
    assert res["heap_link_m_bytes"] > 1000 and res["at_roundtrip_us"] > 0
