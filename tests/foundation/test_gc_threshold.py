"""The running gateway collects every GC_THRESHOLD bytes (boards/*/board.py), which keeps
its heap compact: the simulated day's smallest heap fell from ~2.4x to ~1.2x the live set
(BENCHMARKS.md, docs/memory.md)."""
import ast

import pytest

from gwtool.paths import BOARDS
from gwtool.testing import raw_exec
from gwtool.vboard import VBoard


def _board_value(board, name):
    for node in ast.parse((BOARDS / board / "board.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    return None


@pytest.mark.parametrize("board", ["unix", "esp32_gw", "rp2040_gw"])
def test_every_board_sets_a_gc_threshold(board):
    thr = _board_value(board, "GC_THRESHOLD")
    heap = _board_value(board, "HEAP_BYTES")
    assert isinstance(thr, int) and 1024 <= thr <= heap // 4, (board, thr)


def test_vboard_runs_with_the_boards_threshold(tmp_path):
    vb = VBoard(tmp_path / "vb").start()
    try:
        out, err = raw_exec(vb.endpoints["repl"], "import gc; print(gc.threshold())")
    finally:
        vb.stop()
    assert not err, err
    assert int(out.strip().splitlines()[-1]) == _board_value("unix", "GC_THRESHOLD")
