# RAM measures of the LMN layer (docs/memory.md): the compact SML body table decodes
# exactly like the dict it replaced.
# heapsize: 256K
from lmn import sml
from mptest import eq

# the body table as it was (a dict literal), the reference for sml.body_spec
_BODIES_REF = {
    0x0100: "OpenRequest codepage client_id req_file_id server_id username password "
            "sml_version",
    0x0101: "OpenResponse codepage client_id req_file_id server_id ref_time sml_version",
    0x0200: "CloseRequest global_signature",
    0x0201: "CloseResponse global_signature",
    0x0400: "GetProfilePackRequest server_id username password with_rawdata begin_time "
            "end_time parameter_tree_path object_list das_details",
    0x0401: "GetProfilePackResponse server_id act_time reg_period parameter_tree_path "
            "header_list period_list rawdata profile_signature",
    0x0500: "GetProfileListRequest server_id username password with_rawdata begin_time "
            "end_time parameter_tree_path object_list das_details",
    0x0501: "GetProfileListResponse server_id act_time reg_period parameter_tree_path "
            "val_time status period_list rawdata period_signature",
    0x0600: "GetProcParameterRequest server_id username password parameter_tree_path "
            "attribute",
    0x0601: "GetProcParameterResponse server_id parameter_tree_path parameter_tree",
    0x0700: "GetListRequest client_id server_id username password list_name",
    0x0701: "GetListResponse client_id server_id list_name act_sensor_time val_list "
            "list_signature act_gateway_time",
    0x0800: "SetProcParameterRequest server_id username password parameter_tree_path "
            "parameter_tree",
    0xFF01: "AttentionResponse server_id attention_no attention_msg attention_details",
}


def test_body_spec_equals_reference_table():
    for tag in list(_BODIES_REF) + [0, 0x0102, 0x0702, 0xFF00, 0xFFFF, 0x10100, -1]:
        eq(sml.body_spec(tag), _BODIES_REF.get(tag), tag)


def test_patched_request_frame_equals_the_encoder():
    # lmn.meter encodes its GetList request once and patches the transaction number in
    # place: the bytes must be exactly what the encoder makes, for every tid, also when a
    # server id or a tid needs an escape sequence (then the meter falls back)
    import random
    from lmn import meter

    class Bus:
        client_raw = b"\x21"

    random.seed(7)
    ids = ["0a01454d480000b8ef47", "0a01454d4800000000" + "01", "1b1b1b1b", "001b1b1b1b",
           "00001b1b1b1b", "0000001b1b1b1b", "1b" * 26, "1b" * 25, "ff" * 16, "00"]
    for mid in ids:
        m = meter.Meter(Bus(), mid, 17)
        tids = [0, 1, 0xFFFFFF, 0x1B1B1B, 0x1B1B00, 0x001B1B] + [
            random.getrandbits(24) for _ in range(40)]
        for tid in tids:
            want = sml.get_list_request(b"gw" + tid.to_bytes(3, "big"), meter._CLIENT_ID,
                                        bytes.fromhex(mid))
            eq(bytes(m.request(tid)), want, (mid, tid))
        if mid == ids[0]:
            assert m.req is not None  # the usual meter takes the patch path
        if mid == "1b1b1b1b":
            assert m.req is None  # an aligned escape sequence: the encoder every time


def test_smlx_is_loaded_on_demand():
    import sys

    assert callable(sml.get_list_request) and "lmn.smlx" in sys.modules
    sys.modules.pop("lmn.smlx")
    import lmn
    delattr(lmn, "smlx")
    assert "lmn.smlx" not in sys.modules
    eq(sml.obis_bytes("1-0:1.8.0*255"), bytes((1, 0, 1, 8, 0, 255)))
    assert "lmn.smlx" in sys.modules


def test_error_reason_tables():
    # HdlcError/SmlError reasons come from one string per module (heap): the texts are
    # the ones the decode CLIs print, index by index
    from lmn import hdlc

    want = {hdlc: ["not a frame format type 3", "length too short", "bad destination address",
                   "bad source address", "length shorter than header", "no room for HCS",
                   "frame too long", "truncated parameter", "unknown S frame 0x%02x",
                   "unknown U frame 0x%02x"],
            sml: ["frame too long", "bad padding %d", "bad escape sequence", "truncated TL",
                  "bad TL continuation", "TL too long", "nesting too deep",
                  "list longer than data", "unexpected end of message", "bad length",
                  "value beyond end", "bad boolean", "bad integer width", "unknown type %d",
                  "message is not a list of 6", "missing end of message", "bad message body",
                  "no complete frame"]}
    for mod, reasons in want.items():
        err = hdlc.HdlcError if mod is hdlc else sml.SmlError
        for i, r in enumerate(reasons):
            arg = 0x42 if "%" in r else None
            try:
                mod._error(i, 7, arg)
            except err as e:
                eq((e.reason, e.offset), (r % arg if arg else r, 7))
            else:
                assert False, "no exception"
