"""gwtool status / logs / shell / reset against the gateway (vboard pty or --port)."""

import json
import os
import select
import subprocess
import time

import pytest
from gwtool.cmd_logs import parse_time
from gwtool.paths import ROOT

GWTOOL = str(ROOT / ".venv/bin/gwtool")

# A stand-in log store with the contract's read() signature, swapped in for one test so
# the export logic is checked whether or not the real core layer exists yet.
FAKE_LOGS = """import app
class _Log:
    def __init__(self, n):
        self.recs = [{'no': i, 'time': 1000 + 10 * i, 'level': 1, 'event': 'e%d' % i,
                      'outcome': 'ok', 'subject': '', 'user': '', 'msg': 'm%d' % i}
                     for i in range(n)]
        self.readers = []
    def read(self, t0=None, t1=None, start=0, limit=50, reader=''):
        self.readers.append(reader)
        r = [x for x in self.recs if (t0 is None or x['time'] >= t0)
             and (t1 is None or x['time'] <= t1)]
        return r[start:start + limit]
class _Core:
    logs = {'system': _Log(57), 'event': _Log(3)}
_saved_core = app.CTX.core
app.CTX.core = _Core()
"""

# These tests exercise the toolchain, not the heap budget (tests/foundation and the bench
# hold the firmware to it): headroom so that a layer over budget cannot fail them.
VBOARD_EXTRA_HEAP = 64 * 1024
VBOARD_RELOADABLE = True  # the soft-reset test mounts the image a second time


def test_status_json_and_text(gw, gateway):
    st = json.loads(gw("status", "--port", gateway.port, "--json").output)
    assert st["state"] == "operational" and st["version"]
    assert st["tasks"]["repl"]["state"] == "running"
    text = gw("status", "--port", gateway.port).output
    assert text.startswith(f"gateway  {st['board']} {st['version']}")
    assert "tasks" in text and "repl" in text


def test_status_on_wrong_port_is_a_clean_error(gw, tmp_path):
    r = gw("status", "--port", tmp_path / "ttyNONE", ok=False)
    assert r.exit_code == 1 and "cannot open" in r.output and "Traceback" not in r.output


def test_logs_export_by_type_and_time_range(gw, gateway):
    gateway.exec(FAKE_LOGS)
    try:
        recs = json.loads(gw("logs", "--port", gateway.port, "--json").output)
        assert [r["no"] for r in recs] == list(range(57))  # several pages, in order
        recs = json.loads(gw("logs", "-p", gateway.port, "--json", "--from", "1100",
                             "--to", "1200").output)
        assert [r["time"] for r in recs] == list(range(1100, 1201, 10))
        iso = gw("logs", "-p", gateway.port, "--type", "event", "--from",
                 "1970-01-01T00:16:40").output
        assert iso.count("\n") == 3 + 1 and "e2 [ok]" in iso and "3 records" in iso
        assert json.loads(gw("logs", "-p", gateway.port, "--list", "--json").output) == \
            ["event", "system"]
        r = gw("logs", "-p", gateway.port, "--type", "nope", ok=False)
        assert r.exit_code == 2 and "no log 'nope'" in r.output
        readers = gateway.exec("print(set(app.CTX.core.logs['system'].readers))")
        assert readers.strip() == "{'gwtool'}"
    finally:
        gateway.exec("app.CTX.core = _saved_core")


def test_logs_without_a_log_store_says_so(gw, gateway):
    gateway.exec("import app\n_saved_core = app.CTX.core\napp.CTX.core = None")
    try:
        r = gw("logs", "--port", gateway.port, ok=False)
    finally:
        gateway.exec("app.CTX.core = _saved_core")
    assert r.exit_code == 2 and "no log store" in r.output


def test_parse_time():
    assert parse_time("1700000000", None) == 1700000000
    assert parse_time("2023-11-14T22:13:20Z", None) == 1700000000
    assert parse_time("2023-11-14T22:13:20", None) == 1700000000
    assert parse_time("-2h", 10000) == 10000 - 7200
    with pytest.raises(Exception, match="not a time"):
        parse_time("yesterday", 0)


def _read_until(fd, token, timeout=15):
    buf = b""
    deadline = time.monotonic() + timeout
    while token not in buf:
        assert time.monotonic() < deadline, buf
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return buf


def test_shell_is_an_interactive_repl_and_the_gateway_keeps_running(gateway):
    master, slave = os.openpty()
    p = subprocess.Popen([GWTOOL, "shell", "--port", gateway.port], stdin=slave,
                         stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    try:
        _read_until(master, b"Use Ctrl-] or Ctrl-x to exit this shell")
        os.write(master, b"\r")
        _read_until(master, b">>> ")
        os.write(master, b"6*7\r")
        assert b"42" in _read_until(master, b"42")
        os.write(master, b"\x1d")  # Ctrl-]
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
    st = json.loads(subprocess.run([GWTOOL, "shell", "-p", gateway.port, "--exec",
                                    "import diag; diag.status()"], capture_output=True,
                                   text=True, timeout=30, check=True).stdout)
    assert st["state"] == "operational"


def test_soft_reset_reloads_and_restarts_services(gw, gateway):
    if not gateway.virtual:
        out = json.loads(gw("reset", "--port", gateway.port, "--json").output)
        assert out["kind"] == "soft" and out["version"]
        return
    before = json.loads(gw("status", "-p", gateway.port, "--json").output)
    out = json.loads(gw("reset", "--port", gateway.port, "--soft", "--json").output)
    assert out["virtual"] and "repl" not in out["restarted"] and "leds" in out["restarted"]
    assert out["image"]["version"] == before["version"]
    time.sleep(0.6)
    st = json.loads(gw("status", "-p", gateway.port, "--json").output)
    assert all(t["state"] == "running" for t in st["tasks"].values()), st["tasks"]
    assert st["uptime_s"] >= before["uptime_s"]  # same interpreter: not a power cycle


def test_hard_reset_of_a_virtual_board_is_the_hosts_job(gw, gateway):
    if not gateway.virtual:  # --port: a real board resets itself
        out = json.loads(gw("reset", "--port", gateway.port, "--hard", "--json").output)
        assert out["kind"] == "hard" and out["micropython"]
        st = json.loads(gw("status", "-p", gateway.port, "--json").output)
        assert st["uptime_s"] < 60
        return
    r = gw("reset", "--port", gateway.port, "--hard", ok=False)
    assert r.exit_code == 2 and "power cycle" in r.output and "VBoard.kill()" in r.output
    gateway.exec("import app\napp.CTX.marker = 1")
    info = gateway.hard_reset()
    assert info["version"]
    out = gateway.exec("import app\nprint(hasattr(app.CTX, 'marker'))")
    assert out.strip() == "False"  # a new interpreter
