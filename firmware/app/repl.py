"""A REPL that runs as an asyncio task, so the gateway keeps working while you type.

Speaks MicroPython's friendly REPL (`>>> `) and the raw REPL that mpremote and pyboard
tools use (Ctrl-A enter, Ctrl-D execute, "OK", output, 0x04, error, 0x04, '>'). Raw-paste
is declined with "R\\x00", which mpremote handles by falling back to plain raw mode.
Ctrl-D on an empty raw buffer is answered as a soft reset would be (no reset happens:
the gateway is not interrupted), so `mpremote connect P resume exec` is the way in.
"""
import asyncio
import sys
import io

from texts import msg

_CTRL_A = const(1)
_CTRL_B = const(2)
_CTRL_C = const(3)
_CTRL_D = const(4)
_CTRL_E = const(5)
# console texts, msg(_T, i) (one string constant: RAM, see texts.py)
_T = const("\r\nSMGW virtual console; MicroPython %s\r\n>>> |raw REPL; CTRL-B to exit\r\n>"
           "|OK\r\nsoft reboot\r\n|\r\nKeyboardInterrupt\r\n>>> ")


class Repl:
    def __init__(self, reader_stream, writer_stream, globals_=None):
        self.rs = reader_stream
        self.ws = writer_stream
        self.g = globals_ if globals_ is not None else {"__name__": "__main__"}
        self.raw = False
        self.buf = bytearray()
        self.line = bytearray()

    def _w(self, b):
        if isinstance(b, str):
            b = b.encode()
        self.ws.write(b)
        if hasattr(self.ws, "flush"):
            self.ws.flush()

    def _exec(self, src, friendly):
        """Run source; return the traceback text (empty on success)."""
        try:
            if friendly:
                try:
                    code = compile(src, "<stdin>", "eval")
                except SyntaxError:
                    exec(src, self.g)
                    return ""
                v = eval(code, self.g)
                if v is not None:
                    self._w(repr(v) + "\r\n")
            else:
                exec(src, self.g)
            return ""
        except BaseException as e:  # noqa: BLE001 - user code may raise anything
            out = io.StringIO()
            sys.print_exception(e, out)
            return out.getvalue()

    def banner(self):
        self._w(msg(_T, 0) % sys.version)

    def feed(self, data):
        mv = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            c = data[i]
            if self.raw and c > _CTRL_E:
                # raw-mode source text: the whole run at once (one buffer growth per
                # chunk instead of one per byte: less heap churn for a 1 KiB snippet)
                j = i + 1
                while j < n and data[j] > _CTRL_E:
                    j += 1
                self.buf.extend(mv[i:j])
                i = j
                continue
            if self.raw:
                self._raw_byte(c)
            else:
                self._friendly_byte(c)
            i += 1

    def _raw_byte(self, c):
        if c == _CTRL_A and self.buf == b"\x05A":
            self.buf = bytearray()
            self._w(b"R\x00")  # raw-paste understood, not supported
        elif c == _CTRL_B:
            self.raw = False
            self.buf = bytearray()
            self.banner()
        elif c == _CTRL_C:
            self.buf = bytearray()
        elif c == _CTRL_A:
            self.buf = bytearray()
            self._w(msg(_T, 1))
        elif c == _CTRL_D:
            if not self.buf:
                self._w(msg(_T, 2) + msg(_T, 1))
                return
            src = bytes(self.buf)  # exec takes the bytes: no decoded copy
            self.buf = bytearray()
            self._w("OK")
            err = self._exec(src, False)
            self._w(b"\x04")
            self._w(err)
            self._w(b"\x04>")
        else:
            self.buf.append(c)

    def _friendly_byte(self, c):
        if c == _CTRL_A:
            self.raw = True
            self.buf = bytearray()
            self._w("\r\n" + msg(_T, 1))
        elif c == _CTRL_C:
            self.line = bytearray()
            self._w(msg(_T, 3))
        elif c in (13, 10):
            src = bytes(self.line).decode().strip()
            self.line = bytearray()
            self._w("\r\n")
            if src:
                self._w(self._exec(src, True).replace("\n", "\r\n"))
            self._w(">>> ")
        elif c in (8, 127):
            if self.line:
                self.line = self.line[:-1]
                self._w("\x08 \x08")
        elif c >= 32:
            self.line.append(c)
            self._w(bytes((c,)))

    async def run(self):
        reader = asyncio.StreamReader(self.rs)
        while True:
            data = await reader.read(256)
            if not data:
                await asyncio.sleep_ms(50)
                continue
            self.feed(data)
