"""Persisted delivery queues: one FIFO list per destination, ack-before-delete.

Interface (the same as ctx.core.store.open_list, docs/contracts.md):
  append(bytes) -> seq, read(seq) -> bytes|None, iter(from_seq=0) -> seqs,
  first_seq, last_seq, trim(upto_seq) (drop acknowledged records).
`open_queue(ctx, name, capacity)` uses the core's record store (store.records, policy
"block": nothing is dropped silently) when it exists, for small records (TAF values).
Built payloads (`big=True`, tens of KiB each) always use FileQueue: the record store
limits a record to 4000 bytes and reads whole segments into RAM. FileQueue: one file per
record under /data/wan/q/<name>/, written to a temporary file and renamed (littlefs
renames are atomic), so a power cut leaves every record either absent or complete;
sequence numbers never go back (the next number is kept in the file names and in a
small `next` file written the same way).
"""
import os
from store.records import mkdirs, replace

ROOT = "/data/wan/q"


def _write(path, data):
    """data: bytes-like, or a tuple of parts written one after the other; a part may be
    a function that writes to the file itself (streamed payloads)."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for part in data if isinstance(data, tuple) else (data,):
            if callable(part):
                part(f)
            else:
                f.write(part)
    replace(tmp, path)


class QueueFull(Exception):
    pass


class FileQueue:
    def __init__(self, path, capacity=1000):
        self.path = path
        self.capacity = capacity
        mkdirs(path)
        seqs = []
        nxt = 1
        for n in os.listdir(path):
            if n.endswith(".tmp"):
                os.remove(path + "/" + n)
            elif n == "next":
                try:
                    with open(path + "/next") as f:
                        nxt = max(nxt, int(f.read()))
                except (OSError, ValueError):
                    pass
            else:
                try:
                    seqs.append(int(n))
                except ValueError:
                    pass
        seqs.sort()
        self._seqs = seqs
        self._next = max(nxt, (seqs[-1] + 1) if seqs else 1)

    @property
    def first_seq(self):
        return self._seqs[0] if self._seqs else self._next

    @property
    def last_seq(self):
        return self._seqs[-1] if self._seqs else self._next - 1

    def __len__(self):
        return len(self._seqs)

    def append(self, data):
        if len(self._seqs) >= self.capacity:
            raise QueueFull(self.path)
        seq = self._next
        _write("%s/%d" % (self.path, seq), data)
        self._next = seq + 1
        _write(self.path + "/next", str(self._next).encode())
        self._seqs.append(seq)
        return seq

    def read(self, seq):
        try:
            with open("%s/%d" % (self.path, seq), "rb") as f:
                return f.read()
        except OSError:
            return None

    def open(self, seq):
        """(open binary file, size) of a record, to stream it; None when missing."""
        p = "%s/%d" % (self.path, seq)
        try:
            return open(p, "rb"), os.stat(p)[6]
        except OSError:
            return None

    def iter(self, from_seq=0):
        for s in list(self._seqs):
            if s >= from_seq:
                yield s

    def trim(self, upto_seq):
        while self._seqs and self._seqs[0] <= upto_seq:
            s = self._seqs.pop(0)
            try:
                os.remove("%s/%d" % (self.path, s))
            except OSError:
                pass


def open_queue(ctx, name, capacity=1000, root=ROOT, big=False):
    store = getattr(getattr(ctx, "core", None), "store", None)
    if not big and store is not None and hasattr(store, "open_list"):
        try:
            return store.open_list("wan-" + name, capacity, policy="block")
        except TypeError:  # a store without policies
            return store.open_list("wan-" + name, capacity)
    return FileQueue(root + "/" + name, capacity)
