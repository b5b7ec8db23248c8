"""CMS (RFC 5652) for TR-03109-1 Anlage I style payloads: signed, then encrypted.

build(content, signer_cert_der, secmod, recipient_cert_der, t) returns
  ContentInfo(id-envelopedData, EnvelopedData{
      KeyAgreeRecipientInfo (RFC 5753 ephemeral-static ECDH),
      EncryptedContentInfo(id-signedData, AES-128-CBC(SignedData DER))})

Choices (documented in docs/wan.md too):
- SignedData (RFC 5652 5): version 1, digest SHA-256 (2.16.840.1.101.3.4.2.1, parameters
  absent), eContentType id-data, eContent present, the gateway certificate in
  `certificates`, one SignerInfo with IssuerAndSerialNumber, signed attributes
  contentType, messageDigest, signingTime (UTCTime); signatureAlgorithm
  ecdsa-with-SHA256 (RFC 5758 3.2, no parameters); signature = DER Ecdsa-Sig-Value over
  the DER of the signed attributes with tag SET (RFC 5652 5.4).
- EnvelopedData (RFC 5652 6, version 2 because of the kari), one KeyAgreeRecipientInfo
  (version 3) with originatorKey = ephemeral public key on the recipient's curve
  (id-ecPublicKey + namedCurve), no ukm, keyEncryptionAlgorithm
  dhSinglePass-stdDH-sha256kdf-scheme (1.3.132.1.11.1, RFC 5753 7.1.4) with parameter
  id-aes128-wrap (2.16.840.1.101.3.4.1.5, parameters absent, RFC 3565), rid =
  IssuerAndSerialNumber of the recipient's content-encryption certificate.
  KEK = X9.63-KDF-SHA256(Z, 16, ECC-CMS-SharedInfo{keyInfo=id-aes128-wrap,
  suppPubInfo=00000080}) (RFC 5753 7.2); CEK (16 random bytes) wrapped with RFC 3394.
- Content encryption AES-128-CBC (2.16.840.1.101.3.4.1.2, parameter = 16-byte IV),
  PKCS#7 padding; the encrypted content is the SignedData value (RFC 5652 6.1: content
  type id-signedData), so the recipient decrypts, then verifies the gateway signature.
"""
import hashlib

from crypto import der, ecc, ecdsa
from crypto.kdf import x963_kdf

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED = "1.2.840.113549.1.7.2"
ID_ENVELOPED = "1.2.840.113549.1.7.3"
SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
EC_PUBKEY = "1.2.840.10045.2.1"
KA_SHA256 = "1.3.132.1.11.1"
AES128_WRAP = "2.16.840.1.101.3.4.1.5"
AES128_CBC = "2.16.840.1.101.3.4.1.2"
A_CONTENT_TYPE = "1.2.840.113549.1.9.3"
A_DIGEST = "1.2.840.113549.1.9.4"
A_SIGNING_TIME = "1.2.840.113549.1.9.5"


class CmsError(ValueError):
    pass


