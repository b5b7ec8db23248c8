"""Firmware update on the virtual board: signed image from the GWA, staged in an A/B
slot, activated at the ordered time, trial boot confirmed; a bad image is refused; an
image that fails its trial boot is rolled back; no downgrade."""
import contextlib
import io
import json
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from gwtool.paths import mpy_cross, romfs_path
from gwtool.sim import Sim
from gwtool.update_image import make
from test_e2e_vboard import build_once, raw_exec, trace, wait

T0 = "2026-01-01T00:00:00Z"


def broken_romfs(tmp_path):
    """The current application image with an app package that dies at import."""
    from mpremote.romfs import make_romfs

    stage = tmp_path / "stage"
    shutil.copytree(romfs_path("unix").parent / "stage", stage)
    src = tmp_path / "bad.py"
    src.write_text("raise RuntimeError('this firmware does not start')\n")
    subprocess.run([mpy_cross(), "-march=x64", "-s", "app/__init__.py", "-o",
                    str(stage / "app" / "__init__.mpy"), str(src)], check=True)
    with contextlib.redirect_stdout(io.StringIO()):
        return make_romfs(str(stage), mpy_cross=False)


def slot(sim):
    out = raw_exec(sim.vboard.endpoints["repl"], "import vboot; print(vboot.SLOT)")
    return out.strip().splitlines()[-1]


def boot_state(sim):
    out = raw_exec(sim.vboard.endpoints["repl"],
                   "import json; print(json.dumps(json.load(open('/data/fw/boot.json'))))")
    return json.loads(out.strip().splitlines()[-1])


def restart(sim):
    wait(lambda: not sim.vboard.alive(), timeout=60, step=0.3)
    sim.vboard.start()


@pytest.fixture
def sim(tmp_path, monkeypatch):
    import gwtool.vboard

    build_once()
    monkeypatch.setattr(gwtool.vboard, "build", lambda board: None)
    heap = romfs_path("unix").stat().st_size + 384 * 1024
    s = Sim(tmp_path / "sim", accelerate=240, start=T0, peers=["gwtool.sim_wan"], heap=heap,
            options={"wan": {"gwa_poll_s": 86400}})
    s.start()
    yield s
    s.stop()


def test_update_trial_boot_and_rollback(sim, tmp_path):
    gwa = sim.peers[0].gwa
    key = serialization.load_pem_private_key((sim.peers[0].pki.dir / "gwa.key").read_bytes(),
                                             None)
    evil = serialization.load_pem_private_key(
        (sim.peers[0].pki.dir / "emt1.key").read_bytes(), None)
    addr = sim.vboard.endpoints["wakeup"]
    good_romfs = romfs_path("unix").read_bytes()
    assert slot(sim) == "factory"

    # 1. a badly signed image is refused
    gwa.offer_update(make(good_romfs, "0.2.0", evil), "0.2.0", activate_at=0)
    gwa.send_wakeup(addr, t=sim.now())
    wait(lambda: "update refused: bad signature" in trace(sim), timeout=60)

    # 2. a good image: staged, activated at the ordered time, trial boot, confirmed
    gwa.offer_update(make(good_romfs, "0.2.0", key), "0.2.0", activate_at=int(sim.now()) + 2700)
    gwa.send_wakeup(addr, t=sim.now())
    wait(lambda: "fw.staged" in trace(sim), timeout=60)
    assert "activating firmware 0.2.0" not in trace(sim)
    restart(sim)  # the gateway restarted itself at activate_at; the "watchdog" powers on
    assert slot(sim) == "a"
    wait(lambda: "fw.confirmed" in trace(sim), timeout=60)
    st = boot_state(sim)
    assert st["active"] == "a" and not st["trial"] and st["versions"]["a"] == "0.2.0"

    # 3. no downgrade
    gwa.offer_update(make(good_romfs, "0.1.5", key), "0.1.5", activate_at=0)
    gwa.send_wakeup(addr, t=sim.now())
    wait(lambda: "no downgrade" in trace(sim), timeout=60)

    # 4. a signed image that cannot start: trial boot fails -> rollback to slot a
    gwa.offer_update(make(broken_romfs(tmp_path), "0.3.0", key), "0.3.0", activate_at=0)
    gwa.send_wakeup(addr, t=sim.now())
    wait(lambda: not sim.vboard.alive(), timeout=60, step=0.3)
    with pytest.raises(RuntimeError, match="does not start"):
        sim.vboard.start()  # trial boot of slot b dies
    sim.vboard.start()  # the boot loader rolls back
    assert slot(sim) == "a"
    wait(lambda: "fw.rollback" in trace(sim), timeout=30)
    st = boot_state(sim)
    assert st["active"] == "a" and not st["trial"]
    assert "rolled back to a" in trace(sim)
    # metrological changes are in the core's calibration log (survives the restarts)
    out = raw_exec(sim.vboard.endpoints["repl"],
                   "import app, json; print(json.dumps([e['event'] for e in "
                   "app.CTX.core.logs['calibration'].read(limit=50)]))")
    events = json.loads(out.strip().splitlines()[-1])
    for ev in ("fw.activate", "fw.confirmed", "fw.rollback"):
        assert ev in events, events
