"""Device side of `gwtool provision`: small, short calls made over the REPL.

Each call does a few milliseconds of work (the REPL shares the asyncio loop with the
gateway), prints nothing secret and reports state so the host can resume a provisioning
run that was interrupted at any point. Layout under /data: see docs/contracts.md.

Files arrive in chunks (`begin` / `chunk` / `commit`): written to "<path>.tmp", checked
against the SHA-256 the host computed, then renamed over the target, so a power cut
leaves either the old or the new file. Private key material is only ever written, never
read back or printed; `state()` reports whether a key exists and its public point.
"""
import binascii
import gc
import hashlib
import json
import os
from store.records import exists, mkdirs, replace, write_atomic

DATA = "/data"
PKI = "/data/pki"
KEY = "/data/pki/gateway.key"  # raw 32-byte P-256 scalar (virtual board / no SE)
PUB = "/data/pki/gateway.pub"  # 65-byte uncompressed point, public
CERT = "/data/pki/gateway.der"
HAN_CERT = "/data/pki/han.der"  # HAN portal server certificate
HAN_KEY = "/data/pki/han.key"  # its raw 32-byte scalar (contracts.md); never read back
METER_KEYS = "/data/keys/meters.json"
CONFIG = "/data/config/active.json"
JOURNAL = "/data/provision.json"

# SEC1 ECPrivateKey (RFC 5915) around a raw P-256 scalar, without the optional public
# key (mbedTLS recomputes it): SEQUENCE { INTEGER 1, OCTET STRING d, [0] OID prime256v1 }
_SEC1_HEAD = b"\x30\x31\x02\x01\x01\x04\x20"
_SEC1_TAIL = b"\xa0\x0a\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07"

_f = None
_h = None
_buf = None


def _parent(path):
    return path.rsplit("/", 1)[0]


def begin(path):
    """Start receiving a file (chunks follow)."""
    global _f, _h
    if _f:
        _f.close()
    gc.collect()
    mkdirs(_parent(path))
    _f = open(path + ".tmp", "wb")
    _h = hashlib.sha256()


def chunk(b64):
    data = binascii.a2b_base64(b64)
    _f.write(data)
    _h.update(data)


def commit(path, sha_hex):
    """Finish the file: rename into place if the digest matches; prints ok / mismatch."""
    global _f, _h
    if _f is not None:  # may be a retry after a MemoryError below
        _f.close()
        _f = None
    if _h is None:
        print("no transfer")
        return
    got = binascii.hexlify(_h.digest()).decode()
    _h = None
    if got != sha_hex:
        os.remove(path + ".tmp")
        print("mismatch")
        return
    replace(path + ".tmp", path)
    print("ok")


def sha256(path):
    """SHA-256 (hex) of a file, None if absent. Reads in small blocks."""
    global _buf
    try:
        f = open(path, "rb")
    except OSError:
        return None
    h = hashlib.sha256()
    if _buf is None:
        _buf = bytearray(256)
    buf = _buf
    mv = memoryview(buf)
    with f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
    return binascii.hexlify(h.digest()).decode()


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _secmod():
    try:
        import app

        return getattr(app.CTX, "secmod", None) if app.CTX else None
    except ImportError:
        return None


def public_key():
    """The gateway's public point (hex) and where the private key lives."""
    sm = _secmod()
    if sm is not None:
        try:
            pub = sm.public_key()
            if pub:
                return binascii.hexlify(pub).decode(), "secmod"
        except Exception:  # noqa: BLE001 - no key in the module yet
            pass
    if exists(KEY) and exists(PUB):
        with open(PUB, "rb") as f:
            return binascii.hexlify(f.read()).decode(), "file"
    return None, None


def generate_key():
    """Create the key inside the security module when it can; returns the public point
    (hex) or None when the module cannot generate (the host then loads a key)."""
    sm = _secmod()
    gen = getattr(sm, "generate", None) if sm else None
    if gen is None:
        return None
    gen()
    return public_key()[0]


def sign(digest_hex):
    """Proof of possession: sign a host challenge with the security module's key."""
    sm = _secmod()
    if sm is None or not hasattr(sm, "sign"):
        return None
    r, s = sm.sign(binascii.unhexlify(digest_hex))
    return [r if isinstance(r, int) else int.from_bytes(r, "big"),
            s if isinstance(s, int) else int.from_bytes(s, "big")]


def state():
    """Everything the host needs to decide which provisioning steps remain."""
    gc.collect()
    pub, where = public_key()
    files = {}
    for p in (CERT, METER_KEYS, CONFIG, HAN_CERT):
        files[p] = sha256(p)
    han_key = exists(HAN_KEY)
    for d in (PKI + "/ca", PKI + "/peers"):
        for n in _listdir(d):
            if not n.endswith(".tmp"):
                files[d + "/" + n] = sha256(d + "/" + n)
    meters = 0
    try:
        with open(METER_KEYS) as f:
            meters = len(json.load(f))
    except (OSError, ValueError):
        pass
    version = None
    try:
        with open(CONFIG) as f:
            version = json.load(f).get("version")
    except (OSError, ValueError, AttributeError):
        pass
    journal = {}
    try:
        with open(JOURNAL) as f:
            journal = json.load(f)
    except (OSError, ValueError):
        pass
    return {"key": {"present": pub is not None, "where": where, "public": pub},
            "han_key": han_key, "files": files, "meter_keys": meters, "config_version": version,
            "steps": journal}


def mark(step, info=None):
    """Record a finished step in the journal (atomic), with a short public summary."""
    journal = state()["steps"]
    journal[step] = info if info is not None else True
    write_atomic(JOURNAL, json.dumps(journal).encode(), True)
    return journal


def reset_steps():
    """Forget the journal (files stay): the next run re-checks every step."""
    if exists(JOURNAL):
        os.remove(JOURNAL)


def tls_key_der():
    """The gateway key as SEC1 DER, the form MicroPython's tls loads: from the software
    security module when there is one, else from the stored scalar. A key inside a
    secure element cannot be exported (TLS then needs mbedTLS's ECDSA-alt hook)."""
    sm = _secmod()
    if sm is not None and hasattr(sm, "private_key_der"):
        return sm.private_key_der()
    try:
        with open(KEY, "rb") as f:
            d = f.read()
    except OSError:
        raise OSError("no exportable gateway key for TLS (key inside the secure element)")
    return _SEC1_HEAD + d + _SEC1_TAIL


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def tls_context():
    """A client TLS context with the provisioned identity and trust anchors."""
    import tls

    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(_read(CERT), tls_key_der())
    for n in _listdir(PKI + "/ca"):
        if n.endswith(".der"):
            ctx.load_verify_locations(_read(PKI + "/ca/" + n))
    ctx.verify_mode = tls.CERT_REQUIRED
    return ctx


def tls_check(host, port, server_hostname="localhost", message=b"PING\n"):
    """Mutual-TLS self-test against a server (the GWA): handshake, send, read a line."""
    import socket

    ctx = tls_context()
    s = socket.socket()
    try:
        s.settimeout(10)
        s.connect(socket.getaddrinfo(host, port)[0][-1])
        t = ctx.wrap_socket(s, server_hostname=server_hostname)
        t.write(message)
        reply = t.readline()
        t.close()
    finally:
        s.close()
    return {"ok": True, "reply": reply.decode()}
