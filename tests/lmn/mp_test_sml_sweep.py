# Regressions from the generality sweep of lmn.sml over real SML captures it had not seen
# (devZer0/libsml-testing, the tests of spacemanspiff2007/SmlLib, olliiiver/sml_parser and
# others; values cross-checked with smllib). One test per bug fixed.
# heapsize: 128K
import binascii

from lmn import sml
from mptest import eq, raises

# DZG DVS-7412.2 frame with padding byte 4: the messages end on a word boundary and the meter
# still appends a whole word of 0x00 (frame CRC X-25 valid). Source:
# spacemanspiff2007/SmlLib tests/test_frames.py, param id 'Frame1'.
_DZG_PAD4 = (
    "1b1b1b1b0101010176051c414c02620062007263010176010102310b0a01445a47000282c0b07262016505"
    "471c2a620263f9380076051d414c02620062007263070177010b0a01445a47000282c0b0070100620affff"
    "7262016505471c2a7477070100603201010172620162006200520004445a470177070100600100ff017262"
    "016200620052000b0a01445a47000282c0b00177070100010800ff641c01047262016200621e520363344f"
    "0177070100020800ff017262016200621e520362000101016393770076051e414c02620062007263020171"
    "0163e6ba00000000001b1b1b1b1a04dad0")


def test_dzg_padding_of_four_zero_bytes_is_accepted():
    b = binascii.unhexlify(_DZG_PAD4)
    s, end, payload, kind = sml.frame(b)
    eq((s, end, kind), (0, len(b), "x25_le"))
    eq(payload[-1], 0)  # the end-of-message of the CloseResponse; the 4 pad bytes are gone
    eq(len(payload), len(b) - 16 - 4)
    kind, msgs = sml.decode(b)
    eq([m["body"] for m in msgs], ["OpenResponse", "GetListResponse", "CloseResponse"])
    assert all(m["crc_ok"] for m in msgs)
    vals = {v["obis"]: v for v in sml.readings(msgs)}
    eq(vals["1-0:96.50.1*1"]["octets"], b"DZG")
    v = vals["1-0:1.8.0*255"]
    eq((v["raw"], v["scaler"], v["unit"], v["status"]), (13391, 3, 30, 0x1C0104))
    eq((vals["1-0:2.8.0*255"]["raw"], vals["1-0:2.8.0*255"]["scaler"]), (0, 3))
    # the streaming path sees the frame too, without counting an error
    tr = sml.Transport()
    got = []
    for i in range(0, len(b), 7):
        got.extend(tr.feed(b[i:i + 7]))
    eq((len(got), got[0][1], tr.errors), (1, "x25_le", 0))
    # still refused: more than 3 padding bytes that are not all zero, padding beyond the data
    bad = bytearray(b)
    bad[-9] = 0x01  # the last padding byte before the end escape
    with raises(sml.SmlError) as r:
        sml.frame(bad)
    eq(r.value.reason, "bad padding 4")
    short = b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01\x00\x00\x00\x00\x1b\x1b\x1b\x1b\x1a\x05\x00\x00"
    with raises(sml.SmlError):
        sml.frame(short)


def test_readings_survive_a_scalar_where_a_list_belongs():
    # CRC-valid messages (so readings() takes them with only_crc_ok=True) whose val_list,
    # period_list or parameter-tree child list is an Unsigned8: this raised TypeError
    # ("'int' object isn't iterable"); found by byte mutations of eBZ DD3 2R06 captures
    ob = sml.obis_bytes("1-0:1.8.0*255")
    gl = sml.encode_message(b"a", 0x0701, [None, b"srv", None, None, sml.Int(5, 1), None, None])
    pl = sml.encode_message(b"b", 0x0501, [b"srv", [1, 5], sml.Int(900, 4), [ob], [1, 7],
                                           sml.Int(0, 4), sml.Int(3, 1), None, None])
    pp = sml.encode_message(b"c", 0x0601, [b"srv", [ob], [ob, [1, sml.Int(77, 4)],
                                                          sml.Int(2, 1)]])
    msgs = sml.messages(gl + pl + pp)
    assert all(m["crc_ok"] for m in msgs)
    eq([m["body"] for m in msgs], ["GetListResponse", "GetProfileListResponse",
                                   "GetProcParameterResponse"])
    vals = sml.readings(msgs)
    # nothing from the broken lists; the tree's own value still comes out
    eq([(v["obis"], v["raw"]) for v in vals], [("1-0:1.8.0*255", 77)])
    eq(sml.readings(msgs, only_crc_ok=False), vals)
