"""A raw-REPL client over pyserial: how every `gwtool` board command talks to a gateway.

The same bytes work against a real ESP32/RP2040 (USB CDC or UART) and against the virtual
board's pseudo-terminal, whose REPL is an asyncio task of the running gateway
(firmware/app/repl.py). Protocol (MicroPython docs, "The raw REPL" and
tools/pyboard.py / mpremote transport_serial.py):

  Ctrl-A            enter raw mode; the board answers "raw REPL; CTRL-B to exit\\r\\n>"
  Ctrl-E 'A' Ctrl-A raw-paste request: "R\\x01" + window size (flow controlled), or
                    "R\\x00" = not supported (the virtual board), then plain raw mode
  code Ctrl-D       compile and run; answer "OK" <stdout> 0x04 <traceback> 0x04 ">"
  Ctrl-B            back to the friendly REPL

Unlike mpremote this client never sends Ctrl-C unless asked (`interrupt=True`): on a
board the gateway *is* the main program, and a KeyboardInterrupt would stop it. It never
sends Ctrl-D on an empty buffer either (a soft reset on a board).

Device-side work must stay short: on the gateway the REPL shares the asyncio loop with
the application, so a long exec stalls it. Bulk transfers are split into small execs.
"""
import base64
import hashlib
import json
import os
import stat
import time

import serial

BANNER = b"raw REPL; CTRL-B to exit\r\n"
CHUNK = 512  # bytes of file data per exec (~700 bytes of source; the heap is tight)


class LinkError(Exception):
    """The board did not speak the raw-REPL protocol in time (transport or framing)."""


class ReplError(Exception):
    """Code ran on the board and raised; `.traceback` is the board's traceback text."""

    def __init__(self, traceback, output=""):
        lines = traceback.strip().splitlines()
        super().__init__(lines[-1] if lines else "error on the board")
        self.traceback = traceback
        self.output = output


def is_pty(port):
    try:
        st = os.stat(port)
        return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in range(136, 144)
    except OSError:
        return False


def py_literal(value):
    """A Python literal of a JSON-able value that MicroPython parses (json.dumps is not:
    true/false/null)."""
    return repr(value)


