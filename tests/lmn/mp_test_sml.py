# SML 1.04 transport + parser + encoder, against the 12 real meter frames.
# heapsize: 256K
import binascii
from mptest import eq, raises, vectors
from lmn import sml


def _expect(d, vals):
    byo = {}
    for v in vals:
        byo.setdefault(v["obis"], v)
    for e in d["expected"]:
        v = byo.get(e["obis"])
        assert v is not None, (d["meter"], e["obis"])
        if "value" in e:
            eq(v["raw"], e["value"], d["meter"] + " " + e["obis"])
        for k in ("scaler", "unit", "status"):
            if k in e:
                eq(v[k], e[k], d["meter"] + " " + e["obis"] + " " + k)
        if "value_octets_hex" in e:
            eq(binascii.hexlify(v["octets"]).decode(), e["value_octets_hex"])
        if "value_ascii" in e:
            eq(v["octets"], e["value_ascii"].encode())


def test_all_vectors_decode_to_expected_fields():
    vs = vectors("sml_telegrams.jsonl")
    eq(len(vs), 12)
    for d in vs:
        b = binascii.unhexlify(d["hex"])
        kind, msgs = sml.decode(b)
        eq(kind, d["frame_crc"], d["meter"])
        eq(["0x%04x" % m["tag"] for m in msgs], d["message_tags"], d["meter"])
        for m in msgs:
            assert m["crc_ok"], (d["meter"], m["body"])
        eq([m["body"] for m in msgs], ["OpenResponse", "GetListResponse", "CloseResponse"])
        _expect(d, sml.readings(msgs))


def test_quirks():
    vs = {d["meter"]: d for d in vectors("sml_telegrams.jsonl")}
    # DZG sign bug: the raw Integer16 is kept as it is on the wire
    d = vs["DZG DVS-7412.2"]
    vals = sml.readings(sml.decode(binascii.unhexlify(d["hex"]))[1])
    p = [v for v in vals if v["obis"] == "1-0:16.7.0*255"][0]
    eq(p["raw"], -29912)
    # Holley: bare Unsigned32 valTime, KERMIT CRC written MSB first
    d = vs["Holley DTZ541 (RS485 variant per smllib readme)"]
    kind, msgs = sml.decode(binascii.unhexlify(d["hex"]))
    eq(kind, "kermit_be")
    v = [v for v in sml.readings(msgs) if v["obis"] == "1-0:1.8.0*255"][0]
    eq(v["val_time"], 0x0A575853)
    # EasyMeter: 64-bit counter, scaler -4
    d = vs["EasyMeter Q3A"]
    v = [v for v in sml.readings(sml.decode(binascii.unhexlify(d["hex"]))[1])
         if v["obis"] == "1-0:1.8.0*255"][0]
    eq((v["raw"], v["scaler"]), (29416461614, -4))


def test_bad_frame_crc_and_message_crc():
    d = vectors("sml_telegrams.jsonl")[0]
    b = bytearray(binascii.unhexlify(d["hex"]))
    b[-1] ^= 1
    kind, msgs = sml.decode(b)
    eq(kind, None)
    b = bytearray(binascii.unhexlify(d["hex"]))
    b[40] ^= 0x01  # inside the OpenResponse: message CRC fails (frame CRC too)
    try:
        kind, msgs = sml.decode(b)
        assert not all(m["crc_ok"] for m in msgs)
        eq(len(sml.readings(msgs)), len(sml.readings(sml.decode(
            binascii.unhexlify(d["hex"]))[1])))
    except sml.SmlError:
        pass


def test_escape_roundtrip_and_padding():
    for n in range(0, 12):
        payload = bytes(range(n)) + b"\x1b\x1b\x1b\x1b" + bytes(n)
        fr = sml.escape(payload)
        s, end, got, kind = sml.frame(fr)
        eq(kind, "x25_le")
        eq(end, len(fr))
        # the padding we add is removed; our payload came back (aligned escape doubled)
        eq(got[:len(payload)], payload)


