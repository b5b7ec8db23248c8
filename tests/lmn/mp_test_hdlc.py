# HDLC frame codec and scanner (IEC 62056-46), against 16 real/library frames.
# heapsize: 256K
import binascii
import random
from mptest import eq, raises, vectors
from lmn import hdlc


def _vec():
    return [(d, binascii.unhexlify(d["hex"])) for d in vectors("hdlc_frames.jsonl")]


def test_all_vectors_decode_and_reencode():
    vs = _vec()
    eq(len(vs), 16)
    for d, b in vs:
        e = d["decoded"]
        f, nxt = hdlc.decode_at(b, 0, len(b))
        eq(nxt, len(b) - 1, d["name"])
        eq(f.format, int(e["format"], 16), d["name"])
        eq(f.length, e["length"])
        eq(f.segmented, bool(e["segmented"]))
        eq(f.dest, e["dst_dec"], d["name"])
        eq(f.src, e["src_dec"], d["name"])
        eq(binascii.hexlify(f.dest_raw).decode(), e["dst"])
        eq(binascii.hexlify(f.src_raw).decode(), e["src"])
        eq(f.control(), int(e["ctrl"], 16))
        eq(e["ctrl_name"].split()[0], f.kind)
        eq(f.pf, "P/F=1" in e["ctrl_name"])
        eq(f.hcs_ok, e.get("hcs_ok"))
        eq(f.fcs_ok, True)
        eq(bytes(f.encode()), b, d["name"])


def test_negotiation_parameters():
    vs = {d["name"]: b for d, b in _vec()}
    f = hdlc.decode_at(vs["UA reply to it (max info 0x03F2=1010)"], 0, 99)[0]
    p = hdlc.parameters(f.info)
    eq((p["max_tx"], p["max_rx"], p["window_tx"], p["window_rx"]), (1010, 1010, 1, 1))
    blk = hdlc.parameter_block(256, 512, 1, 1)
    eq(hdlc.parameters(blk), {"max_tx": 256, "max_rx": 512, "window_tx": 1, "window_rx": 1})


def test_scanner_resyncs_on_garbage_and_split_reads():
    vs = [b for d, b in _vec()]
    random.seed(5)
    stream = bytearray()
    for b in vs:
        stream += bytes(random.getrandbits(8) for _ in range(random.getrandbits(4)))
        stream += b"\x7e\xa0" if random.getrandbits(1) else b""  # fake frame starts
        stream += b
    for step in (1, 3, 50, 5000):
        sc = hdlc.Scanner()
        got = []
        for i in range(0, len(stream), step):
            got.extend(sc.feed(stream[i:i + step]))
        eq([bytes(f.encode()) for f in got], vs, "step %d" % step)
        assert sc.garbage > 0


def test_shared_flags_and_bad_fcs_does_not_lose_next_frame():
    vs = [b for d, b in _vec()]
    # frames sharing one flag: 7E f1 7E f2 7E
    s = vs[0][:-1] + vs[1] + vs[2][1:]
    eq(len(hdlc.Scanner().feed(s)), 3)
    bad = bytearray(vs[2])
    bad[-2] ^= 0x10  # FCS broken
    sc = hdlc.Scanner()
    got = sc.feed(bytes(bad) + vs[3])
    eq(len(got), 1)
    eq(bytes(got[0].encode()), vs[3])
    eq(sc.errors, 1)
    eq(sc.last_errors[0][1], "bad FCS")


def test_a_false_start_claiming_a_long_frame_is_rejected_by_hcs():
    vs = [b for d, b in _vec()]
    junk = b"\x7e\xa7\xff\x03\x21\x10\x00\x00"  # claims 2047 bytes; HCS wrong
    got = hdlc.Scanner().feed(junk + vs[4])
    eq(len(got), 1)


def test_encode_all_kinds_roundtrip():
    for kind in ("I", "RR", "RNR", "SNRM", "UA", "DISC", "DM", "FRMR", "UI"):
        for da in ([16], [1, 17], [1, 3875]):
            f = hdlc.Frame(kind, hdlc.addr(da), hdlc.addr([1]), 3, 5, True,
                           b"\x7e\x7e data" if kind in ("I", "UI", "SNRM") else b"")
            if kind not in ("I",):
                f.ns = None
            if kind not in ("I", "RR", "RNR"):
                f.nr = None
            b = f.encode()
            g = hdlc.decode_at(b, 0, len(b))[0]
            eq((g.kind, g.dest, g.ns, g.nr, g.info), (kind, da, f.ns, f.nr, f.info))


def test_errors():
    with raises(hdlc.HdlcError):
        hdlc.decode_at(b"\x7e\xb0\x07\x03\x21\x93\x0f\x01\x7e", 0, 9)
    b = bytearray(binascii.unhexlify("7ea0070321930f017e"))
    b[5] = 0x77  # unknown U frame: FCS fixed up so only the control is wrong
    from lmn import crc
    c = crc.x25(b[1:6])
    b[6], b[7] = c & 0xFF, c >> 8
    with raises(hdlc.HdlcError) as r:
        hdlc.decode_at(b, 0, len(b))
    eq(r.value.offset, 5)
    with raises(hdlc.HdlcError):
        hdlc.encode(b"\x03", b"\x21", 0x10, bytes(2100))
