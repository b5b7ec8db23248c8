"""Signed firmware update images (the format firmware/wan/update.py verifies).

Header (160 bytes, big-endian): magic "SMGWFW01", header length, version
(major << 16 | minor << 8 | patch), board (16 bytes, NUL padded), image length,
SHA-256 of the image, creation time, 22 reserved bytes, then ECDSA-SHA256 signature
r || s (64 bytes) over the first 96 bytes; the ROMFS application image follows.
"""
import hashlib
import struct
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

MAGIC = b"SMGWFW01"
HEADER = 160


def version_int(v):
    p = [int(x) for x in str(v).split(".")] + [0, 0]
    return (p[0] << 16) | (p[1] << 8) | p[2]


def make(image, version, key, board="unix", created=None):
    head = (MAGIC + struct.pack(">HI", HEADER, version_int(version))
            + board.encode().ljust(16, b"\0") + struct.pack(">I", len(image))
            + hashlib.sha256(image).digest() + struct.pack(">Q", int(created or time.time()))
            + bytes(22))
    assert len(head) == 96
    r, s = decode_dss_signature(key.sign(head, ec.ECDSA(hashes.SHA256())))
    return head + r.to_bytes(32, "big") + s.to_bytes(32, "big") + image


def parse(blob, public_key=None):
    """-> dict; checks hash and (with public_key) the signature; raises ValueError."""
    if blob[:8] != MAGIC:
        raise ValueError("not an update image")
    _hl, ver = struct.unpack(">HI", blob[8:14])
    n, = struct.unpack(">I", blob[30:34])
    image = blob[HEADER:]
    if len(image) != n or hashlib.sha256(image).digest() != blob[34:66]:
        raise ValueError("image length/hash mismatch")
    if public_key is not None:
        r = int.from_bytes(blob[96:128], "big")
        s = int.from_bytes(blob[128:160], "big")
        public_key.verify(encode_dss_signature(r, s), blob[:96], ec.ECDSA(hashes.SHA256()))
    return {"version": f"{ver >> 16}.{(ver >> 8) & 255}.{ver & 255}",
            "board": blob[14:30].rstrip(b"\0").decode(), "length": n}
