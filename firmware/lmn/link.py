"""HDLC link layer: the gateway is the primary station on a shared RS485 bus.

IEC 62056-46 normal response mode, as a DLMS/COSEM client does it:
- connect: SNRM (with our parameters: max information field length tx/rx, window 1)
  -> UA with the meter's parameters; the smaller values win (8.4.5.3.2).
- exchange(data): data goes out as I-frames of at most max_tx bytes, every frame but the
  last with the segmentation bit; P=1 on each (window 1), the meter acknowledges a
  non-final segment with RR. The meter answers the final segment with its own I-frames
  (segmented too; we ask for the next one with RR) or with RR when it has nothing.
  With nothing to send, exchange(b"") polls with RR.
- N(S)/N(R) modulo 8; a frame with an unexpected N(S) is dropped; on timeout or a bad
  frame the last frame is repeated (the meter repeats its answer); RNR (meter busy)
  waits a quarter timeout and repeats likewise; `retries` times, then
  HdlcError("no response") and the link is down until the next connect (SNRM resets
  the sequence numbers).
- disconnect: DISC -> UA (or DM).

`Bus` owns the port and the frame scanner; `Bus.lock` keeps one transaction (frame out,
answer in) on the wire at a time, so links to several meter addresses share the bus.
The port is a stream: write(buf) or async send(buf) (drivers.rs485.Rs485 drives DE),
readinto(buf) returning at once (0/None when nothing is there), as machine.UART does.
"""
import asyncio
import time

from lmn import hdlc
from lmn.hdlc import HdlcError
from texts import msg

_POLL_MS = 2
# the reasons of HdlcError raised here, msg(_T, i) (one string constant: RAM, see texts.py)
_T = const("meter answered %s|no response")


class Bus:
    def __init__(self, port, client=16):
        self.port = port
        self.client_raw = hdlc.addr([client])
        self.scanner = hdlc.Scanner()
        self.lock = asyncio.Lock()
        self.pending = []
        self.stats = {"tx_frames": 0, "rx_frames": 0, "timeouts": 0, "stray": 0}
        # the receive buffer of a transaction (read(256) allocated 256 B on every 2 ms
        # poll); allocated by receive(), dropped by Link.exchange() when it is done
        self.rbuf = None

    async def send(self, buf):
        s = getattr(self.port, "send", None)
        if s is not None:
            await s(buf)
        else:
            self.port.write(buf)
        self.stats["tx_frames"] += 1

    def drain(self):
        """Drop whatever is buffered (before a new transaction)."""
        b = bytearray(64)
        while self.port.readinto(b):
            pass
        self.scanner.reset()
        self.pending = []

    async def receive(self, src_raw, timeout_ms):
        """Next frame from src_raw to us, or None after timeout_ms."""
        t0 = time.ticks_ms()
        rb = self.rbuf
        if rb is None:
            rb = self.rbuf = bytearray(256)
        while True:
            while self.pending:
                f = self.pending.pop(0)
                if f.src_raw == src_raw and f.dest_raw == self.client_raw:
                    self.stats["rx_frames"] += 1
                    return f
                self.stats["stray"] += 1
            n = self.port.readinto(rb)
            if n:
                self.pending = self.scanner.feed(memoryview(rb)[:n])
                continue
            if time.ticks_diff(time.ticks_ms(), t0) >= timeout_ms:
                self.stats["timeouts"] += 1
                return None
            await asyncio.sleep_ms(_POLL_MS)


