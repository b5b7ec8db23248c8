"""The core's bench function runs and yields positive figures (values: gwtool bench)."""
from gwtool import bench_core


def test_bench_core_quick():
    r = bench_core.run(True)
    for k in ("store_append_per_s", "store_bytes_per_value", "ingest_values_per_s",
              "oml_query_ms"):
        assert r[k] > 0, (k, r)
    assert r["oml_record_bytes"] == 7 + 28 + 4
