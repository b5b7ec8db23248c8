"""WAN link figures (issue 10), measured inside MicroPython via gwtool.mpy.run.

- at_roundtrip_us: one AT command through drivers.modem.Modem against an in-process
  stream that answers at once (parser + dispatch cost, no UART time);
- line_split_mb_s: LineSplitter throughput on mixed response/URC/garbage traffic;
- heap_link_m_bytes: heap taken by importing the -M link from the ROMFS image of a
  running virtual board and building its objects (the modem variant's share of the
  board's heap budget; its tasks and buffers at run time come on top, ~2 KiB);
- bringup_ms: power-on to "up" against gwtool.modem_emu on a real pty (no registration
  delay): AT round trips through the kernel's pty and the emulator thread.
"""
import json
import tempfile
import time

from . import mpy
from .build import build
from .modem_emu import ModemEmulator
from .paths import ROOT
from .rawrepl import run as raw_exec
from .vboard import VBoard

_STREAM = """
import io
class Echo(io.IOBase):
    def __init__(self):
        self.rx = bytearray()
    def read(self, n=-1):
        if not self.rx:
            return None
        b = bytes(self.rx); self.rx = bytearray(); return b
    def write(self, b):
        self.rx.extend(b"\\r\\n+CSQ: 20,99\\r\\n\\r\\nOK\\r\\n")
        return len(b)
"""

_RT = _STREAM + """
import asyncio, time
from drivers.modem import Modem
async def main(n):
    m = Modem(Echo())
    m.start()
    await m.query("AT+CSQ", "+CSQ:")
    t = time.ticks_us()
    for _ in range(n):
        await m.query("AT+CSQ", "+CSQ:")
    print(time.ticks_diff(time.ticks_us(), t) / n)
asyncio.run(main(%d))
"""

_SPLIT = """
import time
from drivers.modem import LineSplitter
chunk = (b"\\r\\n+CEREG: 1,\\"1A2B\\",\\"01A2B3C4\\",7\\r\\n\\r\\nOK\\r\\n\\xff\\x00junk\\r\\n"
         b"+CSQ: 20,99\\r\\n") * 8
s = LineSplitter()
n = %d
t = time.ticks_us()
for _ in range(n):
    s.feed(chunk)
print(len(chunk) * n / time.ticks_diff(time.ticks_us(), t))
"""

_HEAP = """
import gc, app
gc.collect(); a = gc.mem_alloc()
from drivers.modem import Modem
from wan.link_lte import LteLink
l = LteLink(app.CTX, Modem(None), {})
gc.collect()
print(gc.mem_alloc() - a)
"""


def heap_link_m():
    """Heap for the -M link in the vboard (modules from ROMFS, as on a board)."""
    with tempfile.TemporaryDirectory() as d:
        vb = VBoard(d, rebuild=False, heap=1 << 20)
        vb.start()
        try:
            return int(raw_exec(vb.endpoints["repl"], _HEAP, 10).strip())
        finally:
            vb.stop()


_BRINGUP = """
import asyncio, time
from hal.unix.pty_uart import PtyUart
from drivers.modem import Modem
from wan.link_lte import LteLink
class Ctx:
    def now(self): return 0
    def log(self, *a): pass
    def led(self, *a): pass
async def main():
    l = LteLink(Ctx(), Modem(PtyUart("%s")), {})
    t = time.ticks_ms()
    task = asyncio.create_task(l.run())
    ok = await l.up(20)
    print(time.ticks_diff(time.ticks_ms(), t) if ok else -1)
    task.cancel()
asyncio.run(main())
"""


def _stage():
    build("unix")
    return ROOT / "build" / "unix" / "stage"


def run(quick):
    stage = _stage()
    res = {
        "at_roundtrip_us": round(float(mpy.run(_RT % (200 if quick else 2000),
                                               path=[stage]).strip()), 1),
        "line_split_mb_s": round(float(mpy.run(_SPLIT % (50 if quick else 500),
                                               path=[stage]).strip()), 2),
        "heap_link_m_bytes": heap_link_m(),
    }
    emu = ModemEmulator(reg_delay=0, boot_delay=0)
    try:
        time.sleep(0.05)
        res["bringup_ms"] = int(mpy.run(_BRINGUP % emu.path, path=[stage]).strip())
    finally:
        emu.close()
    return res


if __name__ == "__main__":
    print(json.dumps(run(True)))
