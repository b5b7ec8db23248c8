"""The firmware's heap on a 32-bit MicroPython, measured beside the x64 unix port.

The board budgets (`boards/*/board.py` HEAP_BYTES) are for 32-bit ports; the day is run
on the x64 unix port, where a word, a pointer and a GC block are twice as big. How much
smaller the same objects are on 32 bit is measured here, not assumed: the same script
runs on the x64 unix port and on MicroPython's webassembly port (a 32-bit build: 4-byte
words, 16-byte GC blocks; the npm package pinned in host_tools/wasm32, run by Node.js).

That port has no viper or native code, no tls, socket, cryptolib or ROMFS, so the
modules that need them do not load there (the others, ~84 of ~114, do). It collects only
between top-level calls (host_tools/wasm32/run.mjs), and it grows its heap on demand, so
its live heap is read between steps and no smallest heap can be bisected on it.

Steps, the same on both ports, each after a collection:
1. import every application module that loads on the 32-bit port, from .mpy files in
   RAM (the port has no ROMFS; on x64 the same modules are also imported from the ROMFS
   image, which keeps the bytecode out of the heap);
2. the core's state: a Core with TAF7 and 40 OML channels with 8 values each (the
   per-channel state of the day).

run(quick) -> figures:
- heap32_import_ram_bytes / heap64_import_ram_bytes: step 1 on each port;
- heap64_import_romfs_bytes: step 1 from the image on x64;
- heap32_import_romfs_est_bytes: step 1 from an image on 32 bit, estimated as the 32-bit
  RAM import minus what RAM loading adds there. On x64 that is measured (RAM minus
  ROMFS import). It is byte data (each function's bytecode, the text of str and bytes
  constants and of new qstrs), as many bytes on 32 bit, but each allocation is rounded
  up to 16-byte instead of 32-byte blocks: the difference is summed over the
  allocations that the .mpy files make (gwtool.mpyinfo ram_only; qstr text, in a few
  chunks, is taken as equal). heap64_ram_only_model_bytes, the same sum in 32-byte
  blocks, is what the model says RAM loading adds on x64, beside the measured
  heap64_ram_only_bytes (2026-11-25: 135,520 vs 138,496);
- heap32_over_64_imports: that estimate over heap64_import_romfs_bytes;
- heap32_over_64_imports_same_qstrs: the same with as many new qstrs as on x64. The x64
  unix build has more names built in (socket, tls, termios, ...: static qstrs), so the
  32-bit port makes more qstrs for the same modules (heap32_new_qstrs against
  heap64_new_qstrs); their share of heap32_qstr_bytes is taken off. A board's build has
  its own built-in names, which are closer to the unix port's (it has socket and tls);
- heap32_state_bytes / heap64_state_bytes and heap32_over_64_state: step 2;
- heap64_romfs_kept_bytes / heap32_romfs_kept_bytes: what the ROMFS import of those
  modules keeps on the heap and a firmware with them frozen in keeps in flash (their
  qstr and constant tables, constants, the raw code of nested functions: gwtool.mpyinfo
  romfs_kept, checked against MicroPython's heap in tests/foundation/test_build.py);
  heap64_romfs_qstr_pool_bytes / heap32_qstr_pool_bytes: the qstr pools their imports
  grew (frozen, the qstrs are the firmware's own);
- heap64_import_frozen_est_bytes / heap32_import_frozen_est_bytes: step 1 with the
  modules frozen into the firmware, estimated as the ROMFS import minus both;
  heap32_frozen_over_romfs: that over heap32_import_romfs_est_bytes.
details: heap32_modules (how many modules the comparison covers), heap32_port.
"""
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import mpy
from .paths import ROOT

RUNNER = ROOT / "host_tools" / "wasm32" / "run.mjs"
PACKAGE = ROOT / "host_tools" / "wasm32" / "node_modules" / "@micropython" / \
    "micropython-webassembly-pyscript"

# imported before the baseline on both ports: the standard library differs between the
# two builds (frozen or C), the application's own objects are what is compared
_STDLIB = ("asyncio", "json", "struct", "os", "binascii", "hashlib", "array", "collections",
           "errno", "time", "select", "io", "re", "deflate", "random", "math", "micropython")

