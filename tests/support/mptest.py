# Small helpers for MicroPython test modules (mp_test_*.py); runs in the unix port.
import os
import json


class SkipTest(Exception):
    pass


class raises:
    """with raises(SomeError) as r: ... ; r.value holds the exception."""

    def __init__(self, exc):
        self.exc = exc
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, t, v, tb):
        if t is None:
            raise AssertionError("did not raise " + self.exc.__name__)
        if not issubclass(t, self.exc):
            return False
        self.value = v
        return True


def tmpdir():
    return os.getenv("GW_TEST_TMP") or "/tmp"


def vectors(name):
    """Read ../shared/vectors/<name> (JSON lines) as a list of dicts."""
    base = os.getenv("GW_VECTORS")
    out = []
    with open(base + "/" + name) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError("%r != %r %s" % (a, b, msg))
