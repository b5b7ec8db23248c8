"""End to end: the virtual board's -M variant against the AT modem emulator on a pty.

Each failure mode of the emulator at boot, recovery when the emulator recovers, RSSI in
diag.status() and on the RSSI LED, state changes in the log, and no WAN connection
attempt while the link is down (a contract-following probe inside the firmware connects
to a host TCP server only when ctx.link.state == "up"; the server counts accepts and the
link counts address look-ups made while it was not up).
"""
import json
import socket
import threading
import time

import pytest
import serial

from gwtool.boards import board_facts
from gwtool.build import BuildError, build
from gwtool.modem_emu import ModemEmulator
from gwtool.paths import romfs_path
from gwtool.vboard import VBoard
from gwtool.testing import raw_exec

# The -M variant's link costs ~14 KiB of heap (bench_link "heap_link_m_bytes"); while the
# other layers are still growing, these tests give the board 48 KiB of headroom so they
# test the link, not the shared heap budget (tests/foundation and the bench watch that).
HEADROOM = 48 * 1024


def heap():
    return board_facts("unix")["HEAP_BYTES"] + romfs_path("unix").stat().st_size + 4096 \
        + HEADROOM


FAST = {"poll_s": 0.3, "backoff_min_s": 0.3, "backoff_max_s": 1, "reg_timeout_s": 5,
        "sync_tries": 3, "carrier_timeout_s": 1}


def repl(vb, code):
    for _ in range(3):  # the 128 KiB heap is shared with every layer: retry a MemoryError
        out, err = raw_exec(vb.endpoints["repl"], code)
        if "MemoryError" not in err:
            break
        time.sleep(0.2)
    assert err == "", err
    return out


def link(vb):
    return json.loads(repl(vb, "import app, json\nprint(json.dumps(app.CTX.link.info()))"))


