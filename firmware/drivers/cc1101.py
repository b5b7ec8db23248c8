"""TI CC1101 sub-GHz transceiver as a wireless M-Bus T1/C1 receiver (868.95 MHz).

The driver gets its bus: `spi` (write_readinto, write, readinto) and a chip-select pin; GDO pins are
optional (polling RXBYTES works without them). Register values follow the CC1101 data
sheet (SWRS061I) and the T1/C1 settings published by open-source wM-Bus receivers:
26 MHz crystal, FREQ = 868.95 MHz * 2^16 / 26 MHz = 0x216BD1, 2-FSK, data rate
(256+4)*2^12/2^28*26 MHz = 103.1 kBaud (T1 100 kchip/s +/-12 %, C1 100 kchip/s),
deviation DEVIATN 0x50 = 50.8 kHz (T1 +/-50 kHz; C1 +/-45 kHz is inside the 325 kHz
channel filter), sync word 0x543D 16/16 bits, no hardware CRC/whitening, infinite
packet length at the start.

FIFO service ("packet length trick"): after sync, read the first 3 bytes; `length_fn`
(wmbus.phy.packet_len, injected by the caller) returns the total packet length from
them; PKTLEN = total mod 256 and the chip switches to fixed length once fewer than 256
bytes remain, so it stops at the packet end itself. RXBYTES bit 7 / MARCSTATE 0x11 =
RX FIFO overflow: flush (SFRX) and restart (SRX). RSSI: register 0x34, dBm =
(v >= 128 ? v - 256 : v) / 2 - 74 (data sheet 17.3). Errata (SWRZ020): RXBYTES is read
twice until stable, and the FIFO is not emptied while the packet is still arriving.
"""
import asyncio

# configuration registers
_IOCFG2 = const(0x00)
_IOCFG0 = const(0x02)
_FIFOTHR = const(0x03)
_SYNC1 = const(0x04)
_SYNC0 = const(0x05)
_PKTLEN = const(0x06)
_PKTCTRL1 = const(0x07)
_PKTCTRL0 = const(0x08)
_FREQ2 = const(0x0D)
_MDMCFG4 = const(0x10)
_MDMCFG2 = const(0x12)
_DEVIATN = const(0x15)
_MCSM1 = const(0x17)
# strobes
_SRES = const(0x30)
_SCAL = const(0x33)
_SRX = const(0x34)
_SIDLE = const(0x36)
_SFRX = const(0x3A)
_SNOP = const(0x3D)
# status registers (read with burst bit)
_PARTNUM = const(0x30)
_VERSION = const(0x31)
_RSSI = const(0x34)
_MARCSTATE = const(0x35)
_RXBYTES = const(0x3B)
_FIFO = const(0x3F)

_MARC_IDLE = const(0x01)
_MARC_RX = const(0x0D)
_MARC_RXFIFO_OVERFLOW = const(0x11)

# (register, value) pairs for T1+C1 reception, as bytes (RAM: one object, not 40 tuples)
T1C1 = bytes((
    0x00, 0x06,  # IOCFG2: GDO2 asserts on sync word, deasserts at packet end
    0x02, 0x00,  # IOCFG0: GDO0 = RX FIFO at/above threshold
    0x03, 0x07,  # FIFOTHR: RX threshold 32 bytes
    0x04, 0x54, 0x05, 0x3D,  # SYNC1/SYNC0: wM-Bus T/C sync word
    0x06, 0xFF,  # PKTLEN
    0x07, 0x00,  # PKTCTRL1: no address check, no status append
    0x08, 0x02,  # PKTCTRL0: infinite packet length, no CRC, no whitening
    0x0B, 0x08, 0x0C, 0x00,  # FSCTRL1 (IF 203 kHz), FSCTRL0
    0x0D, 0x21, 0x0E, 0x6B, 0x0F, 0xD1,  # FREQ2..0: 868.95 MHz
    0x10, 0x5C,  # MDMCFG4: RX BW 325 kHz, DRATE_E 12
    0x11, 0x04,  # MDMCFG3: DRATE_M 4 -> 103.1 kBaud
    0x12, 0x06,  # MDMCFG2: 2-FSK, 16/16 sync bits + carrier sense
    0x13, 0x22, 0x14, 0xF8,  # MDMCFG1/0
    0x15, 0x50,  # DEVIATN: 50.8 kHz (the C1 variant writes 0x47 = 47.6 kHz)
    0x16, 0x07,  # MCSM2
    0x17, 0x00,  # MCSM1: after RX -> IDLE (the driver restarts RX itself)
    0x18, 0x18,  # MCSM0: autocal IDLE->RX/TX
    0x19, 0x2E, 0x1A, 0xBF,  # FOCCFG, BSCFG
    0x1B, 0x43, 0x1C, 0x09, 0x1D, 0xB5,  # AGCCTRL2..0
    0x21, 0xB6, 0x22, 0x10,  # FREND1, FREND0
    0x23, 0xEA, 0x24, 0x2A, 0x25, 0x00, 0x26, 0x1F,  # FSCAL3..0
    0x2C, 0x81, 0x2D, 0x35, 0x2E, 0x09,  # TEST2..0
))


class RadioError(Exception):
    """The chip does not answer as a CC1101."""


