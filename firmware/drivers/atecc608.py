"""Microchip ATECC608B secure element over I2C: the gateway key never leaves the chip.

Protocol (ATECC608B data sheet, DS40002239; CryptoAuthLib calib_*): the host writes a
word address byte - 0x03 command, 0x02 idle, 0x01 sleep - then for a command:
count(1) opcode(1) param1(1) param2(2, LE) data(n) CRC-16(2, LE), count = 7 + n. The
chip NACKs its address while it executes; the host polls until a response can be read:
count(1) data(count - 3) CRC(2). A 4-byte response carries a status byte (0x00 ok,
0x01 verify miscompare, 0x03 parse error, 0x05 ECC fault, 0x0F execution error,
0x11 after wake, 0xEE watchdog about to expire, 0xFF CRC/communication error).
CRC-16: polynomial 0x8005, initial 0, data bits processed least significant first.
Wake: a write to address 0x00 (holds SDA low long enough at 100 kHz), then the chip
answers 04 11 33 43.

Commands used: Random (0x1B), Nonce pass-through (0x16 mode 3: a 32-byte message into
the message digest buffer / TempKey), Sign external (0x41 mode 0x80), Verify external
(0x45 mode 2, key type 4 = P-256), ECDH (0x43 mode 0x0C: shared secret out in clear),
GenKey (0x40: mode 4 create private key, mode 0 public key of a slot), Info (0x30).
Only P-256. Bus: the hal i2c interface, `writeto(addr, buf)` / `readfrom_into(addr, buf)`.
"""
import time

ADDR = const(0x60)
_CMD = const(0x03)
_IDLE = const(0x02)
_SLEEP = const(0x01)
OP_INFO = const(0x30)
OP_NONCE = const(0x16)
OP_RANDOM = const(0x1B)
OP_SIGN = const(0x41)
OP_VERIFY = const(0x45)
OP_ECDH = const(0x43)
OP_GENKEY = const(0x40)
# max execution times (ms), data sheet table "Command execution times"
_EXEC_MS = {OP_INFO: 5, OP_NONCE: 20, OP_RANDOM: 25, OP_SIGN: 115, OP_VERIFY: 105,
            OP_ECDH: 60, OP_GENKEY: 115}


class SeError(Exception):
    def __init__(self, reason, status=None):
        super().__init__(reason if status is None else "%s (status %02x)" % (reason, status))
        self.reason = reason
        self.status = status


def crc16(data):
    crc = 0
    for b in data:
        for shift in range(8):
            bit = (b >> shift) & 1
            if bit != (crc >> 15):
                crc = ((crc << 1) ^ 0x8005) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def packet(opcode, p1=0, p2=0, data=b""):
    body = bytes((7 + len(data), opcode, p1, p2 & 0xFF, p2 >> 8)) + bytes(data)
    return body + crc16(body).to_bytes(2, "little")


class Atecc608:
    def __init__(self, i2c, addr=ADDR, sleep_ms=time.sleep_ms, retries=3):
        self.i2c = i2c
        self.addr = addr
        self.sleep_ms = sleep_ms
        self.retries = retries

    def wake(self):
        try:
            self.i2c.writeto(0, b"\x00")
        except OSError:
            pass  # nobody acknowledges address 0: that is the wake pulse
        self.sleep_ms(2)
        r = self._read(4, 10)
        if r != b"\x04\x11\x33\x43":
            raise SeError("no wake response")

    def idle(self):
        self.i2c.writeto(self.addr, bytes((_IDLE,)))

    def sleep(self):
        self.i2c.writeto(self.addr, bytes((_SLEEP,)))

    def _read(self, n, timeout_ms):
        buf = bytearray(n)
        waited = 0
        while True:
            try:
                self.i2c.readfrom_into(self.addr, buf)
                break
            except OSError:  # NACK: still executing
                if waited >= timeout_ms:
                    raise SeError("no response")
                self.sleep_ms(1)
                waited += 1
        return bytes(buf)

    def command(self, opcode, p1=0, p2=0, data=b"", resp_len=4):
        """Run a command; returns the response data (without count and CRC)."""
        pkt = bytes((_CMD,)) + packet(opcode, p1, p2, data)
        err = None
        for _ in range(self.retries):
            self.wake()
            try:
                self.i2c.writeto(self.addr, pkt)
                self.sleep_ms(1)
                r = self._read(max(resp_len, 4) + 3, _EXEC_MS.get(opcode, 100))
                n = r[0]
                if n < 4 or n > len(r):
                    raise SeError("bad response length")
                r = r[:n]
                if crc16(r[:-2]) != int.from_bytes(r[-2:], "little"):
                    raise SeError("response CRC")
                data_out = r[1:-2]
                if n == 4:  # a status byte (commands with data answer longer)
                    st = data_out[0]
                    if st == 0xFF:
                        raise SeError("communication error", st)
                    if st != 0:
                        self.idle()
                        raise SeError("command %02x failed" % opcode, st)
                self.idle()
                return data_out
            except SeError as e:
                if e.status not in (None, 0xFF):
                    raise
                err = e
        raise err

    def random(self):
        return self.command(OP_RANDOM, 0, 0, bytes(20), 32)

    def nonce_passthrough(self, msg32):
        self.command(OP_NONCE, 0x03, 0, msg32, 1)

    def sign(self, key_id, digest32):
        self.nonce_passthrough(digest32)
        return self.command(OP_SIGN, 0x80, key_id, b"", 64)

    def verify(self, digest32, sig64, pub64):
        self.nonce_passthrough(digest32)
        try:
            self.command(OP_VERIFY, 0x02, 0x0004, sig64 + pub64, 1)
            return True
        except SeError as e:
            if e.status == 0x01:
                return False
            raise

    def ecdh(self, key_id, pub64):
        return self.command(OP_ECDH, 0x0C, key_id, pub64, 32)

    def public_key(self, key_id):
        return self.command(OP_GENKEY, 0x00, key_id, b"", 64)

    def generate(self, key_id):
        return self.command(OP_GENKEY, 0x04, key_id, b"", 64)


class Atecc608SecMod:
    """ctx.secmod on a board with an ATECC608B: key in slot `key_id`."""

    def __init__(self, se, key_id=0, meter_keys_path=None):
        from crypto.secmod import _MeterKeys

        self.se = se if isinstance(se, Atecc608) else Atecc608(se)
        self.key_id = key_id
        self._pub = None
        self._meters = _MeterKeys(meter_keys_path) if meter_keys_path else None

    def public_key(self):
        if self._pub is None:
            self._pub = b"\x04" + self.se.public_key(self.key_id)
        return self._pub

    def generate(self):
        self._pub = b"\x04" + self.se.generate(self.key_id)
        return self._pub

    def sign(self, digest32):
        sig = self.se.sign(self.key_id, digest32)
        return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")

    def verify(self, pub, digest32, r, s):
        if isinstance(pub, tuple):
            pub = b"\x04" + pub[0].to_bytes(32, "big") + pub[1].to_bytes(32, "big")
        if len(pub) != 65 or pub[0] != 4:
            return False
        if not (0 < r < 1 << 256 and 0 < s < 1 << 256):
            return False
        return self.se.verify(digest32, r.to_bytes(32, "big") + s.to_bytes(32, "big"),
                              bytes(pub[1:]))

    def ecdh(self, peer_pub):
        return self.se.ecdh(self.key_id, bytes(peer_pub[1:]))

    def random(self, n):
        out = b""
        while len(out) < n:
            out += self.se.random()
        return out[:n]

    def meter_key(self, meter_id):
        return self._meters.get(meter_id) if self._meters else None
