"""AES-CMAC (NIST SP 800-38B, RFC 4493): the tag over a message of any length.

All full blocks but the last go through one CBC encryption (cryptolib's C loop); the last
block is XORed with subkey K1 (complete) or K2 (padded 10*) and encrypted. Test vectors:
RFC 4493 section 4 (tests/wmbus/mp_test_crypto.py).
"""
from crypto.aes import AES
from crypto.xor import xor_into


def _dbl(b):
    out = bytearray(16)
    c = 0
    for i in range(15, -1, -1):
        v = (b[i] << 1) | c
        out[i] = v & 0xFF
        c = v >> 8
    if b[0] & 0x80:
        out[15] ^= 0x87
    return out


class CMAC:
    def __init__(self, key_or_aes):
        self.aes = AES(key_or_aes) if isinstance(key_or_aes, (bytes, bytearray)) else key_or_aes
        l_ = bytearray(16)
        self.aes.encrypt(bytes(16), l_)
        self.k1 = _dbl(l_)
        self.k2 = _dbl(self.k1)

    def mac(self, msg):
        """The 16-byte tag of msg (bytes/bytearray/memoryview)."""
        n = len(msg)
        nb = (n + 15) // 16 or 1
        full = n and n % 16 == 0
        x = bytearray(16)
        if nb > 1:
            head = bytearray(msg[:(nb - 1) * 16])
            self.aes.cbc_encrypt(x, head, head)
            x[:] = head[-16:]
        last = bytearray(16)
        tail = msg[(nb - 1) * 16:]
        last[:len(tail)] = tail
        if full:
            xor_into(last, 0, last, 0, self.k1, 0, 16)
        else:
            last[len(tail)] = 0x80
            xor_into(last, 0, last, 0, self.k2, 0, 16)
        xor_into(last, 0, last, 0, x, 0, 16)
        self.aes.encrypt(last, last)
        return bytes(last)


def cmac(key, msg):
    return CMAC(key).mac(msg)
