"""gwtool deploy: build, put the image on the gateway, restart, confirm the version."""
import hashlib
import json
import os
import time

import pytest
from gwtool.cmd_deploy import image_stamp

VBOARD_RELOADABLE = True  # deploy mounts the new image next to the running one

# These tests exercise the toolchain, not the heap budget (tests/foundation and the bench
# hold the firmware to it): headroom so that a layer over budget cannot fail them.
VBOARD_EXTRA_HEAP = 64 * 1024


def test_deploy_to_the_virtual_board_runs_the_new_build(gw, gateway):
    with gateway.link() as link:
        before = link.info()
    if not gateway.virtual:  # --port: a real board, whichever app board it runs
        if not before.get("board"):
            pytest.skip("no application on the board yet: gwtool deploy --board B first")
        time.sleep(1.1)
        res = json.loads(gw("deploy", "--board", before["board"], "--port", gateway.port,
                            "--json").stdout)
        assert res["confirmed"] and res["built"] > before["built"]
        return
    time.sleep(1.1)  # BUILT has a resolution of one second
    res = json.loads(gw("deploy", "--board", "unix", "--port", gateway.port, "--json").stdout)
    assert res["method"] == "vboard" and res["confirmed"]
    assert res["built"] > before["built"] and res["version"] == before["version"]
    romfs = gateway.vboard.workdir / "rom" / "app.romfs"
    assert res["image"] == str(romfs) and romfs.stat().st_size == res["romfs_bytes"]
    st = json.loads(gw("status", "-p", gateway.port, "--json").output)
    assert st["version"] == res["version"] and st["state"] == "operational"
    with gateway.link() as link:
        assert link.info()["built"] == res["built"]
    # the image in place is what a power cycle boots
    assert gateway.hard_reset()["built"] == res["built"]


def test_deploy_refuses_a_board_mismatch(gw, gateway):
    other = "esp32_gw" if gateway.virtual else "unix"
    r = gw("deploy", "--board", other, "--port", gateway.port, ok=False)
    assert r.exit_code == 2 and ("virtual board" in r.output or "real board" in r.output)


def test_deploy_dry_run_for_a_real_board(gw, tmp_path):
    out = json.loads(gw("deploy", "--board", "rp2040_gw", "--build-dir", tmp_path / "b",
                        "--method", "romfs", "--dry-run", "--json").stdout)
    image = str(tmp_path / "b" / "app.romfs")
    assert out["image"] == image and out["dry_run"] and not out["confirmed"]
    assert out["plan"][1].endswith(f"connect <port> romfs deploy {image}")
    stamp = image_stamp(image)
    assert out["built"] == stamp["built"] and stamp["board"] == "rp2040_gw"
    text = gw("deploy", "--board", "rp2040_gw", "--build-dir", tmp_path / "b", "--no-build",
              "--method", "copy", "--dry-run").output
    assert "would: copy" in text and "to :/rom/" in text and "hard reset" in text
    r = gw("deploy", "--board", "rp2040_gw", "--build-dir", tmp_path / "b", ok=False)
    assert r.exit_code == 2 and "--port is required" in r.output


def test_copy_method_transfers_the_stage_and_prunes_stale_files(gateway, tmp_path):
    """The path for ports without ROMFS, aimed at /data here (the vboard's /rom is ROM)."""
    from gwtool.cmd_deploy import copy_files

    stage = tmp_path / "out" / "stage"
    (stage / "pkg").mkdir(parents=True)
    files = {"a.mpy": os.urandom(1500), "pkg/__init__.mpy": b"", "pkg/b.mpy": os.urandom(700)}
    for rel, data in files.items():
        (stage / rel).write_bytes(data)
    with gateway.link() as link:
        link.write_file("/data/rc/pkg/stale.mpy", b"old")
        assert copy_files(link, tmp_path / "out", root="/data/rc") == 1
        for rel, data in files.items():
            assert link.sha256(f"/data/rc/{rel}") == hashlib.sha256(data).hexdigest()
        assert link.sha256("/data/rc/pkg/stale.mpy") is None
