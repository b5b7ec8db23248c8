"""The harness itself: it must report MicroPython failures, not swallow them."""
import pytest

from gwtool import mpy as mpyrun


def test_snippet_output(mpy):
    assert mpy.run("print(6 * 7)").strip() == "42"


def test_failure_carries_micropython_traceback(mpy):
    with pytest.raises(mpyrun.MicroPythonError) as e:
        mpy.run("def f():\n    raise ValueError('boom')\nf()\n")
    assert "ValueError: boom" in e.value.output
    assert "line 2" in e.value.output


def test_firmware_tree_is_importable(mpy):
    out = mpy.run("import app.supervisor, hal, drivers; print('ok')")
    assert out.strip() == "ok"


def test_runs_in_micropython_not_cpython(mpy):
    assert mpy.run("import sys; print(sys.implementation.name)").strip() == "micropython"


def test_mp_test_file_failures_are_reported(tmp_path, pytester=None):
    """Run the MicroPython runner on a module with one passing and one failing test."""
    import subprocess
    import sys

    t = tmp_path / "mp_test_sample.py"
    t.write_text("def test_ok():\n    assert 1 + 1 == 2\n\n"
                 "def test_bad():\n    assert 1 + 1 == 3, 'arith'\n\n"
                 "async def test_async():\n    import asyncio\n    await asyncio.sleep_ms(1)\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(t)], capture_output=True, text=True)
    assert "1 failed, 2 passed" in proc.stdout, proc.stdout
    assert "AssertionError: arith" in proc.stdout
