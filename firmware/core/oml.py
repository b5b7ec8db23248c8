"""Original measurement list (OML): every value a meter delivered, per channel.

A channel is (meter id, OBIS "A-B:C.D.E*F"); the channel table is the store list
"channels" (JSON [meter, obis] per record, its sequence = channel number) and each
channel's values are the list "oml-<n>", one fixed 28-byte payload per value:

    capture_time u32 | target_time u32 | raw i64 | scaler i8 | unit u8 |
    status u64 (SMGW status word in the low 32 bits, meter status word in the high
    32 bits: "SMGW 32 bit + meter 32 bit, LSB first") | flags u16
    [| signature r||s 64 bytes, when flags bit 0 (SIGNED) is set: a 92-byte payload]

Records written before signatures existed have flags 0 and 28 bytes; they read back
unchanged (no "signature" key). The flags word is the format version switch: readers
ignore unknown higher bits and take the signature only when bit 0 is set and present.

Status word (FNN Lastenheft SMGW, status information of measured values; bit numbers
as used by the SMGW and meter status in the FNN format): the SMGW half always carries
its identification bit 0x00000002, 0x00000200 = system time invalid; the meter half
carries the meter's word as received, with the meter identification bit 0x00000100
set when the meter sent none.

Value signature (config "core": {"sign_oml": true}): ECDSA P-256 by the security module
(ctx.secmod.sign, the gateway key) over SHA-256 of the canonical encoding `message(d)`:

    b"SMGW-OML\x01" | u8 len(meter) | meter UTF-8 | u8 len(obis) | obis UTF-8 |
    capture_time u32 LE | raw i64 LE | scaler i8 | unit u8 | status u64 LE

(struct "<IqbBQ" for the numbers; the target time is derived from the capture time and
is not signed). Stored as r||s, 32 bytes big-endian each; dicts carry it as "signature"
(128 hex digits). `verify(d, public_key)` checks one value dict against a 65-byte
uncompressed public key.

Queries are inclusive at both ends; values within a channel are normally in capture
order, so a time range is found by binary search over the sequence numbers (log n record
reads) and paged with offset/limit. A value captured before the channel's newest one (the
clock stepped back by a time sync) is stored as well and marks its channel "unordered"
(<store>/oml-unordered): that channel's queries scan all its values. Bad input (types,
u32 capture time, i64 raw, i8 scaler, u8 unit) raises OmlError, never a truncated value.
`last()` answers from the list's in-memory last record.
"""
import json
import struct
from binascii import hexlify

from store.records import RecordList, mkdirs, write_atomic
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("raw value not a 64-bit integer: %r|scaler/unit out of range|signature length"
           "|capture time not a u32 UTC second: %r"
           "|meter id/OBIS: non-empty text of <= 255 characters|status word not an integer: %r"
           "|/oml-unordered")


SMGW_ID = const(0x00000002)
TIME_INVALID = const(0x00000200)
METER_ID = const(0x00000100)
_FMT = "<IIqbBQH"
REC = const(28)
SIGNED = const(1)


class OmlError(Exception):
    pass


def pack(capture, target, raw, scaler, unit, status, sig=None):
    if sig is None:
        return struct.pack(_FMT, capture, target, raw, scaler, unit, status, 0)
    if len(sig) != 64:
        raise OmlError(msg(_T, 2))
    return struct.pack(_FMT, capture, target, raw, scaler, unit, status, SIGNED) + sig


def unpack(meter, obis, p):
    c, t, raw, sc, unit, st, fl = struct.unpack_from(_FMT, p)
    d = {"meter": meter, "obis": obis, "capture_time": c, "target_time": t, "raw": raw,
         "scaler": sc, "unit": unit, "status": st}
    if fl & SIGNED and len(p) >= REC + 64:
        d["signature"] = hexlify(p[REC:REC + 64]).decode()
    return d


def __getattr__(name):
    # value signatures (message, digest, sign, verify) live in core.omlsig, loaded on
    # first use: a gateway without "sign_oml" never needs them
    if name in ("message", "digest", "sign", "verify"):
        from core import omlsig

        return getattr(omlsig, name)
    raise AttributeError(name)


def check(meter, obis, raw, scaler, unit, capture, status):
    """The capture time as int if a reading is storable, else OmlError (typed, never a
    TypeError from deeper down; the u32/i64 fields are range-checked, not truncated)."""
    for s in (meter, obis):
        if not isinstance(s, str) or not 0 < len(s) <= 255:
            raise OmlError(msg(_T, 4))
    if not isinstance(raw, int) or isinstance(raw, bool) or not -(1 << 63) <= raw < (1 << 63):
        raise OmlError(msg(_T, 0) % (raw,))
    if (not isinstance(scaler, int) or not isinstance(unit, int)
            or not -128 <= scaler <= 127 or not 0 <= unit <= 255):
        raise OmlError(msg(_T, 1))
    if status is not None and not isinstance(status, int):
        raise OmlError(msg(_T, 5) % (status,))
    try:
        c = int(capture)
    except (TypeError, ValueError, OverflowError):
        c = -1
    if isinstance(capture, bool) or not 0 <= c <= 0xFFFFFFFF:
        raise OmlError(msg(_T, 3) % (capture,))
    return c