class Link:
    """One logical link to a meter address on the bus."""

    # defaults as class attributes: an instance stores only what differs (each attribute
    # is a slot in the instance's table, which grows in steps: 12 -> 17 -> 23 slots)
    max_info = 256
    retries = 3
    timeout_ms = 300

    def __init__(self, bus, server, max_info=256, retries=3, timeout_ms=300):
        self.bus = bus
        self.server_raw = hdlc.addr(server)
        if max_info != 256:
            self.max_info = max_info
        if retries != 3:
            self.retries = retries
        if timeout_ms != 300:
            self.timeout_ms = timeout_ms
        self.max_tx = self.max_rx = 128  # IEC 62056-46 defaults until negotiated
        self.connected = False
        self.vs = self.vr = 0
        # counters as attributes (a dict per link cost ~180 B); `stats` builds the dict
        self.n_retries = self.n_connects = self.tx_bytes = self.rx_bytes = 0

    @property
    def stats(self):
        return {"retries": self.n_retries, "connects": self.n_connects,
                "tx_bytes": self.tx_bytes, "rx_bytes": self.rx_bytes}

    def _frame(self, control, info=b"", seg=False):
        return hdlc.encode(self.server_raw, self.bus.client_raw, control, info, seg)

    async def _transact(self, out, accept):
        """Send `out`, wait for a frame for which accept(frame) is true; retry."""
        for attempt in range(self.retries + 1):
            if attempt:
                self.n_retries += 1
            await self.bus.send(out)
            while True:
                f = await self.bus.receive(self.server_raw, self.timeout_ms)
                if f is None:
                    break
                k = f.kind
                if (k == "DM" or k == "FRMR") and accept is not _ua:
                    self.connected = False
                    raise HdlcError(msg(_T, 0) % k)
                if k == "RNR":  # receiver busy: wait a little, then repeat
                    await asyncio.sleep_ms(self.timeout_ms // 4)
                    break
                if accept(f):
                    return f
        self.connected = False
        raise HdlcError(msg(_T, 1))

    async def connect(self):
        async with self.bus.lock:
            self.bus.drain()
            info = hdlc.parameter_block(self.max_info, self.max_info)
            f = await self._transact(self._frame(0x93, info), _ua)  # SNRM, P=1
            p = hdlc.parameters(f.info)
            # the meter's receive limit is our transmit limit
            self.max_tx = min(self.max_info, p.get("max_rx", 128))
            self.max_rx = min(self.max_info, p.get("max_tx", 128))
            self.vs = self.vr = 0
            self.connected = True
            self.n_connects += 1
            return p

    async def disconnect(self):
        if not self.connected:
            return
        self.connected = False
        async with self.bus.lock:
            try:
                await self._transact(self._frame(0x53), _ua_or_dm)  # DISC, P=1
            except HdlcError:
                pass

    async def exchange(self, data):
        """Send data (may be empty: poll), return the meter's reassembled answer
        (a new bytearray)."""
        if not self.connected:
            await self.connect()
        async with self.bus.lock:
            try:
                return await self._exchange(data)
            finally:
                self.bus.rbuf = None  # no receive buffer between transactions

    async def _exchange(self, data):
        mv = memoryview(data)
        n = len(data)
        self.tx_bytes += n
        p = 0
        if n == 0:
            out = self._frame(self.vr << 5 | 0x11)  # RR, P=1
        while p < n:
            k = min(self.max_tx, n - p)
            last = p + k >= n
            # I frame, P=1
            out = self._frame(self.vr << 5 | 0x10 | self.vs << 1, mv[p:p + k], not last)
            if last:
                break
            want = (self.vs + 1) & 7
            await self._transact(out, lambda f: f.kind == "RR" and f.nr == want)
            self.vs = want
            p += k
        if n:
            self.vs = (self.vs + 1) & 7
        sent_ns = self.vs
        answer = bytearray()
        while True:
            vr = self.vr
            f = await self._transact(out, lambda f: (f.kind == "I" and f.ns == vr) or (
                f.kind == "RR" and f.nr == sent_ns and not answer))
            if f.kind == "RR":
                break
            self.vr = (self.vr + 1) & 7
            answer.extend(f.info)
            if not f.segmented:
                break
            out = self._frame(self.vr << 5 | 0x11)  # RR, P=1
        self.rx_bytes += len(answer)
        return answer


def _ua(f):
    return f.kind == "UA"


def _ua_or_dm(f):
    return f.kind == "UA" or f.kind == "DM"
