"""gwtool bench [--json] [--quick] [--only AREA]: the gateway's performance in one run.

Each area contributes a module bench_<area>.py with `run(quick: bool) -> dict` of named
figures (measured inside the MicroPython unix port via gwtool.mpy, peers in CPython).
Ratios are computed from figures measured in the same process of the same run. Targets
are reported beside the figures (`targets`), never enforced as timed tests.
"""
import importlib
import json
import platform
import sys
import time

import click

AREAS = ("foundation", "lmn", "wmbus", "core", "wan", "han", "day")

# figure -> (comparison, threshold, what the target says)
TARGETS = {
    "crc16_x25_over_crc32": (">=", 0.9, "viper CRC-16/X.25 >= 0.9x C binascii.crc32"),
    "ccm_over_ecb": (">=", 0.4, "AES-CCM >= 0.4x bulk cryptolib ECB"),
    "three_of_six_viper_over_python": (">=", 10, "viper 3-of-6 >= 10x plain Python"),
    "day_completes_in_128k": ("==", True, "the 24 h day completes in a 128K heap"),
    "update_image_bytes_esp32_gw": ("<=", 262144, "esp32_gw update image <= 256 KiB"),
    "boot_to_operational_ms": ("<=", 500, "boot to operational <= 500 ms (virtual board)"),
    "hdlc_stream_cpu_percent": ("<=", 5, "HDLC scan+FCS of a 921.6 kbit/s stream < 5 % core"),
}


def check_targets(figures):
    out = {}
    for k, (op, thr, text) in TARGETS.items():
        if k not in figures or figures[k] is None:
            out[k] = {"target": text, "met": None}
            continue
        v = figures[k]
        met = {">=": v >= thr, "<=": v <= thr, "==": v == thr}[op]
        out[k] = {"target": text, "value": v, "met": bool(met)}
    return out


def run_bench(quick=False, only=None, progress=None):
    figures, errors = {}, {}
    for area in AREAS:
        if only and area not in only:
            continue
        name = f"gwtool.bench_{area}"
        if importlib.util.find_spec(name) is None:
            continue
        t = time.monotonic()
        try:
            res = importlib.import_module(name).run(quick)
            figures.update(res)
        except Exception as e:  # noqa: BLE001 - one area failing must not hide the rest
            errors[area] = f"{type(e).__name__}: {e}"
        figures[f"bench_{area}_s"] = round(time.monotonic() - t, 2)
        if progress:
            progress(area)
    return {
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "cpu": platform.processor() or platform.machine()},
        "quick": quick,
        "figures": figures,
        "targets": check_targets(figures),
        "errors": errors,
    }


@click.command("bench")
@click.option("--json", "as_json", is_flag=True)
@click.option("--quick", is_flag=True, help="CI smoke run, under 60 s")
@click.option("--only", multiple=True, type=click.Choice(AREAS))
def command(as_json, quick, only):
    """Measure throughput, latency, memory and image size; print JSON."""
    res = run_bench(quick, set(only) or None,
                    progress=None if as_json else lambda a: click.echo(f"... {a}", err=True))
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    for k, v in sorted(res["figures"].items()):
        click.echo(f"{k:40} {v}")
    for k, t in res["targets"].items():
        mark = {True: "ok  ", False: "MISS", None: "n/a "}[t["met"]]
        click.echo(f"[{mark}] {t['target']}: {t.get('value')}")
    for a, e in res["errors"].items():
        click.echo(f"error in {a}: {e}", err=True)