def status_word(smgw_bits, meter_status):
    m = METER_ID if meter_status is None else meter_status & 0xFFFFFFFF
    return ((m << 32) | (SMGW_ID | smgw_bits)) & 0xFFFFFFFFFFFFFFFF


def _chan_type(store, capacity):
    """The type of one Oml's channel lists "oml-<n>" (RAM: ~35 of them with 20 wM-Bus
    meters): per object only n, segs, last_seq and _end; the store and the capacity are
    the type's, the name is derived; the lists are not in store.lists. Made when the
    first channel opens (a gateway without meters has none)."""

    class Chan(RecordList):
        def __init__(self, n):
            self.n = n
            mkdirs(self.path)
            self._open()

        @property
        def name(self):
            return "oml-%d" % self.n

    Chan.store = store
    Chan.capacity = max(1, capacity)
    return Chan


class Oml:
    def __init__(self, store, capacity=4096):
        self.store = store
        self.capacity = capacity
        self._chan = None  # the channel lists' type (_chan_type), made on first use
        self.chan_list = store.open_list("channels", 256, "block")
        self.chans = {}  # (meter, obis) -> record list
        # channel numbers with a value captured before an earlier-stored one (a clock
        # stepped back by a time sync): their queries scan instead of a binary search;
        # kept in <store>/oml-unordered (JSON list), empty on a normal gateway
        self.unordered = ()
        try:
            with open(store.root + msg(_T, 6)) as f:
                self.unordered = set(json.load(f))
        except (OSError, ValueError):
            pass
        for seq, p in self.chan_list.records():
            meter, obis = json.loads(p)
            self._open(seq, meter, obis)

    def _open(self, n, meter, obis):
        # the key's strings interned (hasattr makes a qstr of a str, "%s" % then returns
        # that qstr): one object per meter id and OBIS code for every holder, and the
        # producers' strings decoded anew with each reading are that object too (no heap
        # str per reading); bounded: at most 256 channels
        hasattr(Oml, meter)
        hasattr(Oml, obis)
        meter = "%s" % meter
        obis = "%s" % obis
        if self._chan is None:
            self._chan = _chan_type(self.store, self.capacity)
        lst = self._chan(n)
        self.chans[(meter, obis)] = lst
        return lst

    def channel(self, meter, obis, create=True):
        lst = self.chans.get((meter, obis))
        if lst is None and create:
            n = self.chan_list.append(json.dumps([meter, obis]).encode())
            lst = self._open(n, meter, obis)
        return lst

    def channels(self):
        return list(self.chans)

    def key(self, meter, obis):
        """A per-channel state key for TAFs: the channel's list object (no tuple and no
        second copy of the id strings per channel), (meter, obis) without a channel."""
        lst = self.chans.get((meter, obis))
        return (meter, obis) if lst is None else lst

    def append(self, meter, obis, capture, target, raw, scaler, unit, status, sig=None):
        capture = check(meter, obis, raw, scaler, unit, capture, 0)
        if not 0 <= status < (1 << 64):
            raise OmlError(msg(_T, 5) % (status,))
        lst = self.channel(meter, obis)
        p = lst.last
        if p is not None and capture < struct.unpack_from("<I", p)[0] \
                and lst.n not in self.unordered:
            self.unordered = set(self.unordered)
            self.unordered.add(lst.n)
            write_atomic(self.store.root + msg(_T, 6),
                         json.dumps(sorted(self.unordered)).encode())
        return lst.append(pack(capture, target, raw, scaler, unit, status, sig))

    def last(self, meter, obis):
        lst = self.chans.get((meter, obis))
        if lst is None or lst.last is None:
            return None
        return unpack(meter, obis, lst.last)

    def _time(self, lst, seq):
        p = lst.read(seq)
        return struct.unpack_from("<I", p)[0] if p is not None else None

    def _lower(self, lst, t0):
        """First sequence whose capture time is >= t0 (binary search)."""
        lo, hi = lst.first_seq, lst.last_seq + 1
        while lo < hi:
            mid = (lo + hi) // 2
            t = self._time(lst, mid)
            if t is not None and t < t0:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def iter_range(self, meter, obis, t0, t1):
        """Values with capture time in [t0, t1], in the order they were stored."""
        lst = self.chans.get((meter, obis))
        if lst is None:
            return
        if lst.n in self.unordered:  # not in capture order: scan the whole list
            for seq, p in lst.records():
                if t0 <= struct.unpack_from("<I", p)[0] <= t1:
                    yield unpack(meter, obis, p)
            return
        for seq, p in lst.records(self._lower(lst, t0)):
            d = unpack(meter, obis, p)
            if d["capture_time"] > t1:
                break
            yield d

    def query(self, meter, obis, t0, t1, offset=0, limit=100):
        out = []
        for d in self.iter_range(meter, obis, t0, t1):
            if offset:
                offset -= 1
                continue
            if len(out) >= limit:
                break
            out.append(d)
        return out
