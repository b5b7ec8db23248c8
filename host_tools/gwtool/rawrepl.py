"""A minimal raw-REPL client over pyserial: the tests' and the benchmarks' one way to run
code on a board (or the virtual board's pty) while the application keeps running."""
import time


def raw_exec(port, code, timeout=10):
    """Run `code` on a board's (or the virtual board's) raw REPL over pyserial.

    Independent of mpremote and gwtool.board_link on purpose: the tests check those
    against this minimal client. Returns (stdout, stderr-with-traceback) as text.
    """
    import serial

    s = serial.Serial(port, 921600, timeout=0.2)
    try:
        s.write(b"\r\x03\r\x01")
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(b"raw REPL; CTRL-B to exit\r\n>"):
            buf += s.read(64)
            assert time.monotonic() < deadline, buf
        s.write(code.encode() + b"\x04")
        buf = b""
        while buf.count(b"\x04") < 2:
            buf += s.read(256)
            assert time.monotonic() < deadline, buf
        assert buf.startswith(b"OK"), buf
        out, err = buf[2:].split(b"\x04")[:2]
        s.write(b"\r\x02")
        return out.decode(), err.decode()
    finally:
        s.close()


def run(port, code, timeout=6):
    """raw_exec for the benchmarks: stdout as text; TimeoutError when the board does not
    answer in time, RuntimeError with the traceback when the code raised."""
    try:
        out, err = raw_exec(port, code, timeout)
    except AssertionError as e:
        raise TimeoutError("REPL did not answer") from e
    if err.strip():
        raise RuntimeError(err[-500:])
    return out