# "#---" separates the steps (see run.mjs); MODS None: try every candidate, keep the ones
# that load; ROM: the ROMFS image to import from (x64 only), STATE: run step 2
_SCRIPT = r"""
import gc, sys, os, json
for m in %(stdlib)r:
    try:
        __import__(m)
    except ImportError:
        pass
MODS = %(mods)r
ROM = %(rom)r
if ROM:
    import vfs
    vfs.mount(vfs.VfsRom(open(ROM, "rb").read()), "/rom")
    sys.path[0] = "/rom"
OUT = {"maxsize": sys.maxsize}
import micropython
#---
a0 = gc.mem_alloc()
micropython.qstr_info()  # before and after the imports: the host reads both lines
ok = []
for m in MODS:
    try:
        __import__(m)
        ok.append(m)
    except Exception:
        pass
micropython.qstr_info()
OUT["loaded"] = sorted(k for k in sys.modules if k.split(".")[0] in %(pkgs)r)
OUT["ok"] = ok
#---
OUT["imports"] = gc.mem_alloc() - a0
if %(state)d:
    from core.core import Core
    try:
        os.mkdir(%(work)r)
    except OSError:
        pass
    class _Clock:
        t = 1767225600
        def __call__(self):
            return self.t
    CLK = _Clock()
    OBIS = ("1-0:1.8.0*255", "8-0:1.0.0*255")
    IDS = ["KAM-%%08d" %% (i // 2) for i in range(40)]
    for m in IDS + list(OBIS):
        hasattr(Core, m)  # interned first, as the core interns a channel's keys
    CORE = Core(%(work)r + "/store", CLK, config={"core": {"tafs": ["TAF7"]}})
#---
a1 = gc.mem_alloc()
if %(state)d:
    for k in range(8):
        CLK.t = 1767225600 + 900 * k
        for i in range(40):
            CORE.ingest(IDS[i], OBIS[i %% 2], 100 + i + k, 0, 30, CLK.t, None)
#---
OUT["state"] = gc.mem_alloc() - a1
print("HEAP32 " + json.dumps(OUT))
"""

# the x64 side of run.mjs: the same steps in one namespace, a collection after each
_X64_DRIVER = r"""
import sys, gc
sys.path.insert(0, %(stage)r)
g = {"__name__": "__main__"}
for part in open(%(script)r).read().split("#---\n"):
    exec(part, g)
    gc.collect()
"""


def available():
    """Node.js and the pinned package (make setup installs it with npm ci)."""
    return shutil.which("node") is not None and (PACKAGE / "package.json").exists()


def _script(mods, rom, state, work, pkgs):
    return _SCRIPT % {"stdlib": _STDLIB, "mods": mods, "rom": rom, "state": int(state),
                      "work": work, "pkgs": pkgs}


def _result(out):
    q = [tuple(map(int, t)) for t in re.findall(
        r"n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)", out)]
    for line in out.splitlines():
        if line.startswith("HEAP32 ") and len(q) == 2:
            res = json.loads(line[7:])
            res["qstrs"] = q[1][0] - q[0][0]  # new qstrs made by the imports
            res["qstr_bytes"] = q[1][2] - q[0][2]  # their pools and text
            res["qstr_pool_bytes"] = (q[1][2] - q[1][1]) - (q[0][2] - q[0][1])  # pools only
            return res
    raise RuntimeError("no result from the probe: " + out[-500:])


def run_wasm(stage, code, timeout=120):
    with tempfile.TemporaryDirectory(prefix="heap32-") as d:
        script = Path(d) / "probe.py"
        script.write_text(code)
        p = subprocess.run(["node", str(RUNNER), str(stage), str(script)], cwd=RUNNER.parent,
                           capture_output=True, text=True, timeout=timeout, check=False)
    if p.returncode:
        raise RuntimeError(f"wasm32 port exited {p.returncode}: {(p.stdout + p.stderr)[-800:]}")
    return _result(p.stdout)


def run_x64(stage, code):
    with tempfile.TemporaryDirectory(prefix="heap64-") as d:
        script = Path(d) / "probe.py"
        script.write_text(code)
        drv = Path(d) / "drv.py"
        drv.write_text(_X64_DRIVER % {"stage": str(stage), "script": str(script)})
        return _result(mpy.run(script=drv, heapsize="8M", path=[]))


def compare(stage, romfs):
    """Both ports, the same steps; returns the raw results {"wasm32": .., "x64": ..,
    "x64_romfs": ..}. Raises if the two ports did not load the same modules."""
    pkgs = sorted({p.name if p.is_dir() else p.stem for p in Path(stage).iterdir()
                   if p.suffix == ".mpy" or p.is_dir()} - {"_build", "board"})
    from .build import stage_modules

    cands = [m for m in stage_modules(stage) if m not in ("_build", "board")]
    with tempfile.TemporaryDirectory(prefix="heap32w-") as work:
        w = run_wasm(stage, _script(cands, None, True, "/tmp/heap32", pkgs))
        x = run_x64(stage, _script(w["ok"], None, True, work + "/x", pkgs))
        r = run_x64(stage, _script(w["ok"], str(romfs), False, work + "/r", pkgs))
    if w["maxsize"] != 2 ** 31 - 1 or x["maxsize"] != 2 ** 63 - 1:
        raise RuntimeError(f"not a 32/64-bit pair: {w['maxsize']}, {x['maxsize']}")
    if w["loaded"] != x["loaded"] or x["loaded"] != r["loaded"]:
        diff = sorted(set(w["loaded"]) ^ set(x["loaded"]) ^ set(r["loaded"]))
        raise RuntimeError(f"the ports loaded different modules: {diff}")
    return {"wasm32": w, "x64": x, "x64_romfs": r}


