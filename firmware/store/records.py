"""Append-only record store on the flash filesystem (littlefs2 on every board).

A store is a directory; each named list is a sub-directory of segment files
`s<first_seq>` holding records back to back:

    0xA5 | length u16 LE | seq u32 LE | payload (length bytes) | CRC-32 u32 LE

The CRC (binascii.crc32, IEEE 802.3) covers magic, length, seq and payload, and comes
last, so a record cut short by a power failure fails its check. `append()` writes the
record and closes the file before it returns: littlefs commits a file atomically on
sync/close (copy-on-write, see littlefs DESIGN.md "Metadata pairs"), so an acknowledged
record survives any later power cut, and nothing earlier is rewritten. Recovery on open
scans the last segment and drops a torn tail (rewriting the valid prefix to a temporary
file that is renamed over the segment, again atomic on littlefs); earlier records and
segments are never touched.

Capacity: a list keeps at least `capacity` records in `capacity // 4` sized segments
(at least 16 records each). Policy "drop" deletes the oldest segment when the list is full
(ring), policy "block" refuses the append with StoreFull. `on_event(level, event, msg)`
hears "store.almost_full" once when a list passes 90 % of its capacity or the file system
passes 90 % use, and "store.dropped" when a segment is dropped.

Sequence numbers start at 1 and never go back: `trim(upto)` (drop acknowledged
records, e.g. the WAN queue) records the trim point in `trim` (atomic rename) and
deletes whole segments below it, keeping the newest segment so its sequence survives.
"""
import os
import struct
from array import array
from binascii import crc32

from texts import msg as _m

# errors, log events and texts, _m(_T, i) (one string constant: RAM, see texts.py)
_T = const("record too long: %d|store.almost_full|%s: %d of %d records|store.dropped"
           "|%s: records %d..%d dropped|file system %d%% used, %d bytes free")
_MAGIC = const(0xA5)
_HDR = const(7)
_TAIL = const(4)
_MAX = const(4000)
_SEG_RECORDS = const(512)  # at most 512 records (index 4 KiB in RAM) ...
_SEG_BYTES = const(32768)  # ... and 32 KiB per segment


class StoreError(Exception):
    pass


class StoreFull(StoreError):
    pass


def exists(path):
    """True if path exists (file or directory): the one helper every layer uses."""
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def mkdirs(path):
    cur = ""
    for part in path.strip("/").split("/"):
        cur += "/" + part
        try:
            os.mkdir(cur)
        except OSError:
            pass


def replace(tmp, path):
    """Rename tmp over path (FAT cannot rename over an existing file: remove it first)."""
    try:
        os.rename(tmp, path)
    except OSError:
        os.remove(path)
        os.rename(tmp, path)


def write_atomic(path, data, parents=False):
    """Write data to path.tmp, then rename it over path: a power cut leaves the old or
    the new content, never a mix. parents: create the missing directories first."""
    if parents:
        mkdirs(path.rsplit("/", 1)[0])
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    replace(path + ".tmp", path)


def _frame(seq, payload):
    """(header, CRC tail) of a record: append() writes header, payload, tail as they are
    (no concatenated copy of the payload)."""
    n = len(payload)
    if n > _MAX:
        raise StoreError(_m(_T, 0) % n)
    h = struct.pack("<BHI", _MAGIC, n, seq & 0xFFFFFFFF)
    c = crc32(payload, crc32(h))
    return h, struct.pack("<I", c & 0xFFFFFFFF)


def encode(seq, payload):
    h, t = _frame(seq, payload)
    return h + payload + t


def _valid(buf, mv, off, end):
    """Length of the record at off if it is complete and its CRC matches, else 0."""
    if off + _HDR + _TAIL > end or buf[off] != _MAGIC:
        return 0
    n = buf[off + 1] | (buf[off + 2] << 8)
    stop = off + _HDR + n
    if stop + _TAIL > end:
        return 0
    c = crc32(mv[off + _HDR:stop], crc32(mv[off:off + _HDR])) & 0xFFFFFFFF
    if c != struct.unpack_from("<I", buf, stop)[0]:
        return 0
    return _HDR + n + _TAIL


def scan(buf):
    """Valid records of one segment image: list of (offset, seq, payload_len). A damaged
    record is skipped by searching forward for the next valid one, so damage in the
    middle loses only that record; a torn tail ends the list."""
    out = []
    mv = memoryview(buf)
    off = 0
    end = len(buf)
    while off + _HDR + _TAIL <= end:
        n = _valid(buf, mv, off, end)
        if n:
            out.append((off, struct.unpack_from("<I", buf, off + 3)[0], n - _HDR - _TAIL))
            off += n
        else:
            off += 1
    return out


