"""AES-128 in viper (FIPS-197): the fallback for ports without `cryptolib`.

Split from crypto.aes so that a port with cryptolib never loads it (~1 KB of heap for
the class, key schedule and table builder); crypto.aes imports it on demand and keeps
`crypto.aes.ViperAES` working (module __getattr__). The viper cipher works bytewise on
a 16-byte state with S-box/xtime tables (no T-tables: 1.5 KiB less RAM); the inverse
MixColumns uses the FIPS-197 identity InvMixColumns = MixColumns after a pre-step with
xtime(xtime(a0^a2)) (see "The Design of Rijndael", 4.1.3). Tests compare it with
cryptolib on random inputs (tests/wmbus/mp_test_crypto.py).
"""
import micropython


def _tables():
    sbox = bytearray(256)
    inv = bytearray(256)
    xt = bytearray(256)
    p = q = 1
    for i in range(256):
        xt[i] = ((i << 1) ^ (0x1B if i & 0x80 else 0)) & 0xFF
    # generate S-box by walking the multiplicative group with generator 3
    while True:
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ (((q << 1) | (q >> 7)) & 0xFF) ^ (((q << 2) | (q >> 6)) & 0xFF)
        x ^= (((q << 3) | (q >> 5)) & 0xFF) ^ (((q << 4) | (q >> 4)) & 0xFF)
        sbox[p] = x ^ 0x63
        if p == 1:
            break
    sbox[0] = 0x63
    for i in range(256):
        inv[sbox[i]] = i
    return sbox, inv, xt


_SBOX = _INV = _XT = None


def expand_key(key):
    """FIPS-197 5.2 key expansion for AES-128: 176 bytes of round keys."""
    global _SBOX, _INV, _XT
    if _SBOX is None:
        _SBOX, _INV, _XT = _tables()
    if len(key) != 16:
        raise ValueError("AES-128 key must be 16 bytes")
    rk = bytearray(176)
    rk[:16] = key
    rcon = 1
    for i in range(16, 176, 4):
        t0, t1, t2, t3 = rk[i - 4], rk[i - 3], rk[i - 2], rk[i - 1]
        if i % 16 == 0:
            t0, t1, t2, t3 = _SBOX[t1] ^ rcon, _SBOX[t2], _SBOX[t3], _SBOX[t0]
            rcon = _XT[rcon]
        rk[i] = rk[i - 16] ^ t0
        rk[i + 1] = rk[i - 15] ^ t1
        rk[i + 2] = rk[i - 14] ^ t2
        rk[i + 3] = rk[i - 13] ^ t3
    return rk


@micropython.viper
def _enc(rk: ptr8, sb: ptr8, xt: ptr8, tmp: ptr8, chain: ptr8, buf: ptr8, n: int, cbc: int):
    """Encrypt n blocks of buf in place; cbc=1: XOR the previous block (chain = IV) first."""
    p = 0
    end = n * 16
    while p < end:
        i = 0
        while i < 16:
            v = buf[p + i]
            if cbc:
                v ^= chain[i]
            buf[p + i] = v ^ rk[i]
            i += 1
        r = 1
        while r < 11:
            c = 0
            while c < 16:
                tmp[c] = sb[buf[p + c]]
                tmp[c + 1] = sb[buf[p + ((c + 5) & 15)]]
                tmp[c + 2] = sb[buf[p + ((c + 10) & 15)]]
                tmp[c + 3] = sb[buf[p + ((c + 15) & 15)]]
                c += 4
            k = r * 16
            c = 0
            if r < 10:
                while c < 16:
                    a0 = tmp[c]
                    a1 = tmp[c + 1]
                    a2 = tmp[c + 2]
                    a3 = tmp[c + 3]
                    t = a0 ^ a1 ^ a2 ^ a3
                    buf[p + c] = a0 ^ t ^ xt[a0 ^ a1] ^ rk[k + c]
                    buf[p + c + 1] = a1 ^ t ^ xt[a1 ^ a2] ^ rk[k + c + 1]
                    buf[p + c + 2] = a2 ^ t ^ xt[a2 ^ a3] ^ rk[k + c + 2]
                    buf[p + c + 3] = a3 ^ t ^ xt[a3 ^ a0] ^ rk[k + c + 3]
                    c += 4
            else:
                while c < 16:
                    buf[p + c] = tmp[c] ^ rk[k + c]
                    c += 1
            r += 1
        if cbc:
            i = 0
            while i < 16:
                chain[i] = buf[p + i]
                i += 1
        p += 16


