"""Register-level CC1101 emulation for the virtual board, fed with chips over TCP.

The firmware's real driver (drivers/cc1101.py) talks to this object through the same
SPI + chip-select interface as on a board. The board LISTENS on the vboard config's
"radio" address ("127.0.0.1:PORT"); the air simulator (gwtool.air_sim) connects as a
client - several may - and sends bursts:

    burst = len(2, big endian) ‖ rssi (1 byte, signed dBm) ‖ chips (len bytes)

`chips` is what the antenna would hear: preamble, sync word, payload chips (3-of-6 for
T1, NRZ for C1), possibly noise, truncated or overlapping (the simulator builds those).
The model: in RX the chip hunts for SYNC1/SYNC0 in the burst (byte aligned); after it,
bytes enter the 64-byte RX FIFO at `rate` bytes/s (12500 = 100 kchip/s); PKTCTRL0/
PKTLEN give infinite or fixed packet length (the fixed end is when the byte counter
mod 256 equals PKTLEN); more than 64 unread bytes = RXFIFO_OVERFLOW (MARCSTATE 0x11,
RXBYTES bit 7) until SFRX. MCSM1 RXOFF = IDLE. A burst goes on after its packet ends (or
RX is stopped): the chips that pass while the chip is not in RX are missed, the rest is
hunted for the next sync word when RX restarts (back-to-back telegrams in one burst).
Bursts arriving while the radio is busy wait in a short queue (bounded: the oldest is
lost). RSSI register per data-sheet 17.3 (saturating: -138 .. -10.5 dBm).
`clock` (microseconds) is injectable so tests can step time.
"""
import time

_FIFO = const(64)
_IDLE = const(0x01)
_RX = const(0x0D)
_OVF = const(0x11)
_QUEUE = const(8)


class _Pin:
    """Chip select (kind 0: low starts an SPI transaction) or GDO0/GDO2 (1/2, read-only)."""

    def __init__(self, emu, kind):
        self.emu = emu
        self.kind = kind
        self.v = 1

    def value(self, v=None):
        k = self.kind
        if k == 1:
            e = self.emu  # RX FIFO at/above the FIFOTHR threshold (4 .. 64 bytes)
            return 1 if e.flen >= 4 * ((e.regs[0x03] & 15) + 1) else 0
        if k == 2:
            return 1 if self.emu.cur is not None else 0  # sync seen, packet running
        if v is None:
            return self.v
        if v == 0 and self.v == 1:
            self.emu._begin()
        self.v = v


