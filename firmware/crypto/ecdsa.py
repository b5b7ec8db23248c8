"""ECDSA (FIPS 186-4 6, SEC1 4.1) with deterministic nonces (RFC 6979 3.2, HMAC-SHA256).

`sign(curve, d, digest) -> (r, s)`, `verify(curve, pub, digest, r, s) -> bool`
(pub = (x, y) or 65-byte point). Digests longer than the order are truncated to the
order's bit length (bits2int). Signature DER (X9.62 Ecdsa-Sig-Value) helpers included.
"""
from crypto import der
from crypto.kdf import hmac_sha256


def _bits2int(b, qlen):
    v = int.from_bytes(b, "big")
    blen = len(b) * 8
    if blen > qlen:
        v >>= blen - qlen
    return v


def rfc6979_k(curve, d, digest, extra=b""):
    """Generator of candidate nonces k for private key d and message hash `digest`."""
    q = curve.n
    qlen = curve.nbits
    rlen = (qlen + 7) // 8
    x = d.to_bytes(rlen, "big")
    h = (_bits2int(digest, qlen) % q).to_bytes(rlen, "big")
    V = b"\x01" * 32
    K = b"\x00" * 32
    K = hmac_sha256(K, V + b"\x00" + x + h + extra)
    V = hmac_sha256(K, V)
    K = hmac_sha256(K, V + b"\x01" + x + h + extra)
    V = hmac_sha256(K, V)
    while True:
        T = b""
        while len(T) < rlen:
            V = hmac_sha256(K, V)
            T += V
        k = _bits2int(T, qlen)
        if 0 < k < q:
            yield k
        K = hmac_sha256(K, V + b"\x00")
        V = hmac_sha256(K, V)


def sign(curve, d, digest):
    n = curve.n
    e = _bits2int(digest, curve.nbits)
    for k in rfc6979_k(curve, d, digest):
        R = curve.mul(k)
        r = R[0] % n
        if r == 0:
            continue
        s = pow(k, n - 2, n) * (e + r * d) % n
        if s != 0:
            return r, s


def verify(curve, pub, digest, r, s):
    n = curve.n
    if not (0 < r < n and 0 < s < n):
        return False
    try:
        Q = curve.decode(pub) if isinstance(pub, (bytes, bytearray, memoryview)) else pub
    except ValueError:
        return False
    e = _bits2int(digest, curve.nbits)
    w = pow(s, n - 2, n)
    R = curve.mul_add(e * w % n, r * w % n, Q)
    return R is not None and R[0] % n == r


def sig_der(r, s):
    return der.seq(der.integer(r), der.integer(s))


def sig_from_der(b):
    """Ecdsa-Sig-Value -> (r, s); raises der.DerError."""
    _, s0, e0 = der.whole(b, 0x30)
    it = der.items(b, s0, e0)
    if len(it) != 2 or it[0][0] != 2 or it[1][0] != 2:
        raise der.DerError("bad ECDSA signature", 0)
    return der.to_int(b, it[0][1], it[0][2]), der.to_int(b, it[1][1], it[1][2])
