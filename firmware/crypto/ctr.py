"""AES counter mode (NIST SP 800-38A 6.5): keystream = E(counter block), E(counter+1)...

cryptolib has no CTR mode; the counter blocks are written by viper (crypto.xor.counters)
into one buffer, encrypted with a single ECB call, then XORed (viper). `width` is how many
trailing bytes of the counter block count (CCM: q bytes; wM-Bus ELL: the last byte).
"""
from crypto.xor import counters, xor_into


def keystream(aes, block, nblocks, width=16, out=None):
    """E(block), E(block+1)... as bytes; `block` (16 bytes) is advanced in place."""
    buf = out if out is not None else bytearray(nblocks * 16)
    counters(buf, block, nblocks, width)
    mv = memoryview(buf)[:nblocks * 16]
    aes.encrypt(mv, mv)
    return buf


def crypt(aes, iv, data, width=16):
    """Encrypt = decrypt: data XOR keystream starting at counter block iv. Returns bytes."""
    n = len(data)
    block = bytearray(iv)
    ks = keystream(aes, block, (n + 15) // 16, width)
    out = bytearray(n)
    xor_into(out, 0, data, 0, ks, 0, n)
    return out
