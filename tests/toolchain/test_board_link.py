"""The raw-REPL client (gwtool.board_link) against the gateway: exec, errors, files."""
import hashlib
import os

import pytest
from gwtool.board_link import BoardLink, LinkError, ReplError

# These tests exercise the toolchain, not the heap budget (tests/foundation and the bench
# hold the firmware to it): headroom so that a layer over budget cannot fail them.
VBOARD_EXTRA_HEAP = 64 * 1024


def test_exec_returns_stdout_and_keeps_state(gateway):
    with gateway.link() as link:
        assert link.exec("x = 6 * 7\nprint(x)") == "42\n"
        assert link.exec("print(x + 1)") == "43\n"
        info = link.info()
    assert info["micropython"].startswith("1.") and info["version"]
    assert info["virtual"] is gateway.virtual


def test_exception_on_board_is_a_repl_error_and_link_stays_usable(gateway):
    with gateway.link() as link:
        with pytest.raises(ReplError) as e:
            link.exec("print('before')\nraise ValueError('boom')")
        assert "ValueError: boom" in e.value.traceback and e.value.output == "before\n"
        assert link.exec("print(1)") == "1\n"


def test_large_code_and_unicode_roundtrip(gateway):
    text = "".join(chr(0x41 + i % 26) for i in range(1200))
    body = f"s = {text!r}\nprint(len(s), s[-3:], 'äö€')"
    with gateway.link() as link:
        assert link.exec(body).strip() == f"1200 {text[-3:]} äö€"


def test_write_file_is_atomic_and_checked(gateway):
    data = os.urandom(5000)
    with gateway.link() as link:
        digest = link.write_file("/data/tmp/x/blob.bin", data)
        assert digest == hashlib.sha256(data).hexdigest()
        assert link.sha256("/data/tmp/x/blob.bin") == digest
        assert link.read_file("/data/tmp/x/blob.bin") == data
        # a corrupted transfer is refused and leaves the old file in place
        link.exec_retry("import app.provision as P\nP.begin('/data/tmp/x/blob.bin')\n"
                        "P.chunk('AAAA')")
        assert link.exec_retry("P.commit('/data/tmp/x/blob.bin', '00' * 32)").strip() == \
            "mismatch"
        assert link.sha256("/data/tmp/x/blob.bin") == digest
        assert link.exec_retry("import os\nprint(os.listdir('/data/tmp/x'))").strip() == \
            "['blob.bin']"


def test_no_board_on_port_is_a_link_error(tmp_path):
    master, slave = os.openpty()
    try:
        with pytest.raises(LinkError, match="no raw REPL"):
            BoardLink(os.ttyname(slave), timeout=0.5).enter_raw()
    finally:
        os.close(master)
        os.close(slave)
    with pytest.raises(LinkError, match="cannot open"):
        BoardLink(str(tmp_path / "nope"))


def test_bench_reports_named_figures():
    from gwtool.bench_toolchain import run

    res = run(quick=True)
    assert set(res) == {"repl_connect_ms", "repl_roundtrip_ms", "diag_status_ms",
                        "provision_state_ms", "file_write_bytes_per_s", "file_write_bytes"}
    assert all(v > 0 for v in res.values())


def test_native_micropython_repl_with_raw_paste(native_repl, tmp_path):
    with BoardLink(native_repl, timeout=5) as link:
        assert link.exec("print(1 + 1)") == "2\n"
        assert link.raw_paste is True  # negotiated: the board's flow-controlled mode
        text = "".join(chr(0x41 + i % 26) for i in range(6000))  # several windows
        assert link.exec(f"s = {text!r}\nprint(len(s))").strip() == "6000"
        with pytest.raises(ReplError, match="ZeroDivisionError"):
            link.exec("1 / 0")
        data = os.urandom(3000)
        link.write_file(str(tmp_path / "blob.bin"), data)
    assert (tmp_path / "blob.bin").read_bytes() == data