def test_encoder_requests_decode():
    req = sml.get_list_request(b"gw\x00\x00\x01", b"\x00" * 5 + b"\x01",
                               bytes.fromhex("0a01454d480000b8ef47"))
    kind, msgs = sml.decode(req)
    eq(kind, "x25_le")
    eq([m["body"] for m in msgs], ["OpenRequest", "GetListRequest", "CloseRequest"])
    assert all(m["crc_ok"] for m in msgs)
    eq(msgs[1]["fields"]["server_id"], bytes.fromhex("0a01454d480000b8ef47"))
    req = sml.get_proc_parameter_request(b"t", b"c", b"s", [sml.obis_bytes("1-0:1.8.0*255")])
    msgs = sml.decode(req)[1]
    eq(msgs[1]["body"], "GetProcParameterRequest")
    eq(msgs[1]["fields"]["parameter_tree_path"], [bytes((1, 0, 1, 8, 0, 255))])
    req = sml.get_profile_list_request(b"t", b"c", b"s", 1000, 2000, [b"\x01"])
    msgs = sml.decode(req)[1]
    eq(msgs[1]["fields"]["begin_time"], [1, 1000])


def test_multibyte_tl_and_long_lists():
    out = bytearray()
    sml.encode_value([b"x" * 20, b"y" * 300, list(range(20))], out)
    v, p = sml.value(out)
    eq(p, len(out))
    eq(v[0], b"x" * 20)
    eq(v[1], b"y" * 300)
    eq(v[2], list(range(20)))
    # a hand-made two-byte TL: 0x81 0x03 = octet string of total length 0x13 (17 data)
    v, p = sml.value(b"\x81\x03" + b"z" * 17)
    eq(v, b"z" * 17)


def test_profile_list_and_proc_parameter_and_attention():
    ob = sml.obis_bytes("1-0:1.8.0*255")
    pl = sml.encode_message(b"a", 0x0501, [b"srv", [1, 5], sml.Int(900, 4), [ob], [1, 7],
                                           sml.Int(0, 4), [[ob, sml.Int(30, 1),
                                                            sml.Int(-1, 1, True),
                                                            sml.Int(1234, 8), None]],
                                           None, None])
    pp = sml.encode_message(b"b", 0x0601, [b"srv", [ob], [ob, [1, sml.Int(77, 4)], None]])
    at = sml.encode_message(b"c", 0xFF01, [b"srv", bytes((0x81, 0x81, 0xC7, 0xC7, 0xFE, 0)),
                                           None, None])
    msgs = sml.messages(pl + pp + at)
    eq([m["body"] for m in msgs], ["GetProfileListResponse", "GetProcParameterResponse",
                                   "AttentionResponse"])
    vals = sml.readings(msgs)
    eq([(v["obis"], v["raw"]) for v in vals], [("1-0:1.8.0*255", 1234), ("1-0:1.8.0*255", 77)])
    eq(vals[0]["scaler"], -1)
    eq(vals[0]["val_time"], 7)


def test_transport_stream_split_reads_and_garbage():
    vs = [binascii.unhexlify(d["hex"]) for d in vectors("sml_telegrams.jsonl")]
    stream = b"\x00garbage\x1b\x1b" + vs[0] + b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01\x76\x05" \
        + vs[1] + b"noise" + vs[2]
    for step in (1, 7, 64, 4096):
        tr = sml.Transport()
        got = []
        for i in range(0, len(stream), step):
            got.extend(tr.feed(stream[i:i + step]))
        eq(len(got), 3, "step %d" % step)
        eq([g[1] for g in got], ["x25_le"] * 3)


def test_errors_are_smlerror_with_offset():
    with raises(sml.SmlError) as r:
        sml.messages(b"\x76\x05\x01")
    assert r.value.offset >= 0
    with raises(sml.SmlError):
        sml.value(b"\x59\x01")  # Integer64 cut short
    with raises(sml.SmlError):
        sml.value(b"\x71" * 40)  # nesting too deep
    with raises(sml.SmlError):
        sml.decode(b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01\x1b\x1b\x1b\x1b\x99\x00\x00\x00")
