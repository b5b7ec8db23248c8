"""Power-loss test: SIGKILL the MicroPython process at random points during heavy
appends, >= 50 times, then prove every acknowledged record is there, intact, and the
log's hash chain verifies. `GW_POWERLOSS_KILLS` raises the count (soak target)."""
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from gwtool import mpy

HERE = Path(__file__).parent
KILLS = int(os.environ.get("GW_POWERLOSS_KILLS", "50"))


def _run(img, mode, **kw):
    return subprocess.Popen(mpy.command(HERE / "plwriter.py", "512K", (img, mode)),
                            env=mpy.env_for((HERE,), {"GW_TEST_TMP": str(img.parent)}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _check(img):
    p = _run(img, "check")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (out + err).decode()
    return json.loads(out)


def test_kill_during_heavy_writes(tmp_path):
    img = tmp_path / "flash.lfs2"
    p = _run(img, "init")
    assert p.communicate(timeout=30)[0].strip() == b"init"
    rnd = random.Random(int(os.environ.get("GW_POWERLOSS_SEED", "5")))
    acked, logged, t_end = 0, 0, time.monotonic() + 60
    kills = 0
    while kills < KILLS:
        p = _run(img, "write")
        time.sleep(0.03 + rnd.random() * 0.25)
        os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        assert b"Traceback" not in err, err.decode()
        kills += 1
        lines = out.decode().splitlines()
        a = [int(x[2:]) for x in lines if x.startswith("A ")]
        lg = [int(x[2:]) for x in lines if x.startswith("L ")]
        if a:
            assert a[0] == acked + 1 or a[0] > acked, (a[0], acked)  # never reused
            acked = max(acked, a[-1])
        if lg:
            logged = max(logged, lg[-1])
        if kills % 10 == 0 or kills == KILLS:
            st = _check(img)
            assert st["bad"] == [], st
            assert st["last"] >= acked, ("acknowledged record lost", st, acked)
            assert st["first"] == 1
            assert st["log_last"] >= logged, ("acknowledged log entry lost", st, logged)
            assert st["chain_ok"], st
        assert time.monotonic() < t_end + 120, "power-loss loop too slow"
    assert acked > 100, "too few writes between kills to mean anything"


def test_check_detects_damage(tmp_path):
    """The checker is not blind: a flipped byte in a stored record is reported."""
    img = tmp_path / "flash.lfs2"
    p = _run(img, "init")
    p.communicate(timeout=30)
    p = _run(img, "write")
    time.sleep(0.5)
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=10)
    before = _check(img)
    assert before["bad"] == [] and before["chain_ok"] and before["last"] > 10
    code = ("import corefix\nm = corefix.mount(IMG, 1024, mnt='/pl')\n"
            "from store.records import RecordStore\nimport os\n"
            "s = RecordStore(m + '/store')\nl = s.open_list('log-system', 1)\n"
            "p = l.path + '/s' + str(l.segs[0])\n"
            "b = bytearray(open(p, 'rb').read())\nb[30] ^= 0x20\n"
            "with open(p, 'wb') as f:\n    f.write(b)\nprint('ok')\n").replace(
                "IMG", repr(str(img)))
    assert "ok" in mpy.run(code, path=(HERE,), env={"GW_TEST_TMP": str(tmp_path)})
    after = _check(img)
    assert not after["chain_ok"] and after["chain_bad"] == 2, after  # entry 1 unreadable
    assert after["log_last"] == before["log_last"]  # damage is not a torn tail
