"""Board folders: the frozen manifests name real files, the READMEs match board.py."""
import re

import pytest
from gwtool.boards import board_facts
from gwtool.paths import BOARDS


def eval_manifest(path):
    """Run a MicroPython manifest with recording stand-ins for its functions."""
    calls = []

    def rec(kind):
        return lambda *a, **kw: calls.append((kind, a, kw))

    names = {k: rec(k) for k in ("include", "freeze", "module", "package", "require",
                                 "metadata", "freeze_as_str", "freeze_as_mpy")}
    exec(compile(path.read_text(), str(path), "exec"), names)  # noqa: S102 - our file
    return calls


@pytest.mark.parametrize("board", ["esp32_gw", "rp2040_gw"])
def test_frozen_manifest_freezes_boot_and_main(board):
    path = BOARDS / board / "frozen_manifest.py"
    calls = eval_manifest(path)
    assert ("include", ("$(PORT_DIR)/boards/manifest.py",), {}) in calls
    freezes = [c for c in calls if c[0] == "freeze"]
    assert len(freezes) == 1
    src, scripts = freezes[0][1]
    assert sorted(scripts) == ["boot.py", "main.py"]
    for s in scripts:  # relative paths resolve against the manifest's directory
        assert (path.parent / src / s).is_file()
    assert "FROZEN_MANIFEST=" in path.read_text()


def test_frozen_app_manifest_freezes_what_the_image_ships():
    """esp32_gw's firmware with the application frozen in: the port's modules, boot.py
    and main.py, and through the board's manifest exactly the files of the ROMFS image."""
    from gwtool.build import board_dir
    from gwtool.manifest import load

    path = BOARDS / "esp32_gw" / "frozen_app_manifest.py"
    calls = eval_manifest(path)
    assert calls[0] == ("include", ("$(PORT_DIR)/boards/manifest.py",), {})
    assert ("freeze", ("../../frozen", ("boot.py", "main.py")), {}) in calls
    assert ("include", ("manifest.py",), {}) in calls
    assert "FROZEN_MANIFEST=" in path.read_text()
    # the manifest that gwtool.build makes the image from, not a copy of its list
    included = (path.parent / calls[-1][1][0]).resolve()
    assert included == (board_dir("esp32_gw") / "manifest.py").resolve()
    assert len(load(included, board="esp32_gw").files) > 100


@pytest.mark.parametrize("board", ["esp32_gw", "rp2040_gw"])
def test_readme_pin_map_matches_board_py(board):
    pins = board_facts(board)["PINS"]
    text = (BOARDS / board / "README.md").read_text()
    table = dict(re.findall(r"^\| `(\w+)` \| (\d+) \|", text, re.MULTILINE))
    assert {k: int(v) for k, v in table.items()} == pins
    for part in ("CC1101", "868.95", "ATECC608", "RV-3028", "DE", "bistable", "PWR", "TLS",
                 "LMC", "wMT", "RSSI"):
        assert part in text, part
