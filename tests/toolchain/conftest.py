import os
import subprocess

import pytest
from click.testing import CliRunner
from gwtool.cli import cli


@pytest.fixture
def gw():
    """Run `gwtool ARGS...` in-process; returns the click Result (output, exit_code)."""
    def run(*args, ok=True):
        r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
        if ok:
            assert r.exit_code == 0, r.output
        return r
    return run


@pytest.fixture
def native_repl(tmp_path):
    """MicroPython's own REPL (shared/runtime/pyexec.c, as on a board: raw-paste with
    flow control) on a pty, with the firmware importable and a scratch /data."""
    from gwtool.paths import FIRMWARE, micropython
    from gwtool.ptybridge import PtyLink

    link = PtyLink("native")
    slave = os.open(link.a_path, os.O_RDWR | os.O_NOCTTY)
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen")
    p = subprocess.Popen([micropython(), "-i"], stdin=slave, stdout=slave, stderr=slave,
                         env=env, cwd=tmp_path)
    os.close(slave)
    try:
        yield link.b_path
    finally:
        p.kill()
        p.wait(5)
        link.close()
