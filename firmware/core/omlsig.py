"""Value signatures of the OML (core/oml.py "Value signature"): the canonical encoding,
its SHA-256, signing by the security module and verification with a public key. Loaded
on first use (core.oml's module __getattr__, Core._sign)."""
import struct
from binascii import unhexlify

from core.oml import OmlError

_TAG = b"SMGW-OML\x01"


def message(meter, obis, capture, raw, scaler, unit, status):
    """The canonical byte encoding of one value that its signature covers."""
    m, o = meter.encode(), obis.encode()
    if len(m) > 255 or len(o) > 255:
        raise OmlError("meter id/OBIS too long to sign")
    return (_TAG + bytes((len(m),)) + m + bytes((len(o),)) + o +
            struct.pack("<IqbBQ", capture, raw, scaler, unit, status))


def digest(meter, obis, capture, raw, scaler, unit, status):
    import hashlib

    return hashlib.sha256(message(meter, obis, capture, raw, scaler, unit, status)).digest()


def sign(secmod, meter, obis, capture, raw, scaler, unit, status):
    """r||s (64 bytes) of one value by secmod.sign (raises what secmod raises)."""
    r, s = secmod.sign(digest(meter, obis, capture, raw, scaler, unit, status))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(d, public_key):
    """True when value dict d (as from query/last/export) carries a valid signature by
    public_key (65-byte uncompressed P-256 point); False when unsigned or invalid."""
    sig = d.get("signature")
    if not sig or len(sig) != 128:
        return False
    try:
        b = unhexlify(sig)
        h = digest(d["meter"], d["obis"], int(d.get("capture_time_s", d["capture_time"])),
                   d["raw"], d["scaler"], d["unit"], d["status"])
    except (ValueError, TypeError, KeyError, OmlError, OverflowError):
        return False
    from crypto import ecc, ecdsa

    return bool(ecdsa.verify(ecc.P256, bytes(public_key), h,
                             int.from_bytes(b[:32], "big"), int.from_bytes(b[32:], "big")))
