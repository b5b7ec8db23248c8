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