# ---- certificates ------------------------------------------------------------------------
class Cert:
    """The few fields of an X.509 certificate (RFC 5280 4.1) that CMS and pinning need."""

    def __init__(self, b):
        try:
            self.der = b = bytes(b)
            _, s, e = der.whole(b, der.SEQUENCE)
            tbs = der.items(b, s, e)[0]
            f = der.items(b, tbs[1], tbs[2])
            i = 1 if f[0][0] == 0xA0 else 0
            self.serial = b[f[i][3]:f[i][2]]  # INTEGER TLV
            self.issuer = b[f[i + 2][3]:f[i + 2][2]]  # Name TLV
            v = der.items(b, f[i + 3][1], f[i + 3][2])
            self.not_before = der.to_time(b, v[0][1], v[0][2], v[0][0])
            self.not_after = der.to_time(b, v[1][1], v[1][2], v[1][0])
            self.subject = b[f[i + 4][3]:f[i + 4][2]]
            spki = der.items(b, f[i + 5][1], f[i + 5][2])
            alg = der.items(b, spki[0][1], spki[0][2])
            if der.to_oid(b, alg[0][1], alg[0][2]) != EC_PUBKEY:
                raise CmsError("not an EC key")
            co = der.to_oid(b, alg[1][1], alg[1][2])
            self.curve = ecc.BY_OID.get(co)
            if self.curve is None:
                raise CmsError("unsupported curve " + co)
            self.point = b[spki[1][1] + 1:spki[1][2]]
            self.tbs = b[tbs[3]:tbs[2]]
            top = der.items(b, s, e)
            self.sig = b[top[2][1] + 1:top[2][2]]
        except (der.DerError, IndexError) as e:
            raise CmsError("bad certificate: %s" % e)

    def issuer_and_serial(self):
        return der.seq(self.issuer, self.serial)

    def signed_by(self, issuer):
        """Check this certificate's ECDSA-SHA256 signature with the issuer's key."""
        try:
            r, s = ecdsa.sig_from_der(self.sig)
        except der.DerError:
            return False
        return ecdsa.verify(issuer.curve, issuer.point, hashlib.sha256(self.tbs).digest(),
                            r, s)


def _alg(o, params=b""):
    return der.seq(der.oid(o), params)


def _attr(o, value):
    return der.seq(der.oid(o), der.set_of(value))


# ---- SignedData ----------------------------------------------------------------------------
def _hdr(tag, n):
    return bytes((tag,)) + der._len(n)


def signed_parts(content, cert, secmod, t):
    """SignedData over `content` as (prefix, suffix): the DER is prefix + content + suffix.

    The content is never copied here (payloads are the largest objects in RAM)."""
    if not isinstance(cert, Cert):
        cert = Cert(cert)
    digest = hashlib.sha256(content).digest()
    attrs = [_attr(A_CONTENT_TYPE, der.oid(ID_DATA)),
             _attr(A_DIGEST, der.octets(digest)),
             _attr(A_SIGNING_TIME, der.utctime(t))]
    signed_attrs = der.set_of(*attrs)
    r, s = secmod.sign(hashlib.sha256(signed_attrs).digest())
    signer = der.seq(der.integer(1), cert.issuer_and_serial(), _alg(SHA256),
                     b"\xa0" + signed_attrs[1:],  # [0] IMPLICIT: same content, tag A0
                     _alg(ECDSA_SHA256), der.octets(ecdsa.sig_der(r, s)))
    head = der.integer(1) + der.set_of(_alg(SHA256))
    octet_hdr = _hdr(der.OCTET_STRING, len(content))
    e0_hdr = _hdr(0xA0, len(octet_hdr) + len(content))
    eoid = der.oid(ID_DATA)
    eci_len = len(eoid) + len(e0_hdr) + len(octet_hdr) + len(content)
    eci_hdr = _hdr(der.SEQUENCE, eci_len)
    tail = der.ctx(0, cert.der) + der.set_of(signer)
    body = len(head) + len(eci_hdr) + eci_len + len(tail)
    return _hdr(der.SEQUENCE, body) + head + eci_hdr + eoid + e0_hdr + octet_hdr, tail


def signed_data(content, cert, secmod, t):
    """SignedData value (not wrapped in ContentInfo) over `content` (bytes)."""
    prefix, suffix = signed_parts(content, cert, secmod, t)
    return prefix + bytes(content) + suffix


# ---- key wrap and CBC ----------------------------------------------------------------------
def _aes(key):
    from crypto.aes import AES

    return AES(key)


def key_wrap(kek, key):
    """AES key wrap, RFC 3394 2.2.1, default IV A6A6A6A6A6A6A6A6."""
    a = _aes(kek)
    n = len(key) // 8
    A = b"\xa6" * 8
    R = [key[8 * i:8 * i + 8] for i in range(n)]
    blk = bytearray(16)
    for j in range(6):
        for i in range(n):
            blk[:8] = A
            blk[8:] = R[i]
            a.encrypt(blk, blk)
            t = n * j + i + 1
            A = (int.from_bytes(blk[:8], "big") ^ t).to_bytes(8, "big")
            R[i] = bytes(blk[8:])
    return A + b"".join(R)


