"""gwtool bench [--json] [--quick] [--only AREA] [--against FILE]: the gateway's performance in one run.

Each area contributes a module bench_<area>.py with `run(quick: bool) -> dict` of named
figures (measured inside the MicroPython unix port via gwtool.mpy, peers in CPython).
Ratios are computed from figures measured in the same process of the same run. Targets
are reported beside the figures (`targets`), never enforced as timed tests.

Output (JSON): machine, date, quick, figures (positive numbers only: every measurement and
size), details (counters that may be zero, flags, evidence such as the heap bisection
probes), targets ({name: {target, value, met}}), missing (figure names the issue asks
for that this run did not produce), errors ({area: message}), area_seconds.
Area modules name some figures their own way; ALIASES maps them to the issue's names
(both names are kept). Each firmware image is built once per run (see _built_once).

`--against FILE` compares the run with an earlier one (its `--json` output or the
BENCHMARKS.md it wrote): `against` in the JSON, a table after the figures otherwise.
"""
import contextlib
import importlib
import json
import math
import platform
import sys
import time

import click

AREAS = ("foundation", "lmn", "wmbus", "core", "wan", "han", "link", "heap32", "day")

# figure -> (comparison, threshold, what the target says)
TARGETS = {
    "crc16_x25_over_crc32": (">=", 0.9, "viper CRC-16/X.25 >= 0.9x C binascii.crc32"),
    "ccm_over_ecb": (">=", 0.4, "AES-CCM >= 0.4x bulk cryptolib ECB"),
    "three_of_six_viper_over_python": (">=", 10, "viper 3-of-6 >= 10x plain Python"),
    "day_completes_in_128k": ("==", True, "the 24 h day completes in a 128K heap"),
    "day_completes_in_heap_budget": ("==", True,
                                     "the day completes in boards/unix HEAP_BYTES (if not 128K)"),
    "update_image_bytes_esp32_gw": ("<=", 262144, "esp32_gw update image <= 256 KiB"),
    "boot_to_operational_ms": ("<=", 500, "boot to operational <= 500 ms (virtual board)"),
    "boot_fits_heap_budget": ("==", True, "the virtual board boots in its heap budget (HEAP_BYTES)"),
    "hdlc_stream_cpu_percent": ("<=", 5, "HDLC scan+FCS of a 921.6 kbit/s stream < 5 % core"),
}


def _ratio(a, b, nd=2):
    return lambda f: round(f[a] / f[b], nd) if f.get(a) and f.get(b) else None


def _pick(*names, scale=1.0, nd=2):
    def get(f):
        for n in names:
            if isinstance(f.get(n), (int, float)) and not isinstance(f.get(n), bool):
                return round(f[n] * scale, nd)
        return None
    return get


# issue name -> how to derive it from the names the area modules use (first wins)
ALIASES = {
    "crc16_x25_viper_mbps": _pick("crc16_x25_viper_mbps", "crc_viper_mb_s"),
    "crc32_c_mbps": _pick("crc32_c_mbps", "crc32_c_mb_s"),
    "crc16_x25_over_crc32": _pick("crc16_x25_over_crc32", "crc_ratio"),
    "crc16_en13757_viper_mbps": _pick("crc16_en13757_viper_mbps", "wmbus_crc_en13757_MB_s"),
    "three_of_six_viper_mbps": _pick("wmbus_3of6_viper_kB_s", scale=1e-3),
    "aes_ecb_bulk_mbps": _pick("aes_ecb_kB_s", scale=1e-3),
    "aes_ccm_mbps": _pick("aes_ccm_kB_s", scale=1e-3),
    "aes_viper_mbps": _pick("aes_viper_ecb_kB_s", scale=1e-3),
    "aes_viper_over_cryptolib": _ratio("aes_viper_ecb_kB_s", "aes_ecb_kB_s", 3),
    "wmbus_telegram_us": _pick("wmbus_telegram_us_mode5_4rec"),
    "wmbus_mode7_afl_us": _pick("wmbus_telegram_us_mode7_afl"),
    "hdlc_frame_us": lambda f: round(1e6 / f["hdlc_frames_s"], 2) if f.get(
        "hdlc_frames_s") else None,
    "hdlc_stream_cpu_percent": _pick("hdlc_scan_cpu_pct"),
    "ecdsa_sign_ms": _pick("p256_sign_ms"),
    "ecdsa_verify_ms": _pick("p256_verify_ms"),
    "han_readings_rps": _pick("readings_last_rps"),
    "han_readings_rps_ingest": _pick("readings_last_rps_ingest"),
    "han_readings_day_rps": _pick("readings_day_rps"),
    "han_readings_day_rps_ingest": _pick("readings_day_rps_ingest"),
    "sml_file_over_smllib": _ratio("peer_smllib_sml_file_us", "sml_file_us"),
    "crc16_x25_viper_over_crcmod": _ratio("crc16_x25_viper_mbps", "peer_crcmod_x25_mbps"),
}

