# A byte-level ATECC608B on a fake I2C bus (MicroPython): parses packets, checks CRCs,
# NACKs while "executing", answers with CRC'd responses; ECC by the software module.
from crypto import ecc, ecdsa
from drivers.atecc608 import crc16


class FakeI2C:
    def __init__(self, key=0x1234567890ABCDEF, busy_polls=2):
        self.c = ecc.P256
        self.keys = {0: key}
        self.tempkey = None
        self.awake = False
        self.resp = None
        self.busy = 0
        self.busy_polls = busy_polls
        self.corrupt_next = 0  # flip a bit in the next N responses
        self.log = []

    def writeto(self, addr, buf):
        buf = bytes(buf)
        if addr == 0:
            self.awake = True
            self.resp = b"\x04\x11\x33\x43"
            raise OSError(19)  # nobody ACKs the general call used as wake pulse
        if addr != 0x60 or not self.awake:
            raise OSError(19)
        wa = buf[0]
        if wa in (1, 2):
            self.awake = wa == 2 and self.awake and False
            return
        pkt = buf[1:]
        n = pkt[0]
        if n != len(pkt) or crc16(pkt[:-2]) != int.from_bytes(pkt[-2:], "little"):
            return self._reply(bytes((0xFF,)))
        op, p1, p2, data = pkt[1], pkt[2], int.from_bytes(pkt[3:5], "little"), pkt[5:-2]
        self.log.append(op)
        self.busy = self.busy_polls
        self._reply(self.execute(op, p1, p2, data))

    def _reply(self, data):
        r = bytes((len(data) + 3,)) + data
        self.resp = r + crc16(r).to_bytes(2, "little")

    def execute(self, op, p1, p2, data):
        c = self.c
        if op == 0x1B:
            return bytes(range(32))
        if op == 0x16 and p1 == 3 and len(data) == 32:
            self.tempkey = data
            return b"\x00"
        if op == 0x41 and p1 == 0x80:
            r, s = ecdsa.sign(c, self.keys[p2], self.tempkey)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if op == 0x45 and p1 == 2 and len(data) == 128:
            r = int.from_bytes(data[:32], "big")
            s = int.from_bytes(data[32:64], "big")
            ok = ecdsa.verify(c, b"\x04" + data[64:], self.tempkey, r, s)
            return b"\x00" if ok else b"\x01"
        if op == 0x43 and p1 == 0x0C:
            try:
                return ecc.ecdh(c, self.keys[p2], b"\x04" + data)
            except ValueError:
                return b"\x0f"
        if op == 0x40:
            if p1 == 4:
                self.keys[p2] = 0xC0FFEE + p2
            return c.public(self.keys[p2])[1:]
        return b"\x03"

    def readfrom_into(self, addr, buf):
        if self.busy:
            self.busy -= 1
            raise OSError(19)  # NACK while executing
        r = bytearray(self.resp or b"")
        if self.corrupt_next and len(r) > 4:
            self.corrupt_next -= 1
            r[1] ^= 1
        n = min(len(buf), len(r))
        buf[:n] = r[:n]