class CC1101:
    def __init__(self, spi, cs, gdo0=None, gdo2=None, max_packet=440):
        # max_packet: the longest packet after the sync word (wmbus.phy.MAX_PACKET: T1 with
        # L=255 is 435 chip bytes)
        self.spi = spi
        self.cs = cs
        self.gdo0 = gdo0
        self.gdo2 = gdo2
        self._o = bytearray(2)
        self._i = bytearray(2)
        self._o1 = memoryview(self._o)[:1]  # 1-byte transfers (strobes) without a
        self._i1 = memoryview(self._i)[:1]  # memoryview + slice per call
        self.buf = bytearray(max_packet)  # one preallocated packet buffer
        self._mv = memoryview(self.buf)
        self.stats = {"packets": 0, "overflows": 0, "bad_start": 0, "timeouts": 0}
        self.rssi_dbm = None
        self.mode = None

    # --- SPI primitives
    def _xfer(self, n):
        self.cs.value(0)
        if n == 1:
            self.spi.write_readinto(self._o1, self._i1)
        else:
            self.spi.write_readinto(self._o, self._i)
        self.cs.value(1)

    def strobe(self, cmd):
        self._o[0] = cmd
        self._xfer(1)
        return self._i[0]

    def write_reg(self, addr, v):
        self._o[0] = addr & 0x3F
        self._o[1] = v
        self._xfer(2)

    def read_reg(self, addr):
        self._o[0] = addr | 0x80
        self._o[1] = 0
        self._xfer(2)
        return self._i[1]

    def read_status(self, addr):
        self._o[0] = addr | 0xC0
        self._o[1] = 0
        self._xfer(2)
        return self._i[1]

    def rx_bytes(self):
        """RXBYTES read until two reads agree (errata SWRZ020 section 3)."""
        a = self.read_status(_RXBYTES)
        for _ in range(4):
            b = self.read_status(_RXBYTES)
            if a == b:
                break
            a = b
        return min(a & 0x7F, b & 0x7F) | ((a | b) & 0x80)

    def read_fifo(self, dst, off, n):
        """Burst-read n (<= 64) bytes of the RX _FIFO into dst[off:]: the header byte
        from the preallocated 1-byte view, then n bytes (sent as 0) straight into dst.
        One memoryview per read (self.buf's view, sliced), no bounce buffer or copy."""
        self._o[0] = _FIFO | 0xC0
        mv = self._mv if dst is self.buf else memoryview(dst)
        self.cs.value(0)
        self.spi.write(self._o1)
        self.spi.readinto(mv[off:off + n], 0)
        self.cs.value(1)

    # --- set-up
    def reset(self, mode="T1C1"):
        self.strobe(_SRES)
        part, ver = self.read_status(_PARTNUM), self.read_status(_VERSION)
        if part != 0x00 or ver not in (0x04, 0x14):
            raise RadioError("no CC1101 (_PARTNUM 0x%02x _VERSION 0x%02x)" % (part, ver))
        if mode not in ("T1C1", "T1", "C1"):
            raise KeyError(mode)
        dev = 0x47 if mode == "C1" else 0x50  # DEVIATN: C1 47.6 kHz, else 50.8 kHz
        for i in range(0, len(T1C1), 2):
            r = T1C1[i]
            self.write_reg(r, dev if r == _DEVIATN else T1C1[i + 1])
        self.mode = mode
        self.strobe(_SCAL)
        self.restart()

    def restart(self):
        """Back to RX with an empty _FIFO and infinite packet length."""
        self.strobe(_SIDLE)
        self.strobe(_SFRX)
        self.write_reg(_PKTCTRL0, 0x02)
        self.write_reg(_PKTLEN, 0xFF)
        self.strobe(_SRX)

    def rssi(self):
        v = self.read_status(_RSSI)
        if v >= 128:
            v -= 256
        return v // 2 - 74

    # --- _FIFO service
    async def receive(self, length_fn, poll_ms=2, timeout_ms=200):
        """Wait for one packet; returns (memoryview of its bytes, mode tag, rssi_dbm).

        length_fn(first3) -> (total length, tag) or raises; a bad start restarts RX.
        """
        while True:
            r = await self._packet(length_fn, poll_ms, timeout_ms)
            if r is not None:
                return r

    async def _packet(self, length_fn, poll_ms, timeout_ms):
        idle = 0
        while True:
            n = self.rx_bytes()
            if n & 0x80:
                self._overflow()
                return None
            if n > 3:  # the first 3, and never the last byte while receiving (errata)
                break
            if n:  # a sync word, then the signal went before the length arrived
                idle += poll_ms
                if idle > timeout_ms:
                    return self._timeout()
            await asyncio.sleep_ms(poll_ms if n else 5)
        buf = self.buf
        self.read_fifo(buf, 0, 3)
        rssi = self.rssi()
        try:
            total, tag = length_fn(buf)
        except Exception:  # noqa: BLE001 - any bad first symbol: noise, restart
            self.stats["bad_start"] += 1
            self.restart()
            return None
        if total > len(buf) or total < 3:
            self.stats["bad_start"] += 1
            self.restart()
            return None
        self.write_reg(_PKTLEN, total & 0xFF)
        fixed = False
        got = 3
        idle = 0
        while got < total:
            if not fixed and total - got < 256:
                self.write_reg(_PKTCTRL0, 0x00)  # fixed length: the chip stops at the end
                fixed = True
            n = self.rx_bytes()
            if n & 0x80:
                self._overflow()
                return None
            left = total - got
            if n < left:
                n -= 1  # never empty the _FIFO while the packet is arriving (errata)
            n = min(n, left, 64)
            if n > 0:
                self.read_fifo(buf, got, n)
                got += n
                idle = 0
                continue
            idle += poll_ms
            if idle > timeout_ms:
                return self._timeout()
            await asyncio.sleep_ms(poll_ms)
        self.stats["packets"] += 1
        self.rssi_dbm = rssi
        self.restart()
        return self._mv[:total], tag, rssi

    def _timeout(self):
        self.stats["timeouts"] += 1
        self.restart()

    def _overflow(self):
        self.stats["overflows"] += 1
        self.restart()