# what the issue asks for (reported under "missing" when a run did not produce it)
REQUIRED = (
    "crc16_x25_viper_mbps", "crc32_c_mbps", "crc16_x25_over_crc32", "crc16_en13757_viper_mbps",
    "crc16_x25_python_mbps", "crc16_en13757_python_mbps", "crc16_x25_viper_over_python",
    "three_of_six_viper_mbps", "three_of_six_viper_over_python", "aes_ecb_bulk_mbps",
    "aes_ccm_mbps", "ccm_over_ecb", "aes_viper_over_cryptolib", "wmbus_telegram_us",
    "wmbus_mode7_afl_us", "sml_file_us", "hdlc_frame_us", "store_append_per_s",
    "store_bytes_per_value", "ecdsa_sign_ms", "ecdsa_verify_ms", "tls_handshake_ms",
    "cms_taf7_day_ms", "han_readings_rps", "han_readings_rps_ingest",
    "boot_to_operational_ms", "heap_peak_bytes", "day_min_heapsize_bytes",
    "romfs_bytes_esp32_gw", "romfs_bytes_rp2040_gw", "romfs_bytes_unix",
    "update_image_bytes_esp32_gw", "peer_smllib_sml_file_us", "peer_crcmod_x25_mbps",
)


def check_targets(values):
    out = {}
    for k, (op, thr, text) in TARGETS.items():
        if k not in values or values[k] is None:
            out[k] = {"target": text, "met": None}
            continue
        v = values[k]
        met = {">=": v >= thr, "<=": v <= thr, "==": v == thr}[op]
        out[k] = {"target": text, "value": v, "met": bool(met)}
    return out


def _is_figure(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v > 0)


