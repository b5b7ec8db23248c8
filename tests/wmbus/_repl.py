"""REPL helpers for the wmbus end-to-end tests (a raw-REPL client as in
tests/foundation/test_vboard.py, independent of mpremote)."""
import json
import time

import serial
from gwtool.testing import raw_exec  # noqa: E402,F401


def wmbus_diag(vb):
    """{"w": diag wmbus field, "m": ctx.meters} of a running virtual board."""
    out, err = raw_exec(vb.endpoints["repl"], "import diag, json\n"
                        "d = diag.status_dict()\n"
                        "print(json.dumps({'w': d['wmbus'], 'm': d['meters']}))")
    assert err == "", err
    return json.loads(out)