class BoardLink:
    """One open connection to a board's REPL. Use as a context manager."""

    def __init__(self, port, baud=115200, timeout=10.0, interrupt=False):
        self.port = port
        self.timeout = timeout
        self.pty = is_pty(port)
        try:
            self.ser = serial.Serial(port, baud, timeout=0.05, write_timeout=timeout)
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"cannot open {port}: {e}") from None
        self._rx = bytearray()
        self.raw = False
        self.raw_paste = None  # unknown until tried
        self.interrupt = interrupt

    # -- framing -------------------------------------------------------------------------
    def _fill(self):
        b = self.ser.read(max(1, self.ser.in_waiting))
        self._rx += b
        return bool(b)

    def _read_until(self, ending, timeout):
        """Bytes up to and including `ending`; what follows stays buffered."""
        deadline = time.monotonic() + timeout
        while True:
            i = self._rx.find(ending)
            if i >= 0:
                out = bytes(self._rx[:i + len(ending)])
                del self._rx[:i + len(ending)]
                return out
            if not self._fill() and time.monotonic() > deadline:
                raise LinkError(f"{self.port}: timeout waiting for {ending!r}; got "
                                f"{bytes(self._rx[-200:])!r}")

    def _read_exact(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self._rx) < n and time.monotonic() < deadline:
            self._fill()
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def _flush_input(self):
        self.ser.reset_input_buffer()
        self._rx = bytearray()

    def enter_raw(self):
        if self.raw:
            return
        self._flush_input()
        if self.interrupt:
            self.ser.write(b"\r\x03\x03")
            time.sleep(0.1)
        for attempt in range(3):
            self._flush_input()
            self.ser.write(b"\r\x01")
            try:
                self._read_until(BANNER + b">", min(self.timeout, 3.0))
                self.raw = True
                return
            except LinkError:
                if attempt == 2:
                    raise LinkError(f"{self.port}: no raw REPL (is a MicroPython board or "
                                    "the virtual board on this port?)") from None
                self.ser.write(b"\x02")  # maybe stuck in raw mode with a partial buffer
                time.sleep(0.2)

    def exit_raw(self):
        if self.raw:
            self.ser.write(b"\r\x02")
            self.raw = False
            time.sleep(0.05)
            self._flush_input()

    def _send_plain(self, data):
        step = 256
        for i in range(0, len(data), step):
            self.ser.write(data[i:i + step])
            if not self.pty:
                time.sleep(0.01)  # a UART's RX buffer is small; pyboard.py does the same
        self.ser.write(b"\x04")
        ok = self._read_until(b"OK", self.timeout)
        if not ok.endswith(b"OK"):
            raise LinkError(f"exec not accepted: {ok!r}")

    def _send_raw_paste(self, data):
        """Raw-paste mode: the board grants a window and refills it with 0x01."""
        window = int.from_bytes(self._read_exact(2, 2), "little")
        if not window:
            raise LinkError("raw-paste: no window size")
        remaining = window
        i = 0
        while i < len(data):
            while remaining == 0 or self._rx or self.ser.in_waiting:
                b = self._read_exact(1, self.timeout)
                if b == b"\x01":
                    remaining += window
                elif b == b"\x04":
                    self.ser.write(b"\x04")
                    raise LinkError("board ended raw-paste early")
                else:
                    raise LinkError(f"raw-paste: unexpected {b!r}")
            n = min(remaining, len(data) - i)
            self.ser.write(data[i:i + n])
            remaining -= n
            i += n
        self.ser.write(b"\x04")
        self._read_until(b"\x04", self.timeout)

    def exec(self, code, timeout=None):
        """Run `code` on the board; return its stdout. Raises ReplError on an exception."""
        self.enter_raw()
        data = code.encode() if isinstance(code, str) else code
        if self.raw_paste is not False:
            self.ser.write(b"\x05A\x01")
            head = self._read_exact(2, 2)
            if head == b"R\x01":
                self.raw_paste = True
                self._send_raw_paste(data)
            elif head == b"R\x00":
                self.raw_paste = False
                self._send_plain(data)
            else:  # an old firmware that echoed the bytes as raw input: resync
                self.raw_paste = False
                self.raw = False
                self.enter_raw()
                self._send_plain(data)
        else:
            self._send_plain(data)
        out = self._read_until(b"\x04", timeout or self.timeout)[:-1]
        err = self._read_until(b"\x04", timeout or self.timeout)[:-1]
        self._read_until(b">", 2)
        out_s = out.decode("utf-8", "replace").replace("\r\n", "\n")
        if err:
            raise ReplError(err.decode("utf-8", "replace"), out_s)
        return out_s

    def exec_retry(self, code, timeout=None, tries=3):
        """exec, retried after a garbage collection when the board's heap is too
        fragmented to compile the code (MemoryError before it ran: safe to repeat).
        Only for code that fails atomically (every bulk-transfer step does)."""
        for attempt in range(tries):
            try:
                return self.exec(code, timeout)
            except ReplError as e:
                if "MemoryError" not in str(e) or attempt == tries - 1:
                    raise
                self.exec("import gc\ngc.collect()")
                time.sleep(0.05)

    def json(self, code, timeout=None, retry=False):
        """Run code whose last printed line is JSON; return it decoded."""
        out = (self.exec_retry if retry else self.exec)(code, timeout).strip().splitlines()
        if not out:
            raise LinkError(f"no output from {code!r}")
        try:
            return json.loads(out[-1])
        except ValueError:
            raise LinkError(f"not JSON: {out[-1][:200]!r}") from None

    def call(self, module, func, *args, timeout=None, retry=True):
        """`module.func(*args)` on the board, whose result is printed as JSON. Retried
        after a MemoryError unless retry=False (for calls that must not run twice)."""
        argv = ", ".join(py_literal(a) for a in args)
        # json.dump streams to stdout: no second copy of the result as one string
        return self.json(f"import json, sys, {module}\njson.dump({module}.{func}({argv}), "
                         "sys.stdout)\nprint()", timeout, retry)

    # -- files ---------------------------------------------------------------------------
    def write_file(self, path, data, progress=None):
        """Write `data` to `path` atomically (tmp file, sha256 check, rename).

        Nothing is echoed back: the content travels host -> board only, so key files are
        safe to send this way. `progress(n)` is called with bytes sent per chunk.
        """
        digest = hashlib.sha256(data).hexdigest()
        self.exec_retry(f"import app.provision as P\nP.begin({path!r})")
        for i in range(0, len(data), CHUNK):
            b64 = base64.b64encode(data[i:i + CHUNK]).decode()
            self.exec_retry(f"P.chunk({b64!r})")
            if progress:
                progress(min(CHUNK, len(data) - i))
        got = self.exec_retry(f"P.commit({path!r}, {digest!r})").strip()
        if got != "ok":
            raise LinkError(f"{path}: write not confirmed: {got}")
        return digest

    def sha256(self, path):
        return self.call("app.provision", "sha256", path)

    def read_file(self, path, block=CHUNK):
        """Read a (public) file in small blocks: one exec per block keeps heap use low."""
        data = bytearray()
        self.exec_retry(f"import binascii\n_rf = open({path!r}, 'rb')")
        try:
            while True:  # explicit seek: a retried block reads the same bytes
                b64 = self.exec_retry(f"_rf.seek({len(data)})\nprint(binascii.b2a_base64("
                                      f"_rf.read({block})).decode(), end='')")
                part = base64.b64decode(b64)
                data += part
                if len(part) < block:
                    return bytes(data)
        finally:
            self.exec("_rf.close()\ndel _rf")

    def info(self):
        """What is on the other end: MicroPython version, platform, app build, ROMFS."""
        return self.json(
            "import sys, json\n"
            "d = {'micropython': '%d.%d.%d' % sys.implementation.version[:3],"
            " 'platform': sys.platform, 'machine': getattr(sys.implementation, '_machine', '')}\n"
            "try:\n import _build\n d.update(version=_build.VERSION, board=_build.BOARD,"
            " built=_build.BUILT, git=_build.GIT)\n"
            "except ImportError:\n d.update(version=None, board=None)\n"
            "import vfs\nd['romfs'] = hasattr(vfs, 'rom_ioctl') and vfs.rom_ioctl(1) > 0\n"
            "d['virtual'] = sys.platform == 'linux'\n"
            "print(json.dumps(d))")

    def close(self):
        try:
            self.exit_raw()
        except (OSError, serial.SerialException):
            pass
        self.ser.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def wait_for_repl(port, timeout=30.0, baud=115200):
    """Poll until the port exists and a raw REPL answers (after a reset or a flash)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        left = deadline - time.monotonic()
        try:
            with BoardLink(port, baud, timeout=max(0.3, min(3.0, left / 3))) as link:
                return link.info()
        except (LinkError, ReplError, OSError) as e:
            last = e
            time.sleep(0.5)
    raise LinkError(f"{port}: REPL did not answer within {timeout:.0f} s ({last})")


# -- shared by the board commands (flash, deploy, provision, status, logs, shell, reset) ---
def port_option(required=True):
    import click

    return click.option("--port", "-p", envvar="GW_PORT", required=required,
                        help="serial port of the board's REPL (or the vboard's REPL pty); "
                             "env GW_PORT")


def baud_option():
    import click

    return click.option("--baud", default=115200, show_default=True,
                        help="REPL baud rate (ignored by USB CDC and ptys)")


def open_link(port, baud=115200, **kw):
    """BoardLink whose failure is a one-line click error instead of a traceback."""
    import click

    try:
        link = BoardLink(port, baud, **kw)
    except LinkError as e:
        raise click.ClickException(str(e)) from None
    try:
        link.enter_raw()
    except LinkError as e:
        link.ser.close()
        raise click.ClickException(str(e)) from None
    return link


def echo_json(obj):
    import click

    click.echo(json.dumps(obj, indent=1, sort_keys=True))