@contextlib.contextmanager
def _built_once():
    """Within one bench run, build each board's image once (areas call build() freely)."""
    from . import build as build_mod

    orig = build_mod.build
    cache = {}

    def build(board, *a, **kw):
        key = (board, a, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = orig(board, *a, **kw)
        return cache[key]

    patched = []
    build_mod.build = build
    for name, mod in list(sys.modules.items()):
        if name.startswith("gwtool.") and getattr(mod, "build", None) is orig:
            mod.build = build
            patched.append(mod)
    try:
        yield
    finally:
        build_mod.build = orig
        for mod in patched:
            mod.build = orig
        for name, mod in list(sys.modules.items()):
            if name.startswith("gwtool.") and getattr(mod, "build", None) is build:
                mod.build = orig


def run_bench(quick=False, only=None, progress=None):
    raw, errors, seconds = {}, {}, {}
    with _built_once():
        for area in AREAS:
            if only and area not in only:
                continue
            name = f"gwtool.bench_{area}"
            if importlib.util.find_spec(name) is None:
                continue
            t = time.monotonic()
            try:
                mod = importlib.import_module(name)
                raw.update(mod.run(quick))
            except Exception as e:  # noqa: BLE001 - one area failing must not hide the rest
                errors[area] = f"{type(e).__name__}: {e}"
            seconds[area] = round(time.monotonic() - t, 2)
            if progress:
                progress(area)
    for k, f in ALIASES.items():
        v = f(raw)
        if v is not None:
            raw[k] = v
    figures = {k: v for k, v in raw.items() if _is_figure(v)}
    details = {k: v for k, v in raw.items() if not _is_figure(v)}
    return {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": quick,
        "figures": dict(sorted(figures.items())),
        "details": dict(sorted(details.items())),
        "targets": check_targets(raw),
        "missing": [k for k in REQUIRED if k not in figures],
        "errors": errors,
        "area_seconds": seconds,
    }


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os
    import subprocess

    from .paths import micropython

    try:
        mp = subprocess.run([micropython(), "-c", "import sys; print(sys.version)"],
                            capture_output=True, text=True, timeout=10,
                            check=False).stdout.strip()
    except Exception:  # noqa: BLE001 - informative only
        mp = None
    return {"platform": platform.platform(), "python": sys.version.split()[0], "cpu": cpu,
            "cores": os.cpu_count(), "micropython": mp}


# which way a figure is better, by how it is named (what is not matched is a count or a
# setting: reported, never called better or worse)
_HIGHER = ("_mbps", "_kB_s", "_MB_s", "_mb_s", "_per_s", "_rps", "_rps_ingest", "_frames_s",
           "_cases_s", "crc_ratio")
_LOWER = ("_us", "_ms", "_bytes", "_pct", "_percent", "_wall_s")
_NEUTRAL = ("_resolution_bytes", "_budget_bytes", "heap32_over_64_")
TOLERANCE = 0.10  # timings on a shared host vary by a few percent between runs


def better_when(name):
    """"higher", "lower" or None (a count or a setting) for a figure's name."""
    if any(n in name for n in _NEUTRAL):
        return None
    if name.endswith(_HIGHER) or "_over_" in name:
        return "higher"
    if name.endswith(_LOWER) or "_us_" in name:
        return "lower"
    return None


def load_run(path):
    """An earlier run: the JSON `gwtool bench --json` printed, or the Markdown that
    `--markdown` wrote (its figure table, target table and details block). Raises
    ValueError naming the file when it is neither."""
    with open(path) as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        try:
            run = json.loads(text)
        except ValueError as e:
            raise ValueError(f"{path}: not a gwtool bench JSON: {e}") from None
        if not isinstance(run, dict) or not isinstance(run.get("figures"), dict):
            raise ValueError(f"{path}: no figures (not the output of gwtool bench --json)")
        return run
    figures, targets, details, date, block = {}, {}, {}, None, None
    by_text = {t[2]: k for k, t in TARGETS.items()}
    for line in text.splitlines():
        if block is not None:
            if line.startswith("```"):
                try:
                    details = json.loads("\n".join(block))
                except ValueError as e:
                    raise ValueError(f"{path}: details block is not JSON: {e}") from None
                block = None
            else:
                block.append(line)
        elif line.startswith("```json"):
            block = []
        elif line.startswith("- date: "):
            date = line[8:].split(" (")[0]
        elif line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            try:
                figures[cells[0].strip("`")] = float(cells[1])
            except (IndexError, ValueError):
                raise ValueError(f"{path}: bad figure row: {line!r}") from None
        elif line.startswith("| ") and line.count("|") == 4:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] in by_text:
                targets[by_text[cells[0]]] = {"target": cells[0],
                                              "met": {"True": True, "False": False}.get(cells[2])}
    if not figures:
        raise ValueError(f"{path}: no figure table (not a BENCHMARKS.md from gwtool bench)")
    run = {"figures": figures, "targets": targets, "details": details, "date": date}
    if "--markdown BENCHMARKS.md` (" in text:  # the line markdown() writes says which run
        run["quick"] = "--markdown BENCHMARKS.md` (quick run" in text
    return run


def compare(now, before, tolerance=TOLERANCE):
    """Figure by figure, `now` against `before`: ratio now/before and whether it got
    better or worse beyond the tolerance; targets whose met flag changed; figures only
    one of the runs has. Comparing a --quick run with a full one is allowed but said
    (`quick_vs_full`): the day and the repetitions differ."""
    a, b = now["figures"], before["figures"]
    changes, worse, better = {}, [], []
    for k in sorted(set(a) & set(b)):
        if not b[k]:
            continue
        r = a[k] / b[k]
        way = better_when(k)
        c = {"before": b[k], "now": a[k], "ratio": round(r, 3)}
        if way:
            gain = r if way == "higher" else 1 / r if r else math.inf
            if gain < 1 - tolerance:
                c["verdict"] = "worse"
                worse.append(k)
            elif gain > 1 + tolerance:
                c["verdict"] = "better"
                better.append(k)
        changes[k] = c
    targets = {}
    for k, t in now.get("targets", {}).items():
        old = before.get("targets", {}).get(k, {}).get("met")
        if old is not None and t.get("met") is not None and old != t["met"]:
            targets[k] = {"target": t["target"], "before": old, "now": t["met"]}
    out = {"changes": changes, "worse": worse, "better": better, "targets_changed": targets,
           "only_now": sorted(set(a) - set(b)), "only_before": sorted(set(b) - set(a)),
           "tolerance": tolerance}
    if "quick" in before and before["quick"] != now.get("quick"):
        out["quick_vs_full"] = True
    return out


