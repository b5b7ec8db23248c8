# Record store: append/read, torn-tail recovery, damage, capacity policies, trim.
# heapsize: 512K
import corefix
from mptest import eq, raises
from store.records import RecordStore, StoreFull, encode, scan

EVENTS = []


def _store(m, name="s"):
    return RecordStore(m + "/" + name, on_event=lambda *a: EVENTS.append(a))


def test_append_read_reopen():
    m = corefix.fresh_fs()
    s = _store(m)
    l = s.open_list("a", 100)
    eq(l.first_seq, 1)
    eq(l.last_seq, 0)
    for i in range(1, 41):
        eq(l.append(b"rec%d" % i), i)
    eq(l.read(7), b"rec7")
    eq(l.read(41), None)
    eq(l.read(0), None)
    l2 = _store(m).open_list("a", 100)
    eq((l2.first_seq, l2.last_seq, l2.last), (1, 40, b"rec40"))
    eq([p for _, p in l2.records(38)], [b"rec38", b"rec39", b"rec40"])
    eq(l2.append(b"x"), 41)


def test_torn_tail_drops_only_last_record():
    m = corefix.fresh_fs()
    l = _store(m).open_list("t", 100)
    for i in range(10):
        l.append(b"v%d" % i)
    p = l.path + "/s%d" % l.segs[-1]
    full = encode(11, b"torn-record-payload")
    for cut in (1, 5, 8, len(full) - 1):  # power failed after `cut` bytes of record 11
        with open(p, "ab") as f:
            f.write(full[:cut])
        l2 = _store(m).open_list("t", 100)
        eq(l2.last_seq, 10, "cut %d" % cut)
        eq(l2.recovered_bytes, cut)
        eq([x for _, x in l2.records()], [b"v%d" % i for i in range(10)])
        eq(l2.append(b"after"), 11)
        l = l2
        with open(p, "rb") as f:
            img = f.read()
        with open(p, "wb") as f:  # take record 11 away again for the next cut
            f.write(img[:scan(img)[-1][0]])


def test_damage_in_the_middle_is_not_a_tail():
    m = corefix.fresh_fs()
    l = _store(m).open_list("d", 100)
    for i in range(10):
        l.append(b"value-%d" % i)
    p = l.path + "/s%d" % l.segs[-1]
    with open(p, "rb") as f:
        b = bytearray(f.read())
    b[3 * 18 + 9] ^= 1  # a payload byte of record 4 (18-byte records)
    with open(p, "wb") as f:
        f.write(b)
    l2 = _store(m).open_list("d", 100)
    eq(l2.last_seq, 10)
    eq(l2.read(4), None)
    eq(l2.read(5), b"value-4")
    eq(len(list(l2.records())), 9)


def test_ring_capacity_drops_oldest_segments_and_warns():
    m = corefix.fresh_fs()
    del EVENTS[:]
    l = _store(m).open_list("r", 64)
    for i in range(1, 301):
        l.append(b"%d" % i)
    assert len(l) >= 64, len(l)
    assert len(l) <= 64 + l.seg_records, len(l)
    eq(l.read(300), b"300")
    eq(l.read(1), None)
    ev = [e[1] for e in EVENTS]
    assert "store.almost_full" in ev and "store.dropped" in ev, ev
    l2 = _store(m).open_list("r", 64)
    eq((l2.first_seq, l2.last_seq), (l.first_seq, 300))


def test_block_policy_refuses_instead_of_overwriting():
    m = corefix.fresh_fs()
    l = _store(m).open_list("b", 32, "block")
    n = 0
    with raises(StoreFull):
        while True:
            l.append(b"cal")
            n += 1
    eq(l.first_seq, 1)
    eq(l.read(1), b"cal")
    assert n >= 32


def test_trim_keeps_sequence_numbers_rising():
    m = corefix.fresh_fs()
    l = _store(m).open_list("q", 64)
    for i in range(50):
        l.append(b"q%d" % i)
    l.trim(30)
    eq(l.first_seq, 31)
    eq(l.read(30), None)
    eq(l.read(31), b"q30")
    l.trim(50)
    eq(len(l), 0)
    l2 = _store(m).open_list("q", 64)
    eq((l2.first_seq, l2.last_seq), (51, 50))
    eq(l2.append(b"next"), 51)
    eq(list(l2.iter(0)), [51])


def test_ecrc_reference():
    # the record CRC is CRC-32/ISO-HDLC: check value of "123456789" = 0xCBF43926
    from binascii import crc32
    eq(crc32(b"123456789") & 0xFFFFFFFF, 0xCBF43926)
    r = encode(5, b"abc")
    eq(scan(r), [(0, 5, 3)])
    eq(scan(r[:-1]), [])


def test_damaged_records_in_segment_index():
    # the segment index keeps one array while the sequence runs on without a gap; a
    # damaged first record or one in the middle must read exactly as before
    for bad in (1, 4):
        m = corefix.fresh_fs()
        l = _store(m).open_list("g", 64)
        for i in range(1, 41):
            l.append(b"value-%02d" % i)
        p = l.path + "/s%d" % l.segs[0]
        with open(p, "rb") as f:
            b = bytearray(f.read())
        b[(bad - 1) * 19 + 9] ^= 1  # a payload byte of record `bad` (19-byte records)
        with open(p, "wb") as f:
            f.write(b)
        l2 = _store(m).open_list("g", 64)
        want = [(i, b"value-%02d" % i) for i in range(1, 41) if i != bad]
        eq([(s, bytes(v)) for s, v in l2.records()], want)
        eq([l2.read(i) for i in (bad - 1, bad, bad + 1)],
           [b"value-%02d" % (bad - 1) if bad > 1 else None, None, b"value-%02d" % (bad + 1)])
        eq([s for s, _ in l2.records(bad, bad + 2)], [bad + 1, bad + 2])
        eq((l2.last_seq, l2.last), (40, b"value-40"))