def wait_link(vb, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        st = link(vb)
        if pred(st):
            return st
        assert time.monotonic() < deadline, st
        time.sleep(0.2)


class Server:
    """A stand-in WAN peer on loopback counting the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.accepted += 1
                c.close()
            except OSError:
                pass

    def close(self):
        self._stop = True
        self._t.join(1)
        self.sock.close()


PROBE = """
import app, asyncio, socket
ctx = app.CTX
async def probe():
    while True:
        if ctx.link is None or ctx.link.state == "up":
            try:
                ai = ctx.hal.net.getaddrinfo("127.0.0.1", %d)[0][-1]
                s = socket.socket()
                s.connect(ai)
                s.close()
                ctx.link.session_ok()
            except OSError:
                pass
        await asyncio.sleep_ms(150)
ctx.sup.add("wanprobe", probe)
"""


@pytest.fixture(scope="module")
def built():
    for i in range(4):  # other areas' test runs rebuild the same stage directory
        try:
            return build("unix")
        except BuildError:
            if i == 3:
                raise
            time.sleep(2)
    return None


@pytest.fixture
def boot(tmp_path, built):
    made = []

    def start(link=None, **emu):
        e = ModemEmulator(**emu)
        cfg = dict(FAST)
        cfg.update(link or {})
        vb = VBoard(tmp_path / f"vb{len(made)}", rebuild=False, heap=heap(),
                    extra_config={"modem": e.path, "wan_variant": "M", "link": cfg})
        made.append((vb, e))
        vb.start()
        return vb, e

    yield start
    for vb, e in made:
        vb.stop()
        e.close()


def trace(vb):
    return (vb.workdir / "trace.log").read_text()


def test_registers_rssi_in_diag_led_and_log_then_signal_change(boot):
    vb, emu = boot(reg_delay=1.5, csq=20)
    st = wait_link(vb, lambda s: s["state"] == "up")
    assert st["variant"] == "M" and st["operator"] == "Telekom.de" and st["tech"] == "LTE"
    assert st["ip"] == "10.64.12.7" and st["sim"] == "ready"
    diag = json.loads(repl(vb, "import diag; diag.status()"))
    assert diag["link"]["rssi_dbm"] == -73 and diag["link"]["rsrp_dbm"] == -91
    assert diag["link"]["state"] == "up"
    assert repl(vb, "import app; print(app.CTX.hal.leds['RSSI'].value())").strip() == "1"
    log = trace(vb)
    assert log.index("link.registering") < log.index("link.up")
    assert "registering -> up (LTE Telekom.de, -73 dBm)" in log
    assert emu.stats["activations"] == 1
    emu.set_signal(8, rsrp=20)
    st = wait_link(vb, lambda s: s["rssi_dbm"] == -97, 5)
    assert st["rsrp_dbm"] == -121 and st["state"] == "up"


def test_dropped_registration_pdn_loss_garbage_and_supervision(boot):
    vb, emu = boot(reg_delay=0.5)
    wait_link(vb, lambda s: s["state"] == "up")
    emu.set(chatter=True)  # RING, +CMTI, +CTZV and random bytes between the answers
    for _ in range(6):
        assert link(vb)["state"] == "up"
        time.sleep(0.3)
    emu.set(chatter=False)
    garbage = repl(vb, "import app; print(app.CTX.link.modem.lines.garbage)")
    assert int(garbage) > 0
    emu.drop()
    st = wait_link(vb, lambda s: s["state"] != "up", 5)
    assert st["losses"] == 1
    emu.restore()
    st = wait_link(vb, lambda s: s["state"] == "up" and s["ups"] == 2)
    emu.pdn_deactivate()
    st = wait_link(vb, lambda s: s["ups"] == 3 and s["state"] == "up")
    assert st["losses"] == 2
    assert "registration lost" in trace(vb) and "NW PDN DEACT" in trace(vb)
    # supervision: no WAN session for 2 s of gateway time -> the link is cycled
    repl(vb, "import app; app.CTX.link.configure({'supervision_s': 2})")
    st = wait_link(vb, lambda s: s["cycles"] >= 1 and s["state"] == "up", 15)
    assert "link.supervision" in trace(vb)
    assert st["ups"] >= 4


def test_no_sim_no_wan_connection_until_sim_present(boot):
    srv = Server()
    try:
        vb, emu = boot(sim="absent", link={"reset_after": 100})
        repl(vb, PROBE % srv.port)
        seen = set()
        for _ in range(12):
            st = link(vb)
            seen.add(st["state"])
            time.sleep(0.2)
        assert "up" not in seen and "failed" in seen, seen
        assert "SIM not inserted" in st["reason"], st
        assert srv.accepted == 0 and st["lookups_while_down"] == 0
        assert emu.stats["activations"] == 0
        emu.set(sim="ready")
        st = wait_link(vb, lambda s: s["state"] == "up")
        deadline = time.monotonic() + 5
        while srv.accepted == 0:
            assert time.monotonic() < deadline, "probe never connected after link up"
            time.sleep(0.1)
        st = link(vb)
        assert st["lookups"] > 0 and st["lookups_while_down"] == 0
        assert st["sessions_ok"] > 0
        assert repl(vb, "import app; print(app.CTX.sup.tasks['link'].state)").strip() \
            == "running"
    finally:
        srv.close()


def test_wrong_pin_is_not_repeated_and_a_new_pin_recovers(boot):
    vb, emu = boot(pin="1234", link={"pin": "0000", "reset_after": 100})
    st = wait_link(vb, lambda s: s["failures"] >= 3)
    assert st["state"] in ("failed", "registering") and st["sim"] == "wrong PIN"
    assert emu.stats["pin_attempts"] == 1  # three wrong PINs would lock the SIM
    assert "wrong PIN" in trace(vb)
    repl(vb, "import app; app.CTX.link.configure({'pin': '1234'})")
    wait_link(vb, lambda s: s["state"] == "up")
    assert emu.stats["pin_attempts"] == 2


def test_hung_modem_is_reset_and_recovers(boot):
    vb, emu = boot(link={"reset_after": 2})
    emu.set(hung=True)
    repl(vb, "import app; app.CTX.link.cycle('test')")
    st = wait_link(vb, lambda s: s["resets"] >= 1, 20)
    assert "no answer to AT" in trace(vb) and "link.reset" in trace(vb)
    emu.set(hung=False)
    st = wait_link(vb, lambda s: s["state"] == "up", 15)
    assert st["resets"] >= 1


def test_registration_denied_then_allowed(boot):
    vb, emu = boot(deny=True, reg_delay=0.2)
    st = wait_link(vb, lambda s: s["state"] == "failed")
    assert st["reason"] == "registration denied" and st["registration"] == "denied"
    assert repl(vb, "import app; print(app.CTX.hal.leds['RSSI'].value())").strip() == "0"
    emu.set(deny=False)
    wait_link(vb, lambda s: s["state"] == "up")


def test_ethernet_variant_is_up_at_boot_and_follows_carrier(tmp_path, built):
    with VBoard(tmp_path, rebuild=False, heap=heap(), extra_config={"link": FAST}) as vb:
        st = link(vb)
        assert st["variant"] == "E" and st["state"] == "up" and st["rssi_dbm"] is None
        repl(vb, "import app; app.CTX.hal.eth.carrier = False")
        st = wait_link(vb, lambda s: s["state"] == "failed")
        assert "carrier" in st["reason"]
        repl(vb, "import app; app.CTX.hal.eth.carrier = True")
        wait_link(vb, lambda s: s["state"] == "up")


def test_sim_peer_runs_the_emulator_for_the_modem_variant(tmp_path, built):
    from gwtool.sim import Sim

    sim = Sim(tmp_path, peers=["gwtool.sim_link"],
              options={"wan_variant": "M", "modem": {"reg_delay": 0.3, "drift": False},
                       "link": FAST})
    sim.heap = heap()
    with sim:
        eps = json.loads((tmp_path / "endpoints.json").read_text())
        assert eps["modem"] == sim.peers[0].emu.path
        vb = sim.vboard
        st = wait_link(vb, lambda s: s["state"] == "up")
        assert st["variant"] == "M" and st["rssi_dbm"] == -73
    off = Sim(tmp_path / "e", peers=["gwtool.sim_link"])
    assert off.peers[0].vboard_config() == {} and off.peers[0].emu is None