def markdown(res, wall_s):
    """BENCHMARKS.md from one run: machine, targets, every figure, the details as JSON.
    Written by the run itself so the file never mixes numbers of different runs."""
    m = res["machine"]
    kind = "quick run (`--quick`)" if res["quick"] else "full run"
    lines = [
        "# Benchmarks: latest full run", "",
        (f"Written by `gwtool bench --markdown BENCHMARKS.md` ({kind}); how to read each "
         "figure: README.md \"Benchmarks: how to read each figure\"; what the heap figures "
         "say and what to cut next: docs/memory.md. Regenerate after changes that touch "
         "performance or memory."), "",
        "## Machine", "",
        "- date: " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        + f" (whole run {wall_s / 60:.1f} min)",
        f"- CPU: {m['cpu']} ({m['cores']} cores, shared with other jobs)",
        f"- OS: {m['platform']}; CPython {m['python']}",
        f"- MicroPython: {m['micropython']} (unix port, x64)",
        "- run time per area (s): " + json.dumps(res["area_seconds"]), "",
        "## Targets", "", "| target | value | met |", "|---|---|---|"]
    for t in res["targets"].values():
        lines.append(f"| {t['target']} | {t.get('value')} | {t['met']} |")
    lines += ["", "## Figures", "", "| figure | value |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in res["figures"].items()]
    if res["missing"] or res["errors"]:
        lines += ["", "## Not measured", "", "- missing: " + ", ".join(res["missing"]),
                  "- errors: " + json.dumps(res["errors"])]
    lines += ["", "## Details", "", "```json", json.dumps(res["details"], indent=1), "```", ""]
    return "\n".join(lines)


@click.command("bench")
@click.option("--json", "as_json", is_flag=True)
@click.option("--quick", is_flag=True, help="CI smoke run, under 60 s")
@click.option("--only", multiple=True, type=click.Choice(AREAS))
@click.option("--markdown", "md", type=click.Path(dir_okay=False),
              help="also write the run as Markdown (BENCHMARKS.md)")
@click.option("--against", type=click.Path(exists=True, dir_okay=False),
              help="compare with an earlier run (its --json output or BENCHMARKS.md)")
def command(as_json, quick, only, md, against):
    """Measure throughput, latency, memory and image size; print JSON."""
    t0 = time.monotonic()
    try:
        before = load_run(against) if against else None
    except ValueError as e:  # read first: a bad file must not cost a 7-minute run
        raise click.BadParameter(str(e), param_hint="--against") from None
    with contextlib.redirect_stdout(sys.stderr):  # stray prints must not corrupt the JSON
        res = run_bench(quick, set(only) or None,
                        progress=None if as_json else lambda a: click.echo(f"... {a}",
                                                                           err=True))
    if before is not None:
        res["against"] = dict(compare(res, before), file=against,
                              date=before.get("date"))
    if md:
        with open(md, "w") as f:
            f.write(markdown(res, time.monotonic() - t0))
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    for k, v in res["figures"].items():
        click.echo(f"{k:40} {v}")
    for k, t in res["targets"].items():
        mark = {True: "ok  ", False: "MISS", None: "n/a "}[t["met"]]
        click.echo(f"[{mark}] {t['target']}: {t.get('value')}")
    if res["missing"]:
        click.echo("not measured in this run: " + ", ".join(res["missing"]))
    if before is not None:
        cmp = res["against"]
        click.echo(f"against {against}: {len(cmp['worse'])} worse, {len(cmp['better'])} "
                   f"better (beyond {cmp['tolerance']:.0%})")
        for k, c in cmp["changes"].items():
            if c["ratio"] != 1:
                click.echo(f"  {k:40} {c['before']} -> {c['now']}  x{c['ratio']}"
                           f"  {c.get('verdict', '')}".rstrip())
        for k, t in cmp["targets_changed"].items():
            click.echo(f"  target {t['target']}: met {t['before']} -> {t['now']}")
    for a, e in res["errors"].items():
        click.echo(f"error in {a}: {e}", err=True)