def index_file(f, buf):
    """Stream-scan an open segment (as scan(), without loading it): returns
    (offsets array, seqs, end of the last valid record, file size). buf: a small
    reused bytearray (>= 16 bytes); the CRC is computed chunk by chunk. seqs is the first
    record's sequence number while they run on without a gap (record i has seqs + i: no
    second array in RAM), else an array of all of them; None without records (`_at`)."""
    offs = array("I")
    seqs = None
    mv = memoryview(buf)
    bl = len(buf)
    f.seek(0, 2)
    size = f.tell()
    off = 0
    end = 0
    while off + _HDR + _TAIL <= size:
        f.seek(off)
        f.readinto(mv[:_HDR])
        n = buf[1] | (buf[2] << 8)
        if buf[0] == _MAGIC and n <= _MAX and off + _HDR + n + _TAIL <= size:
            seq = buf[3] | (buf[4] << 8) | (buf[5] << 16) | (buf[6] << 24)
            c = crc32(mv[:_HDR])
            k = n
            while k:
                r = f.readinto(mv[:min(k, bl)])
                c = crc32(mv[:r], c)
                k -= r
            f.readinto(mv[:_TAIL])
            if c & 0xFFFFFFFF == struct.unpack_from("<I", buf)[0]:
                if seqs is None:
                    seqs = seq
                elif not isinstance(seqs, int):
                    seqs.append(seq)
                elif seq != seqs + len(offs):  # a gap (damaged record): list them all
                    seqs = array("I", range(seqs, seqs + len(offs)))
                    seqs.append(seq)
                offs.append(off)
                off += _HDR + n + _TAIL
                end = off
                continue
        off += 1  # damaged or torn: search forward for the next valid record
    return offs, seqs, end, size


def _at(seqs, i):
    """Sequence number of record i of a segment index (index_file's seqs)."""
    return seqs + i if isinstance(seqs, int) else seqs[i]