@micropython.viper
def _dec(rk: ptr8, ib: ptr8, xt: ptr8, tmp: ptr8, chain: ptr8, buf: ptr8, n: int, cbc: int):
    """Inverse cipher on n blocks in place; cbc=1: XOR with previous ciphertext (chain=IV)."""
    p = 0
    end = n * 16
    while p < end:
        i = 0
        while i < 16:
            tmp[16 + i] = buf[p + i]  # keep the ciphertext for the CBC chain
            buf[p + i] = buf[p + i] ^ rk[160 + i]
            i += 1
        r = 9
        while r >= 0:
            c = 0
            while c < 16:  # InvShiftRows + InvSubBytes
                tmp[c] = ib[buf[p + c]]
                tmp[c + 1] = ib[buf[p + ((c + 13) & 15)]]
                tmp[c + 2] = ib[buf[p + ((c + 10) & 15)]]
                tmp[c + 3] = ib[buf[p + ((c + 7) & 15)]]
                c += 4
            k = r * 16
            c = 0
            while c < 16:
                tmp[c] = tmp[c] ^ rk[k + c]
                c += 1
            c = 0
            if r > 0:
                while c < 16:
                    a0 = tmp[c]
                    a1 = tmp[c + 1]
                    a2 = tmp[c + 2]
                    a3 = tmp[c + 3]
                    u = xt[xt[a0 ^ a2]]
                    v = xt[xt[a1 ^ a3]]
                    a0 ^= u
                    a1 ^= v
                    a2 ^= u
                    a3 ^= v
                    t = a0 ^ a1 ^ a2 ^ a3
                    buf[p + c] = a0 ^ t ^ xt[a0 ^ a1]
                    buf[p + c + 1] = a1 ^ t ^ xt[a1 ^ a2]
                    buf[p + c + 2] = a2 ^ t ^ xt[a2 ^ a3]
                    buf[p + c + 3] = a3 ^ t ^ xt[a3 ^ a0]
                    c += 4
            else:
                while c < 16:
                    v = tmp[c]
                    if cbc:
                        v ^= chain[c]
                        chain[c] = tmp[16 + c]
                    buf[p + c] = v
                    c += 1
            r -= 1
        p += 16


def _check(src, dst):
    n = len(src)
    if n % 16 or len(dst) < n:
        raise ValueError("AES: length must be a multiple of 16")
    if dst is not src:
        dst[:n] = src
    return n // 16


class ViperAES:
    """AES-128 in viper (FIPS-197); same interface as the cryptolib wrapper."""

    backend = "viper"

    def __init__(self, key):
        self.rk = expand_key(key)
        self.tmp = bytearray(32)
        self.chain = bytearray(16)

    def encrypt(self, src, dst):
        _enc(self.rk, _SBOX, _XT, self.tmp, self.chain, dst, _check(src, dst), 0)

    def decrypt(self, src, dst):
        _dec(self.rk, _INV, _XT, self.tmp, self.chain, dst, _check(src, dst), 0)

    def cbc_encrypt(self, iv, src, dst):
        n = _check(src, dst)
        self.chain[:] = iv
        _enc(self.rk, _SBOX, _XT, self.tmp, self.chain, dst, n, 1)

    def cbc_decrypt(self, iv, src, dst):
        n = _check(src, dst)
        self.chain[:] = iv
        _dec(self.rk, _INV, _XT, self.tmp, self.chain, dst, n, 1)
