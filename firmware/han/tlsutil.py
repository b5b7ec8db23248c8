"""TLS contexts for the HAN side from the /data/pki layout (docs/contracts.md).

Keys on disk are either the raw 32-byte P-256 private scalar (the key store format) or a
DER key mbedTLS parses (SEC1/PKCS#8). A raw scalar is wrapped into a minimal SEC1
ECPrivateKey (RFC 5915) with the prime256v1 OID; mbedTLS derives the public key.
"""
import binascii
import hashlib
import os

import tls
from store.records import exists

_SEC1_HEAD = const(b"\x30\x31\x02\x01\x01\x04\x20")
_SEC1_P256 = const(b"\xa0\x0a\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07")
_PKI = const("/data/pki")


def key_der(key):
    if len(key) == 32:
        return _SEC1_HEAD + bytes(key) + _SEC1_P256
    return bytes(key)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fingerprint(der):
    """SHA-256 of a certificate's DER, as colon-free lower-case hex."""
    return binascii.hexlify(hashlib.sha256(der).digest()).decode()


def server_context(cert_der, key):
    c = tls.SSLContext(tls.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(cert_der, key_der(key))
    return c


def client_cert_factory(cert_der, key):
    """Per-connection server contexts that record the client's certificate.

    MicroPython's server-side TLS socket has no getpeercert(); the context's
    verify_callback sees each certificate of the client's chain (depth 0 = the client's
    own). One context per connection attributes it to exactly that connection. The
    client certificate is requested but optional; users are matched by the SHA-256 of
    their certificate (pinning; the handshake proves possession of its private key), so
    no CA is needed for them."""
    kd = key_der(key)

    def make():
        holder = [None]
        c = tls.SSLContext(tls.PROTOCOL_TLS_SERVER)
        c.load_cert_chain(cert_der, kd)
        c.verify_mode = tls.CERT_OPTIONAL

        def cb(cert, depth):
            if depth == 0:
                holder[0] = bytes(cert)
            return 0

        c.verify_callback = cb
        return c, {"peercert": holder}

    return make


def ca_list(pki=_PKI):
    out = []
    try:
        names = sorted(os.listdir(pki + "/ca"))
    except OSError:
        return out
    for n in names:
        if n.endswith(".der"):
            out.append(read(pki + "/ca/" + n))
    return out


def client_context(pki=_PKI, cas=None, verify=True):
    """Client context for WAN peers (EMT): trusted CAs from pki/ca, our gateway key."""
    c = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    cas = ca_list(pki) if cas is None else cas
    if verify:
        if not cas:
            raise OSError("no trusted CA in %s/ca" % pki)
        for ca in cas:
            c.load_verify_locations(ca)  # DER; each call adds one trust anchor
        c.verify_mode = tls.CERT_REQUIRED
    else:
        c.verify_mode = tls.CERT_NONE
    if exists(pki + "/gateway.der") and exists(pki + "/gateway.key"):
        c.load_cert_chain(read(pki + "/gateway.der"), key_der(read(pki + "/gateway.key")))
    return c
