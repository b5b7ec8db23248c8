# Power-loss writer (run by test_powerloss.py, killed with SIGKILL at random points).
# argv: image path, mode ("write" | "check"). Appends deterministic records to a plain
# list and entries to a hash-chained log; prints "A <seq>" / "L <no>" after each
# acknowledged append. "check" reopens, prints the state as JSON.
import json
import sys

import corefix

img, mode = sys.argv[1], sys.argv[2]
mnt = corefix.mount(img, 1024, fresh=(mode == "init"), mnt="/pl")
from core.logs import Log
from store.records import RecordStore


class _Core:
    def __init__(self, root):
        self.store = RecordStore(root)
        self.logs = {}
        self.t = 1767225600

    def now(self):
        return self.t

    def full_calibration(self):
        pass


def payload(seq):
    return (b"%010d" % seq) * (1 + seq % 7)


c = _Core(mnt + "/store")
lst = c.store.open_list("pl", 1 << 20)
log = c.logs["system"] = Log(c, "system")
if mode == "write":
    out = sys.stdout
    while True:
        seq = lst.append(payload(lst.last_seq + 1))
        out.write("A %d\n" % seq)
        c.t += 1
        no = log.append(1, "test.entry", "entry %d" % seq, subject="pl")
        out.write("L %d\n" % no)
elif mode == "check":
    bad = []
    for s in lst.iter():
        p = lst.read(s)
        if p != payload(s):
            bad.append(s)
    ok, at = log.verify()
    print(json.dumps({"first": lst.first_seq, "last": lst.last_seq, "bad": bad[:20],
                      "log_last": log.list.last_seq, "chain_ok": ok, "chain_bad": at,
                      "recovered": lst.recovered_bytes + log.list.recovered_bytes}))
else:
    print("init")
