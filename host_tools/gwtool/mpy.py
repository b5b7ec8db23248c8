"""Run code inside the pinned MicroPython unix port and get its output back.

The one way host code (tests, `gwtool decode`, benchmarks) executes firmware: a
subprocess of the real interpreter with the firmware tree on MICROPYPATH and a heap cap.
"""
import os
import subprocess
import tempfile
from pathlib import Path

from .paths import FIRMWARE, ROOT, micropython

SUPPORT = ROOT / "tests" / "support"
DEFAULT_HEAP = "1M"


class MicroPythonError(Exception):
    """The MicroPython process failed; `.output` holds stdout+stderr with its traceback."""

    def __init__(self, msg, output="", returncode=None):
        super().__init__(f"{msg}\n{output}")
        self.output = output
        self.returncode = returncode


def micropypath(extra=()):
    parts = [str(p) for p in extra] + [str(FIRMWARE), str(SUPPORT), ".frozen"]
    return os.pathsep.join(parts)


def command(script, heapsize=DEFAULT_HEAP, args=()):
    cmd = [micropython()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    return cmd + [str(script), *map(str, args)]


def env_for(path=(), env=None):
    e = dict(os.environ)
    e["MICROPYPATH"] = micropypath(path)
    if env:
        e.update(env)
    return e


def run(code=None, script=None, args=(), heapsize=DEFAULT_HEAP, path=(), env=None,
        timeout=120, input=None, check=True, cwd=None):
    """Run a snippet (`code`) or a file (`script`); return stdout as str.

    Raises MicroPythonError (with MicroPython's own traceback) on a non-zero exit.
    """
    tmp = None
    if code is not None:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
        tmp.write(code)
        tmp.close()
        script = tmp.name
    try:
        proc = subprocess.run(
            command(script, heapsize, args), env=env_for(path, env), capture_output=True,
            timeout=timeout, input=input, cwd=cwd,
            text=not isinstance(input, bytes),
        )
    except subprocess.TimeoutExpired as e:
        raise MicroPythonError(f"MicroPython timed out after {timeout}s",
                               str(e.stdout or "")) from None
    finally:
        if tmp:
            Path(tmp.name).unlink()
    out = proc.stdout if isinstance(proc.stdout, str) else proc.stdout.decode("utf-8", "replace")
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
    if check and proc.returncode:
        raise MicroPythonError(f"MicroPython exited {proc.returncode}", out + err,
                               proc.returncode)
    return out
