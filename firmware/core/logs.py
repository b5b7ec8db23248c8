"""Hash-chained logs: system, event, calibration and one consumer log per tenant.

Entry: record number (the store sequence), time (gateway UTC s), level (1 info,
2 warning, 3 error, 4 fatal), event id from the catalogue (docs/core.md), outcome,
subject, user, message. Each record is `chain(16) | JSON array`, with
chain_n = SHA-256(chain_{n-1} | JSON_n)[:16]; chain_0 = 16 zero bytes. A deleted,
inserted or edited entry breaks the chain of every later entry (`verify()`). When a
ring log drops its oldest segment the chain value just before the new first entry is
kept in `<list>/anchor`, so dropping from the front is also detected unless it went
through the store.

Reading is itself logged: every `read()` appends "log.read" to the system log with the
log name as subject and the reader as user.

Capacity and overwrite policy (records): system 4000 ring, event 2000 ring,
consumer-N 2000 ring, calibration 1000 "block": never overwritten; at 90 % the event
log and system log get "store.almost_full" (raised to the GWA with the event log), when
full further calibration entries are refused and "log.calibration_full" (fatal) is
written to the system and event logs.
"""
import json
from hashlib import sha256

from store.records import StoreFull, write_atomic

CAPACITY = {"system": (4000, "drop"), "event": (2000, "drop"),
            "calibration": (1000, "block"), "consumer": (2000, "drop")}
_ZERO = b"\x00" * 16


class LogError(Exception):
    pass


def _chain(prev, body):
    return sha256(prev + body).digest()[:16]


class Log:
    def __init__(self, core, name):
        cap, policy = CAPACITY["consumer" if name.startswith("consumer-") else name]
        self.core = core
        self.name = name
        self.list = core.store.open_list("log-" + name, cap, policy)
        core.store.drop_hooks[self.list.name] = self._on_drop
        self.anchor = _ZERO
        try:
            with open(self.list.path + "/anchor", "rb") as f:
                self.anchor = f.read()
        except OSError:
            pass
        last = self.list.last
        self.head = bytes(last[:16]) if last else self.anchor

    def _on_drop(self, lst, first, new_first):
        p = lst.read(new_first - 1)  # the last entry dropped: its chain anchors the rest
        if p is not None:
            self.anchor = bytes(p[:16])
            write_atomic(lst.path + "/anchor", self.anchor)

    def append(self, level, event_id, msg, outcome="ok", subject="", user=""):
        t = self.core.now()
        body = json.dumps([t, level, event_id, outcome, subject, user, msg]).encode()
        h = _chain(self.head, body)
        prev, self.head = self.head, h  # before the append: store events it raises
        try:                            # are logged (chained) from inside it
            seq = self.list.append(h + body)
        except StoreFull:
            self.head = prev
            if self.name == "calibration":
                self.core.full_calibration()
            return None
        except Exception:
            self.head = prev
            raise
        return seq

    @staticmethod
    def _decode(seq, p):
        t, level, ev, outcome, subject, user, msg = json.loads(bytes(p[16:]))
        return {"no": seq, "time": t, "level": level, "event": ev, "outcome": outcome,
                "subject": subject, "user": user, "msg": msg}

    def entries(self, t0=None, t1=None, start=0):
        for seq, p in self.list.records(start):
            e = self._decode(seq, p)
            if (t0 is None or e["time"] >= t0) and (t1 is None or e["time"] <= t1):
                yield e

    def read(self, t0=None, t1=None, start=0, limit=50, reader=""):
        """Entries with no >= start in [t0, t1] (inclusive), at most limit; logged."""
        out = []
        for e in self.entries(t0, t1, start):
            out.append(e)
            if len(out) >= limit:
                break
        self.core.logs["system"].append(1, "log.read", "%d entries from %d" %
                                        (len(out), start), subject=self.name, user=reader)
        return out

    def verify(self):
        """Check the chain over all stored entries; returns (ok, first bad no or None).
        A power cut between writing the anchor and deleting the dropped segment leaves
        the anchor pointing into the list: verification then starts after that entry."""
        prev = self.anchor
        skip = False
        for seq, p in self.list.records():
            if skip:
                if bytes(p[:16]) == self.anchor:
                    skip = False
                prev = bytes(p[:16])
                continue
            if _chain(prev, bytes(p[16:])) != bytes(p[:16]):
                if prev is self.anchor and self.anchor != _ZERO and self._anchor_inside():
                    skip = True
                    prev = bytes(p[:16])
                    if prev == self.anchor:
                        skip = False
                    continue
                return False, seq
            prev = bytes(p[:16])
        if self.list.last_seq and prev != self.head:
            return False, self.list.last_seq
        return True, None

    def _anchor_inside(self):
        for _, p in self.list.records():
            if bytes(p[:16]) == self.anchor:
                return True
        return False