class Cc1101Emu:
    def __init__(self, addr=None, rate=12500, clock=None):
        self.regs = bytearray(0x2F)
        self.clock = clock or time.ticks_us
        self.rate = rate or 12500
        self.spi = self  # the SPI bus: write_readinto / write / readinto below
        self.cs = _Pin(self, 0)
        self.gdo0 = _Pin(self, 1)
        self.gdo2 = _Pin(self, 2)
        self.queue = []  # (rssi, chips)
        # drained: the FIFO's last byte read while a packet arrives (errata SWRZ020: that
        # byte can come twice on a real chip)
        self.stats = {"bursts": 0, "no_sync": 0, "lost": 0, "overflows": 0, "fixed_end": 0,
                      "truncated": 0, "drained": 0}
        self.error = None
        self.srv = None
        self._poll = None
        self.conns = []
        self._rd = bytearray(512)
        self._reset()
        if addr:
            self._listen(addr)
        self._hdr = None
        self._pump_t = 0

    # --- the SPI bus (one object less: the emulator is its own bus)
    def write_readinto(self, out, inp):
        for i in range(len(out)):
            inp[i] = self._byte(out[i])

    def write(self, out):
        for b in out:
            self._byte(b)

    def readinto(self, inp, write_byte=0):
        for i in range(len(inp)):
            inp[i] = self._byte(write_byte)

    # --- the air socket
    def _listen(self, addr):
        import select
        import socket

        host, port = addr.rsplit(":", 1)
        try:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(socket.getaddrinfo(host, int(port))[0][-1])
            s.listen(4)
            s.setblocking(False)
            self.srv = s
            self._poll = select.poll()  # server and air clients: readable ones only
            self._poll.register(s, select.POLLIN)
        except OSError as e:
            self.error = "radio socket %s: %s" % (addr, e)

    def _pump(self):
        """Accept air clients and read their bursts (non-blocking). Runs every emulated
        millisecond: few locals (a bytecode frame beyond 11 words comes from the heap on
        every call) and no accept() that raises when nobody connects."""
        if self.srv is None:
            return
        acc = False
        for ev in self._poll.ipoll(0):  # (a callee-owned tuple, no list)
            if ev[0] is self.srv:
                acc = True
            else:
                self._read(ev[0])
        if acc:
            self._accept()

    def _accept(self):
        import select

        try:
            c, _ = self.srv.accept()
        except OSError:
            return
        c.setblocking(False)
        self.conns.append([c, bytearray()])
        self._poll.register(c, select.POLLIN)

    def _read(self, c):
        """One air client readable: take its complete bursts into the queue."""
        i = 0
        while self.conns[i][0] is not c:
            i += 1
        cb = self.conns[i]
        rd = self._rd
        try:
            n = c.readinto(rd)
        except OSError:
            n = None
        if n is None:
            return
        if not n:
            self._poll.unregister(c)
            c.close()
            self.conns.pop(i)
            return
        buf = cb[1]
        buf.extend(memoryview(rd)[:n])
        while len(buf) >= 3:
            n = (buf[0] << 8) | buf[1]
            if len(buf) < 3 + n:
                break
            r = buf[2]
            self.inject(bytes(memoryview(buf)[3:3 + n]), r - 256 if r >= 128 else r)
            buf[0:3 + n] = b""  # in place: no copy of the rest per burst
        if not buf:
            cb[1] = bytearray()  # all consumed: a buffer grown by a long read goes

    def inject(self, chips, rssi_dbm=-60):
        """One burst from the air (the socket path calls this too)."""
        if len(self.queue) >= _QUEUE:
            self.queue.pop(0)
            self.stats["lost"] += 1
        self.queue.append((rssi_dbm, chips))

    # --- chip model
    def _reset(self):
        self.state = _IDLE
        self.fifo = bytearray(_FIFO)  # ring buffer
        self.fhead = 0
        self.flen = 0
        self.cur = None  # payload bytes after sync of the burst being received
        self.rest = None  # (rssi, chips, index, time): the burst still on the air after it
        self.rssi = 0
        self.hold = False  # signal lost mid-packet: nothing more until RX is restarted
        self.pos = 0  # index in cur of the next byte for the FIFO
        self.count = 0
        self.t0 = 0
        self.rssi_reg = 0x80
        r = self.regs
        r[0x06] = 0xFF
        r[0x08] = 0x45
        r[0x04] = 0xD3
        r[0x05] = 0x91

    def _start_burst(self, now):
        while self.cur is None:
            r = self.rest
            if r is not None:  # the rest of the last burst, from where the air is now
                self.rest = None
                rssi, chips = r[0], r[1]
                i = r[2] + time.ticks_diff(now, r[3]) * self.rate // 1000000 + 1
                if i >= len(chips):
                    continue
            elif self.queue:
                rssi, chips = self.queue.pop(0)
                self.stats["bursts"] += 1
                i = 0
            else:
                return
            i = chips.find(bytes((self.regs[0x04], self.regs[0x05])), i)
            if i < 0:
                if r is None:
                    self.stats["no_sync"] += 1
                continue
            self.cur = chips
            self.pos = i + 2  # no copy of the payload: delivered from chips[pos:]
            self.count = 0
            self.t0 = now
            self.rssi = rssi
            v = (rssi + 74) * 2  # the register saturates (signed byte)
            self.rssi_reg = (-128 if v < -128 else 127 if v > 127 else v) & 0xFF

    def _stop(self):
        """Leave the burst being received; it stays on the air (self.rest)."""
        if self.cur is not None and self.pos < len(self.cur):
            # chips[i] is on the air at t0 + (i - index) / rate (index: the sync's end)
            self.rest = (self.rssi, self.cur, self.pos - self.count, self.t0)
        self.cur = None

    def _advance(self, now):
        if self.state != _RX:
            return
        if self.cur is None:
            if self.hold or not (self.queue or self.rest):
                return  # (no call: _start_burst's frame comes from the heap)
            self._start_burst(now)
            if self.cur is None:
                return
        due = time.ticks_diff(now, self.t0) * self.rate // 1000000 + 1
        pk = self.regs[0x08] & 3
        while self.count < due:
            if self.pos >= len(self.cur):  # burst ended mid-packet (truncation)
                self.cur = None
                self.hold = True
                self.stats["truncated"] += 1
                return
            if self.flen >= _FIFO:
                self.state = _OVF
                self.stats["overflows"] += 1
                self._stop()
                return
            self.fifo[(self.fhead + self.flen) % _FIFO] = self.cur[self.pos]
            self.flen += 1
            self.pos += 1
            self.count += 1
            if pk == 0 and (self.count & 0xFF) == self.regs[0x06]:
                self.state = _IDLE  # fixed length reached; MCSM1 RXOFF = IDLE
                self.stats["fixed_end"] += 1
                self._stop()
                return

    def _status_byte(self):
        st = 1 if self.state == _RX else 6 if self.state == _OVF else 0  # (no dict per byte)
        return (st << 4) | min(self.flen, 15)

    def _strobe(self, a):
        if a == 0x30:  # SRES
            self.regs = bytearray(0x2F)
            self._reset()
        elif a == 0x34:  # SRX
            if self.state == _IDLE:
                self.state = _RX
        elif a == 0x36:  # SIDLE
            if self.state == _RX:
                self.state = _IDLE
                self._stop()
            self.hold = False
        elif a == 0x3A:  # SFRX (only in IDLE or overflow)
            if self.state in (_IDLE, _OVF):
                self.flen = 0
                self.state = _IDLE
                self._stop()
                self.hold = False

    def _status_reg(self, a):
        if a == 0x30:
            return 0x00  # PARTNUM
        if a == 0x31:
            return 0x14  # VERSION
        if a == 0x34:
            return self.rssi_reg
        if a == 0x35:
            return self.state
        if a == 0x3B:
            return (0x80 if self.state == _OVF else 0) | self.flen
        return 0

    # --- SPI transaction decoding
    def _begin(self):
        self._hdr = None
        t = self.clock()
        if time.ticks_diff(t, self._pump_t) > 1000:
            self._pump_t = t
            self._pump()
        self._advance(t)

    def _byte(self, b):
        if self._hdr is None:
            self._hdr = b
            self._addr = b & 0x3F
            a = self._addr
            if a >= 0x30 and a != 0x3F and not (b & 0x40) and not (b & 0x80):
                self._strobe(a)
            return self._status_byte()
        h = self._hdr
        a = self._addr
        read = h & 0x80
        burst = h & 0x40
        if a == 0x3F:
            if read:
                if not self.flen:
                    return 0
                if self.flen == 1 and self.cur is not None:
                    self.stats["drained"] += 1
                v = self.fifo[self.fhead]
                self.fhead = (self.fhead + 1) % _FIFO
                self.flen -= 1
                return v
            return self._status_byte()  # TX FIFO: ignored
        if a >= 0x30:
            return self._status_reg(a) if read else self._status_byte()
        if read:
            v = self.regs[a] if a < len(self.regs) else 0
        else:
            if a < len(self.regs):
                self.regs[a] = b
            v = self._status_byte()
        if burst:
            self._addr = a + 1
        return v