class RecordList:
    # RAM per list matters (one per OML channel): per object only store, name, capacity,
    # segs (a tuple), last_seq and _end; rarely changed state lives in these class
    # defaults until a list sets its own; the path, the segment size, the newest
    # segment's record count and the last payload are derived (the last record is read
    # back from flash at its offset)
    policy = "drop"
    warned = False
    trimmed = 0
    recovered_bytes = 0
    segs = ()  # first sequence number of each segment file, ascending
    # newest segment: its size << 12 | the last record's size (0: no record); both fit,
    # so it stays a small int on the 32-bit boards too (< 2**28)
    _end = 0
    _gap = 0  # records of the newest segment's sequence span lost to damage (recovery)

    def __init__(self, store, name, capacity, policy="drop"):
        self.store = store
        self.name = name
        self.capacity = max(1, capacity)
        if policy != "drop":
            self.policy = policy
        mkdirs(self.path)
        self._open()

    @property
    def path(self):
        return self.store.root + "/" + self.name

    @property
    def seg_records(self):
        return min(_SEG_RECORDS, max(16, self.capacity // 4))

    @property
    def last(self):
        """Payload of the newest record (also after trim), or None."""
        e = self._end
        if not e & 0xFFF:
            return None
        return self._read_at(self.segs[-1], (e >> 12) - (e & 0xFFF))

    def _read_at(self, first, off):
        with open(self._seg_path(first), "rb") as f:
            f.seek(off + 1)
            h = f.read(2)
            f.seek(off + _HDR)
            return f.read(h[0] | (h[1] << 8))

    # ---- recovery --------------------------------------------------------------------
    def _open(self):
        segs = []
        path = self.path
        for n in os.listdir(path):
            if n.endswith(".tmp"):
                os.remove(path + "/" + n)
            elif n[0] == "s":
                try:
                    segs.append(int(n[1:]))
                except ValueError:
                    pass
        segs.sort()
        try:
            with open(path + "/trim") as f:
                self.trimmed = int(f.read())
        except (OSError, ValueError):
            pass
        self.last_seq = self.trimmed
        buf = self.store.buf
        while segs:
            first = segs[-1]
            p = self._seg_path(first)
            with open(p, "rb") as f:
                offs, seqs, end, size = index_file(f, buf)
            if end < size or not offs:  # torn tail: keep the valid prefix only (atomic
                # rename); no record at all (a power cut right after the new segment was
                # created: littlefs commits the empty file at open): the file goes
                self.recovered_bytes = size - end
                if end:
                    _copy_prefix(p, end, buf)
                else:
                    os.remove(p)
                    segs.pop()
                    continue
            self.last_seq = _at(seqs, len(offs) - 1)
            self._end = end << 12 | (end - offs[-1])
            if self.last_seq - first + 1 != len(offs):
                self._gap = self.last_seq - first + 1 - len(offs)
            break
        if segs:
            self.segs = (1,) if segs == [1] else tuple(segs)  # (1,): see append()

    @property
    def _cache(self):
        """(segment first seq, offsets, seqs) of the one segment index the whole store
        keeps in RAM (at most 512 records, 2 KiB + the seqs if they have a gap), if it
        belongs to this list."""
        c = self.store.cache
        return c[1] if c is not None and c[0] is self else None

    @_cache.setter
    def _cache(self, v):
        c = self.store.cache
        if v is not None:
            self.store.cache = (self, v)
        elif c is not None and c[0] is self:
            self.store.cache = None

    def _seg_path(self, first):
        return "%s/%s/s%d" % (self.store.root, self.name, first)

    # ---- properties --------------------------------------------------------------------
    @property
    def first_seq(self):
        f = self.segs[0] if self.segs else self.last_seq + 1
        return max(f, self.trimmed + 1)

    def __len__(self):
        return max(0, self.last_seq - self.first_seq + 1)

    # ---- writing -----------------------------------------------------------------------
    def append(self, payload):
        """Store one record; returns its sequence number once it is durable."""
        seq = self.last_seq + 1
        h, t = _frame(seq, payload)
        rec = (h, payload, t)
        size = _HDR + len(payload) + _TAIL
        if self.policy == "block" and len(self) >= self.capacity:
            self.store.flush()
            raise StoreFull(self.name)
        segs = self.segs
        end = self._end >> 12  # the newest segment's size
        new_seg = (not segs or self.last_seq - segs[-1] + 1 - self._gap >= self.seg_records
                   or end + size > _SEG_BYTES)
        # ring: drop the oldest segment once the rest alone holds the capacity
        while len(self.segs) > 1 and self.last_seq + 1 - self.segs[1] >= self.capacity:
            self._drop_oldest()
        try:
            self._write(seq, rec, new_seg)
        except OSError as e:
            if e.args[0] != 28 or len(self.segs) < 2 or self.policy == "block":
                raise
            self._drop_oldest()  # ENOSPC: make room in a ring list and retry once
            self._write(seq, rec, new_seg)
        if new_seg:
            # (1,) is a constant of this module: every young list (one segment, from
            # sequence 1, e.g. each OML channel for its first 512 values) shares it
            self.segs = self.segs + (seq,) if self.segs else (1,) if seq == 1 else (seq,)
            end = 0
            if self._gap:
                self._gap = 0
        self._end = (end + size) << 12 | size
        self.last_seq = seq
        c = self._cache
        if c is not None and c[0] == self.segs[-1]:
            self._cache = None
        if not self.warned and len(self) * 10 >= self.capacity * 9:
            self.warned = True
            self.store.event(2, _m(_T, 1), _m(_T, 2) % (self.name, len(self), self.capacity))
        if self.store.pending:
            self.store.flush()
        return seq

    def _write(self, seq, rec, new_seg):
        with open(self._seg_path(seq if new_seg else self.segs[-1]), "ab") as f:
            for part in rec:  # one open file: littlefs commits the record on close
                f.write(part)

    def _drop_oldest(self):
        first = self.segs[0]
        nxt = self.segs[1] if len(self.segs) > 1 else self.last_seq + 1
        self.store.on_drop(self, first, nxt)  # before: the hook may read the segment
        self.segs = self.segs[1:]
        os.remove(self._seg_path(first))
        self._cache = None
        self.store.event(2 if self.policy == "drop" else 3, _m(_T, 3),
                         _m(_T, 4) % (self.name, first, nxt - 1))

    def trim(self, upto_seq):
        """Drop records up to and including upto_seq (acknowledged queue entries)."""
        upto_seq = min(upto_seq, self.last_seq)
        if upto_seq <= self.trimmed:
            return
        self.trimmed = upto_seq
        write_atomic(self.path + "/trim", str(upto_seq).encode())
        while len(self.segs) > 1 and self.segs[1] <= upto_seq + 1:
            first = self.segs[0]
            self.segs = self.segs[1:]
            os.remove(self._seg_path(first))
            self._cache = None

    # ---- reading -----------------------------------------------------------------------
    def _locate(self, seq):
        """(segment first seq, file offset) of seq, or (None, None)."""
        segs = self.segs
        lo, hi = 0, len(segs) - 1
        if hi < 0 or seq < segs[0] or seq > self.last_seq:
            return None, None
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if segs[mid] <= seq:
                lo = mid
            else:
                hi = mid - 1
        first = segs[lo]
        c = self._cache
        if c is None or c[0] != first:
            try:
                with open(self._seg_path(first), "rb") as f:
                    offs, seqs, _, _ = index_file(f, self.store.buf)
            except OSError:
                return None, None
            c = self._cache = (first, offs, seqs)
        offs, seqs = c[1], c[2]
        if seqs is None:  # no valid record in the segment
            return None, None
        if isinstance(seqs, int):
            i = seq - seqs
            return (first, offs[i]) if 0 <= i < len(offs) else (None, None)
        i = seq - first
        if i >= len(seqs) or seqs[i] != seq:  # a damaged record before it: search
            i = 0
            while i < len(seqs) and seqs[i] != seq:
                i += 1
            if i == len(seqs):
                return None, None
        return first, offs[i]

    def read(self, seq):
        if seq < self.first_seq or seq > self.last_seq:
            return None
        if seq == self.last_seq and self._end & 0xFFF:
            return self.last
        first, off = self._locate(seq)
        if first is None:
            return None
        return self._read_at(first, off)

    def iter(self, from_seq=0):
        """Sequence numbers of the stored records from from_seq on (ascending)."""
        s = max(from_seq, self.first_seq)
        while s <= self.last_seq:
            yield s
            s += 1

    def records(self, from_seq=0, to_seq=None):
        """(seq, payload) pairs, ascending. Reads up to 32 records per file open and
        holds no file open while the caller runs (it may append to the same list)."""
        hi = self.last_seq if to_seq is None else min(to_seq, self.last_seq)
        s = max(from_seq, self.first_seq)
        while s <= hi:
            first, off = self._locate(s)
            if first is None:
                s += 1
                continue
            _, offs, seqs = self._cache
            i = s - first
            if i >= len(offs) or offs[i] != off:
                i = 0
                while offs[i] != off:
                    i += 1
            batch = []
            with open(self._seg_path(first), "rb") as f:
                while i < len(offs) and _at(seqs, i) <= hi and len(batch) < 32:
                    f.seek(offs[i] + 1)
                    h = f.read(2)
                    f.seek(offs[i] + _HDR)
                    batch.append((_at(seqs, i), f.read(h[0] | (h[1] << 8))))
                    i += 1
            for rec in batch:
                yield rec
            s = batch[-1][0] + 1
            if i >= len(offs):  # segment done (the rest may be damaged): next segment
                for g in self.segs:
                    if g > first:
                        s = max(s, g)
                        break
                else:
                    break


def _copy_prefix(path, n, buf):
    with open(path, "rb") as src:
        with open(path + ".tmp", "wb") as dst:
            mv = memoryview(buf)
            while n > 0:
                k = src.readinto(mv[:min(n, len(buf))])
                if not k:
                    break
                dst.write(mv[:k])
                n -= k
    os.rename(path + ".tmp", path)


class RecordStore:
    """A set of record lists under one directory (e.g. /data/store)."""

    def __init__(self, root, on_event=None):
        self.root = root
        self.on_event = on_event
        self.lists = {}
        self.drop_hooks = {}
        self.fs_warned = False
        self.pending = []
        self.flushing = False
        self.buf = bytearray(64)  # shared scan/copy buffer
        self.cache = None  # (list, segment index): one for the whole store
        mkdirs(root)

    def open_list(self, name, capacity_records, policy="drop"):
        lst = self.lists.get(name)
        if lst is None:
            lst = self.lists[name] = RecordList(self, name, capacity_records, policy)
        return lst

    def event(self, level, event, msg):
        """Queue an event; delivered by flush() once the current append is complete (the
        sink may append to a list itself, e.g. the system log)."""
        self.pending.append((level, event, msg))

    def flush(self):
        if self.flushing or not self.on_event:
            return
        self.flushing = True
        try:
            while self.pending:
                try:
                    self.on_event(*self.pending.pop(0))
                except Exception:  # noqa: BLE001 - a broken sink must not break the store
                    pass
        finally:
            self.flushing = False

    def on_drop(self, lst, first, new_first):
        h = self.drop_hooks.get(lst.name)
        if h:
            h(lst, first, new_first)

    def usage(self):
        """(used fraction of the file system, free bytes)."""
        try:
            st = os.statvfs(self.root)
        except OSError:
            return 0.0, 0
        total = st[2] or 1
        free = st[3] if st[3] <= total else 0  # littlefs full: free blocks wrap (u32)
        return (total - free) / total, free * st[0]

    def check_space(self):
        used, free = self.usage()
        if used >= 0.9 and not self.fs_warned:
            self.fs_warned = True
            self.event(3, _m(_T, 1), _m(_T, 5) % (int(used * 100), free))
            self.flush()
        elif used < 0.8:
            self.fs_warned = False
        return used
