"""End to end: boot the virtual board from its ROMFS image, use its REPL, shut it down."""
import json
import subprocess
import time

import pytest
import serial

from gwtool.paths import ROOT
from gwtool.vboard import VBoard
from gwtool.testing import raw_exec  # noqa: E402,F401

MPREMOTE = str(ROOT / ".venv/bin/mpremote")


@pytest.fixture(scope="module")
def vboard(tmp_path_factory):
    vb = VBoard(tmp_path_factory.mktemp("vb")).start()
    yield vb
    vb.stop()


def test_endpoints_file(vboard):
    eps = json.loads((vboard.workdir / "endpoints.json").read_text())
    for key in ("repl", "rs485", "radio", "han", "pid"):
        assert key in eps
    assert eps["repl"].startswith("/dev/pts/") and eps["rs485"].startswith("/dev/pts/")
    assert eps["pid"] == vboard.proc.pid


def test_pyserial_raw_repl_runs_diag(vboard):
    out, err = raw_exec(vboard.endpoints["repl"], "import diag; diag.status()")
    assert err == ""
    st = json.loads(out)
    assert st["state"] == "operational" and st["board"] == "unix"
    assert {"lmn", "radio", "taf", "wan", "han", "leds", "repl"} <= set(st["tasks"])
    assert all(t["state"] == "running" for t in st["tasks"].values())
    assert st["heap"]["free"] > 0 and st["heap"]["peak"] >= st["heap"]["used"] // 2


def test_app_is_imported_from_romfs(vboard):
    out, err = raw_exec(vboard.endpoints["repl"],
                        "import app, sys; print(app.__file__, sys.path[0])")
    assert err == "" and out.split() == ["/rom/app/__init__.mpy", "/rom"]


def test_vboard_config_is_not_kept_after_boot(vboard):
    # boards/unix/board.py booted(): the vboard configuration (meters' TLS keys, set-up
    # sections) is dropped once the services are set up but the image path (gwtool deploy
    # and reset read it); config() reads the file again
    keys = sorted(json.loads((vboard.workdir / "vboard.json").read_text()))
    code = ("import vboot, board, app\n"
            "print(sorted(vboot.CONFIG), app.CTX.hal.vboard, sorted(board.config())"
            f" == {keys!r})")
    out, err = raw_exec(vboard.endpoints["repl"], code)
    assert err == "" and out.split() == ["['romfs']", "{}", "True"], (out, err)


def test_base_boot_set_of_modules(vboard):
    # each module costs a module object, its globals and path qstrs: the base's modules
    # (hal.unix.console/tty/host_nic were folded into board.py, pty_uart and net)
    out, err = raw_exec(vboard.endpoints["repl"], "import sys\nprint(' '.join(sorted("
                        "m for m in sys.modules if m.split('.')[0] in "
                        "('hal', 'app', 'drivers', 'board'))))")
    assert err == "" and out.split() == [
        "app", "app.leds", "app.repl", "app.supervisor", "board", "drivers", "drivers.cc1101",
        "drivers.rs485", "hal", "hal.unix", "hal.unix.cc1101_emu", "hal.unix.gpio",
        "hal.unix.net", "hal.unix.pty_uart", "hal.unix.rtc", "hal.unix.simclock"], out


def test_tracebacks_name_the_module(vboard):
    # gwtool.build: mpy-cross -s <dotted module name>, the qstr the import interns anyway
    # (a path as source name is one more qstr per module)
    _, err = raw_exec(vboard.endpoints["repl"], "from app import leds\n"
                        "leds.set_mode(None, 'PWR', 'bogus')")
    assert 'File "app.leds", line' in err and "ValueError: bogus" in err, err


def test_data_partition_is_littlefs(vboard):
    out, err = raw_exec(vboard.endpoints["repl"],
                        "import os\nwith open('/data/x','w') as f: f.write('1')\n"
                        "print(os.statvfs('/data')[0], open('/data/x').read())")
    assert err == "" and out.split() == ["4096", "1"]


def test_mpremote_resume_exec(vboard):
    p = subprocess.run([MPREMOTE, "connect", vboard.endpoints["repl"], "resume", "exec",
                        "import diag; diag.status()"], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["state"] == "operational"


def test_crashing_task_is_restarted_and_others_keep_running(vboard):
    code = ("import app, asyncio\n"
            "async def bad():\n    raise RuntimeError('injected')\n"
            "app.CTX.sup.add('crashy', bad)\n")
    raw_exec(vboard.endpoints["repl"], code)
    time.sleep(1.5)
    out, _ = raw_exec(vboard.endpoints["repl"], "import diag; diag.status()")
    st = json.loads(out)
    assert st["tasks"]["crashy"]["restarts"] >= 1
    assert "injected" in st["tasks"]["crashy"]["last_error"]
    assert st["tasks"]["lmn"]["state"] == "running"
    assert any("injected" in e["msg"] for e in st["last_errors"])
    raw_exec(vboard.endpoints["repl"], "app.CTX.sup.tasks['crashy'].task.cancel()")


def test_stop_ends_the_process(tmp_path):
    vb = VBoard(tmp_path, rebuild=False).start()
    pid = vb.proc.pid
    vb.stop()
    assert vb.proc.poll() is not None and pid