def _mpy_infos(stage, modules):
    """gwtool.mpyinfo.inspect() of each module's .mpy file in a built stage folder."""
    from .mpyinfo import inspect

    for m in modules:
        base = Path(stage, *m.split("."))
        yield inspect(base / "__init__.mpy" if base.is_dir() else base.with_suffix(".mpy"))


def ram_only(stage, modules):
    """The heap that the RAM-only allocations of these modules' .mpy files take on x64
    (32-byte GC blocks) and on 32 bit (16-byte blocks): (x64 bytes, 32-bit bytes)."""
    from .mpyinfo import heap_bytes

    sizes = [n for info in _mpy_infos(stage, modules) for n in info["ram_only"]]
    return sum(heap_bytes(n, 8) for n in sizes), sum(heap_bytes(n, 4) for n in sizes)


def romfs_kept(stage, modules):
    """What a ROMFS import of these modules keeps on the heap and a firmware with them
    frozen in would keep in flash (gwtool.mpyinfo romfs_kept): (x64 bytes, 32-bit bytes)."""
    from .mpyinfo import kept_bytes

    kept = [k for info in _mpy_infos(stage, modules) for k in info["romfs_kept"]]
    return kept_bytes(kept, 8), kept_bytes(kept, 4)


def figures(res, stage):
    w, x, r = res["wasm32"], res["x64"], res["x64_romfs"]
    ram_only_64 = x["imports"] - r["imports"]
    model64, model32 = ram_only(stage, w["loaded"])
    gain = model64 - model32
    rom32 = w["imports"] - (ram_only_64 - gain)
    kept64, kept32 = romfs_kept(stage, w["loaded"])
    # frozen: the modules' qstrs are the firmware's own (no pool on the heap) and what
    # romfs_kept lists is in flash; the rest (module dicts, functions, classes, what
    # the module bodies make) is on the heap either way
    frozen64 = r["imports"] - kept64 - r["qstr_pool_bytes"]
    frozen32 = rom32 - kept32 - w["qstr_pool_bytes"]
    return {
        "heap64_romfs_kept_bytes": kept64,
        "heap32_romfs_kept_bytes": kept32,
        "heap64_romfs_qstr_pool_bytes": r["qstr_pool_bytes"],
        "heap32_qstr_pool_bytes": w["qstr_pool_bytes"],
        "heap64_import_frozen_est_bytes": frozen64,
        "heap32_import_frozen_est_bytes": frozen32,
        "heap32_frozen_over_romfs": round(frozen32 / rom32, 3),
        "heap32_import_ram_bytes": w["imports"],
        "heap64_import_ram_bytes": x["imports"],
        "heap64_import_romfs_bytes": r["imports"],
        "heap32_import_romfs_est_bytes": rom32,
        "heap32_over_64_imports": round(rom32 / r["imports"], 3),
        "heap32_over_64_imports_same_qstrs": round(
            (rom32 - w["qstr_bytes"] * max(0, w["qstrs"] - x["qstrs"]) / w["qstrs"])
            / r["imports"], 3),
        "heap32_state_bytes": w["state"],
        "heap64_state_bytes": x["state"],
        "heap32_over_64_state": round(w["state"] / x["state"], 3),
        "heap64_ram_only_bytes": ram_only_64,
        "heap64_ram_only_model_bytes": model64,
        "heap32_ram_only_rounding_gain_bytes": gain,
        "heap32_modules": len(w["loaded"]),
        "heap32_new_qstrs": w["qstrs"],
        "heap64_new_qstrs": x["qstrs"],
        "heap32_qstr_bytes": w["qstr_bytes"],
        "heap64_qstr_bytes": x["qstr_bytes"],
        "heap64_romfs_qstr_bytes": r["qstr_bytes"],
        "heap32_port": "MicroPython webassembly (pyscript variant) 1.27.0, Node.js",
    }


def run(quick):
    if not available():
        return {"heap32_port": "not installed (host_tools/wasm32: npm ci; needs Node.js)"}
    from .build import build
    from .paths import romfs_path

    build("unix")
    romfs = romfs_path("unix")
    stage = romfs.parent / "stage"
    return figures(compare(stage, romfs), stage)
