"""Hash helpers on top of hashlib.sha256: HMAC-SHA256 (RFC 2104) and the ANSI X9.63 KDF
(SEC1 3.6.1), which CMS ECDH key agreement uses (RFC 5753 7.2; dhSinglePass-stdDH-
sha256kdf-scheme)."""
import hashlib


def sha256(data):
    return hashlib.sha256(data).digest()


def hmac_sha256(key, msg):
    if len(key) > 64:
        key = sha256(key)
    key = key + bytes(64 - len(key))
    ik = bytes(b ^ 0x36 for b in key)
    ok = bytes(b ^ 0x5C for b in key)
    h = hashlib.sha256(ik)
    h.update(msg)
    return sha256(ok + h.digest())


def x963_kdf(z, length, shared_info=b""):
    out = b""
    c = 1
    while len(out) < length:
        h = hashlib.sha256(z)
        h.update(c.to_bytes(4, "big"))
        h.update(shared_info)
        out += h.digest()
        c += 1
    return out[:length]
