"""Host-side CMS: decrypt and verify the gateway's payloads with `cryptography`.

An implementation independent of the firmware's crypto/cms.py: its own small DER reader,
`cryptography` for ECDH, X9.63 KDF, AES key unwrap, AES-CBC and ECDSA. Structures as
documented in firmware/crypto/cms.py (RFC 5652 EnvelopedData with a RFC 5753
KeyAgreeRecipientInfo around a SignedData).
"""
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

OIDS = {
    "1.2.840.113549.1.7.1": "data", "1.2.840.113549.1.7.2": "signedData",
    "1.2.840.113549.1.7.3": "envelopedData", "2.16.840.1.101.3.4.2.1": "sha256",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256", "1.3.132.1.11.1": "stdDH-sha256kdf",
    "2.16.840.1.101.3.4.1.5": "aes128-wrap", "2.16.840.1.101.3.4.1.2": "aes128-cbc",
    "1.2.840.113549.1.9.3": "contentType", "1.2.840.113549.1.9.4": "messageDigest",
    "1.2.840.113549.1.9.5": "signingTime", "1.2.840.10045.2.1": "ecPublicKey",
    "1.2.840.10045.3.1.7": "P-256", "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1",
}
CURVES = {"P-256": ec.SECP256R1, "brainpoolP256r1": ec.BrainpoolP256R1}


class CmsVerifyError(Exception):
    pass


