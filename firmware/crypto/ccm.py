"""AES-CCM (NIST SP 800-38C, RFC 3610): authenticated encryption, used by wM-Bus
security mode 10 (EN 13757-7, OMS security profile D).

Formatting (SP 800-38C A.2): B0 = flags(Adata, (M-2)/2, q-1) ‖ nonce ‖ len(q bytes BE);
AAD prefixed with its 2-byte length and zero-padded to 16; payload zero-padded. The
CBC-MAC is cryptolib CBC over B0‖AAD, then the payload in place (the chain carried through
the IV); the keystream A0, A1... is one ECB call over viper-written counter blocks. So CCM
costs two cipher passes plus word-wise viper glue: ~0.4-0.5x bulk ECB.
Test vectors: RFC 3610 packet vectors #1-#3, SP 800-38C C.1-C.3.
"""
from crypto.aes import AES
from crypto.ctr import keystream
from crypto.xor import equal, xor_into
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("bad nonce or tag length|shorter than the tag|tag mismatch")



class CcmError(Exception):
    """Tag mismatch or bad parameters."""


def _header(nonce, aad, np, tag_len):
    """B0 ‖ (len(AAD) ‖ AAD, zero-padded): the blocks before the payload."""
    q = 15 - len(nonce)
    na = len(aad)
    alen = 0 if na == 0 else ((na + 2 + 15) // 16) * 16
    buf = bytearray(16 + alen)
    buf[0] = (0x40 if na else 0) | (((tag_len - 2) // 2) << 3) | (q - 1)
    buf[1:1 + len(nonce)] = nonce
    v = np
    for i in range(15, 15 - q, -1):
        buf[i] = v & 0xFF
        v >>= 8
    if na:
        buf[16] = na >> 8
        buf[17] = na & 0xFF
        buf[18:18 + na] = aad
    return buf


# reused between calls, allocated at first use and grown on demand to the longest message
# seen (wM-Bus mode 10 telegrams: a few blocks), not preallocated for 256 bytes at import
_scratch = b""  # CBC-MAC output (discarded)
_ks = b""  # keystream blocks


def _cbc_mac(aes, nonce, aad, payload, tag_len):
    """CBC-MAC over B0 ‖ AAD ‖ payload without copying the payload: the CBC chain is
    carried from one cryptolib call to the next through the IV."""
    global _scratch
    hb = _header(nonce, aad, len(payload), tag_len)
    aes.cbc_encrypt(bytes(16), hb, hb)
    iv = hb[-16:]
    np = len(payload)
    full = np & ~15
    if full:
        if len(_scratch) < full:
            _scratch = bytearray(full)
        aes.cbc_encrypt(iv, memoryview(payload)[:full], _scratch)
        iv = _scratch[full - 16:full]
    if np > full:
        last = bytearray(16)
        last[:np - full] = memoryview(payload)[full:]
        aes.cbc_encrypt(iv, last, last)
        iv = last
    return iv


def _params(nonce, tag_len):
    if not 7 <= len(nonce) <= 13 or tag_len not in (4, 6, 8, 10, 12, 14, 16):
        raise CcmError(msg(_T, 0))


class CCM:
    def __init__(self, key_or_aes, tag_len=8):
        self.aes = AES(key_or_aes) if isinstance(key_or_aes, (bytes, bytearray)) else key_or_aes
        self.tag_len = tag_len

    def _keystream(self, nonce, n):
        q = 15 - len(nonce)
        a0 = bytearray(16)
        a0[0] = q - 1
        a0[1:1 + len(nonce)] = nonce
        global _ks
        nb = 1 + (n + 15) // 16
        if len(_ks) < nb * 16:
            _ks = bytearray(nb * 16)
        return keystream(self.aes, a0, nb, q, _ks)  # S0 ‖ S1 ‖ ... (reused buffer)

    def _tag(self, nonce, aad, payload, s):
        x = _cbc_mac(self.aes, nonce, aad, payload, self.tag_len)
        t = bytearray(self.tag_len)
        xor_into(t, 0, x, 0, s, 0, self.tag_len)
        return t

    def encrypt(self, nonce, aad, payload, out=None):
        """-> ciphertext ‖ tag (into `out`, a bytearray of len(payload) + tag length)."""
        _params(nonce, self.tag_len)
        n = len(payload)
        s = self._keystream(nonce, n)
        if out is None:
            out = bytearray(n + self.tag_len)
        src = payload
        if type(src) is not bytearray:
            out[:n] = src
            src = out
        tag = self._tag(nonce, aad, payload, s)  # before src (maybe out) is overwritten
        xor_into(out, 0, src, 0, s, 16, n)
        out[n:] = tag
        return out

    def decrypt(self, nonce, aad, data):
        """data = ciphertext ‖ tag -> plaintext; CcmError if the tag does not verify."""
        _params(nonce, self.tag_len)
        n = len(data) - self.tag_len
        if n < 0:
            raise CcmError(msg(_T, 1))
        s = self._keystream(nonce, n)
        p = bytearray(data[:n])  # an aligned copy: word-wise XOR
        xor_into(p, 0, p, 0, s, 16, n)
        t = self._tag(nonce, aad, p, s)
        if not equal(t, memoryview(data)[n:], self.tag_len):
            raise CcmError(msg(_T, 2))
        return p