def cbc_encrypt(key, iv, data):
    pad = 16 - len(data) % 16
    buf = bytearray(data)
    buf.extend(bytes((pad,)) * pad)
    _aes(key).cbc_encrypt(iv, buf, buf)
    return bytes(buf)


def shared_info(bits=128):
    """ECC-CMS-SharedInfo (RFC 5753 7.2) for id-aes128-wrap."""
    return der.seq(_alg(AES128_WRAP), der.ctx(2, der.octets(bits.to_bytes(4, "big"))))


# ---- EnvelopedData -------------------------------------------------------------------------
def _kari(recipient, random, cek):
    """KeyAgreeRecipientInfo [1] for one recipient certificate (ephemeral-static ECDH)."""
    c = recipient.curve
    while True:
        e = int.from_bytes(random(c.size), "big")
        if 0 < e < c.n:
            break
    eph_pub = c.public(e)
    z = ecc.ecdh(c, e, recipient.point)
    kek = x963_kdf(z, 16, shared_info())
    return der.ctx(1, b"".join((
        der.integer(3),
        der.ctx(0, der.ctx(1, _alg(EC_PUBKEY, der.oid(c.oid)) + der.bits(eph_pub))),
        _alg(KA_SHA256, _alg(AES128_WRAP)),
        der.seq(der.seq(recipient.issuer_and_serial(), der.octets(key_wrap(kek, cek)))))))


def envelope(parts, inner_type, recipient, random):
    """ContentInfo(EnvelopedData) DER (a bytearray) whose encrypted content is the
    concatenation of `parts`; built in one buffer and encrypted in place, so the peak
    RAM is about the payload size twice (plaintext + this buffer)."""
    if not isinstance(recipient, Cert):
        recipient = Cert(recipient)
    cek = random(16)
    iv = random(16)
    kari = _kari(recipient, random, cek)
    plain = 0
    for p in parts:
        plain += len(p)
    pad = 16 - plain % 16
    enc = plain + pad
    eci_head = der.oid(inner_type) + _alg(AES128_CBC, der.octets(iv)) + _hdr(0x80, enc)
    eci_hdr = _hdr(der.SEQUENCE, len(eci_head) + enc)
    ed_head = der.integer(2) + der.set_of(kari)
    ed_len = len(ed_head) + len(eci_hdr) + len(eci_head) + enc
    ed_hdr = _hdr(der.SEQUENCE, ed_len)
    c0_hdr = _hdr(0xA0, len(ed_hdr) + ed_len)
    ci_oid = der.oid(ID_ENVELOPED)
    head = (_hdr(der.SEQUENCE, len(ci_oid) + len(c0_hdr) + len(ed_hdr) + ed_len) + ci_oid
            + c0_hdr + ed_hdr + ed_head + eci_hdr + eci_head)
    h = len(head)
    buf = bytearray(h + enc)
    buf[:h] = head
    p = h
    for part in parts:
        n = len(part)
        buf[p:p + n] = part
        p += n
    for i in range(p, h + enc):
        buf[i] = pad
    mv = memoryview(buf)[h:]
    _aes(cek).cbc_encrypt(iv, mv, mv)
    return buf


def enveloped_data(inner, inner_type, recipient, random):
    """EnvelopedData value (without ContentInfo) for one recipient certificate."""
    ci = envelope((inner,), inner_type, recipient, random)
    _, s, e = der.read(ci, 0)
    _, s2, e2 = der.read(ci, der.read(ci, s)[2])  # skip the OID, enter [0]
    return bytes(ci[s2:e2])


def content_info(ctype, value):
    return der.seq(der.oid(ctype), der.ctx(0, value))


def build(content, signer_cert, secmod, recipient_cert, t):
    """Sign with the gateway key, then encrypt for the recipient: ContentInfo DER."""
    prefix, suffix = signed_parts(content, signer_cert, secmod, t)
    return envelope((prefix, content, suffix), ID_SIGNED, recipient_cert, secmod.random)