class Node:
    def __init__(self, buf, off):
        self.tag = buf[off]
        n = buf[off + 1]
        p = off + 2
        if n & 0x80:
            k = n & 0x7F
            if k == 0 or k > 4:
                raise CmsVerifyError(f"bad length at {off}")
            n = int.from_bytes(buf[p:p + k], "big")
            p += k
        if p + n > len(buf):
            raise CmsVerifyError(f"truncated at {off}")
        self.buf, self.off, self.start, self.end = buf, off, p, p + n

    @property
    def raw(self):
        return self.buf[self.off:self.end]

    @property
    def value(self):
        return self.buf[self.start:self.end]

    def children(self):
        out, p = [], self.start
        while p < self.end:
            c = Node(self.buf, p)
            out.append(c)
            p = c.end
        return out

    def oid(self):
        v = self.value
        arcs, x = [], 0
        for b in v:
            x = (x << 7) | (b & 0x7F)
            if not b & 0x80:
                arcs.append(x)
                x = 0
        a0 = min(arcs[0] // 40, 2)
        return ".".join(map(str, [a0, arcs[0] - 40 * a0] + arcs[1:]))

    def name(self):
        return OIDS.get(self.oid(), self.oid())


def parse(b):
    n = Node(bytes(b), 0)
    if n.end != len(b):
        raise CmsVerifyError("trailing data")
    return n


def _issuer_serial_matches(node, cert):
    issuer, serial = node.children()
    return (issuer.raw == cert.issuer.public_bytes()
            and int.from_bytes(serial.value, "big", signed=True) == cert.serial_number)


def decrypt(ci_der, key, cert):
    """ContentInfo(EnvelopedData) -> (inner content type name, inner DER)."""
    try:
        ci = parse(ci_der)
        ctype, body = ci.children()
        if ctype.name() != "envelopedData":
            raise CmsVerifyError("not envelopedData: " + ctype.name())
        ed = body.children()[0]
        _version, ris, eci = ed.children()
        for ri in ris.children():
            if ri.tag != 0xA1:
                continue
            kv, orig, kea, reks = ri.children()
            if kv.value != b"\x03":
                raise CmsVerifyError("kari version")
            okey = orig.children()[0]
            if okey.tag != 0xA1:
                raise CmsVerifyError("originator is not a key")
            alg, pub = okey.children()
            curve = CURVES[alg.children()[1].name()]
            eph = ec.EllipticCurvePublicKey.from_encoded_point(curve(), pub.value[1:])
            ka, wrap = kea.children()
            if ka.name() != "stdDH-sha256kdf" or wrap.children()[0].name() != "aes128-wrap":
                raise CmsVerifyError("unsupported key agreement")
            for rek in reks.children():
                rid, ek = rek.children()
                if not _issuer_serial_matches(rid, cert):
                    continue
                z = key.exchange(ec.ECDH(), eph)
                kek = X963KDF(hashes.SHA256(), 16, _shared_info()).derive(z)
                cek = aes_key_unwrap(kek, ek.value)
                inner_type, calg, enc = eci.children()
                if calg.children()[0].name() != "aes128-cbc":
                    raise CmsVerifyError("content cipher")
                iv = calg.children()[1].value
                d = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
                padded = d.update(enc.value) + d.finalize()
                u = padding.PKCS7(128).unpadder()
                return inner_type.name(), u.update(padded) + u.finalize()
        raise CmsVerifyError("no recipient info for this certificate")
    except (ValueError, IndexError, KeyError) as e:
        raise CmsVerifyError(f"{type(e).__name__}: {e}") from None


def _shared_info():
    # ECC-CMS-SharedInfo { keyInfo aes128-wrap, suppPubInfo [2] OCTET STRING 00000080 }
    alg = bytes.fromhex("300b0609608648016503040105")
    supp = bytes.fromhex("a206040400000080")
    body = alg + supp
    return bytes([0x30, len(body)]) + body


def verify_signed(sd_der, trusted):
    """SignedData DER -> (content bytes, signer certificate, signing time string).

    trusted: list of x509.Certificate (sub-CA/root) one of which must have issued the
    signer certificate."""
    try:
        sd = parse(sd_der)
        parts = sd.children()
        encap = parts[2]
        certs = [p for p in parts[3:-1] if p.tag == 0xA0]
        sis = parts[-1]
        etype, econt = encap.children()
        content = econt.children()[0].value
        signer_certs = [x509.load_der_x509_certificate(c.raw) for c in certs[0].children()]
        si = sis.children()[0]
        _sv, sid, dalg, attrs, salg, sig = si.children()
        cert = next(c for c in signer_certs if _issuer_serial_matches(sid, c))
        if dalg.children()[0].name() != "sha256" or salg.children()[0].name() != \
                "ecdsa-with-SHA256":
            raise CmsVerifyError("algorithms")
        if attrs.tag != 0xA0:
            raise CmsVerifyError("no signed attributes")
        got = {}
        for a in attrs.children():
            t, vals = a.children()
            got[t.name()] = vals.children()[0]
        if got["messageDigest"].value != hashlib.sha256(content).digest():
            raise CmsVerifyError("message digest mismatch")
        if got["contentType"].name() != etype.name():
            raise CmsVerifyError("content type attribute mismatch")
        signed = b"\x31" + attrs.raw[1:]
        cert.public_key().verify(sig.value, signed, ec.ECDSA(hashes.SHA256()))
        if not any(_issued_by(cert, ca) for ca in trusted):
            raise CmsVerifyError("signer certificate not issued by a trusted CA")
        return content, cert, got["signingTime"].value.decode()
    except CmsVerifyError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse/crypto failure is a verify failure
        raise CmsVerifyError(f"{type(e).__name__}: {e}") from None


def _issued_by(cert, ca):
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except Exception:  # noqa: BLE001
        return False


def open_payload(ci_der, key, cert, trusted):
    """Decrypt then verify; returns dict(content, signer, signing_time)."""
    itype, inner = decrypt(ci_der, key, cert)
    if itype != "signedData":
        raise CmsVerifyError("inner content is " + itype)
    content, signer, st = verify_signed(inner, trusted)
    return {"content": content, "signer": signer.subject.rfc4514_string(),
            "signing_time": st}


def load_key(path):
    return serialization.load_pem_private_key(open(path, "rb").read(), None)
