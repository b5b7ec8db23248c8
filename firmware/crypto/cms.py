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

RAM: the content may be a function returning an iterator of byte pieces (called twice:
once to hash and measure, once to encrypt); with an output stream the ContentInfo is
encrypted in 512-byte steps and written out, so no copy of the content is ever held.
"""
import hashlib

from crypto import der, ecc, ecdsa
from crypto.kdf import x963_kdf

_STAGE = const(512)  # encryption step (multiple of the AES block): the only content buffer

# object identifiers, DER-encoded (tag 06 included)
_ID_DATA = const(b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01")
_ID_SIGNED = const(b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02")
_ID_ENVELOPED = const(b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03")
_SHA256 = const(b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01")  # 2.16.840.1.101.3.4.2.1
_ECDSA_SHA256 = const(b"\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02")  # 1.2.840.10045.4.3.2
_EC_PUBKEY = const(b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01")  # 1.2.840.10045.2.1
_KA_SHA256 = const(b"\x06\x06\x2b\x81\x04\x01\x0b\x01")  # 1.3.132.1.11.1
_AES128_WRAP = const(b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x01\x05")  # 2.16.840.1.101.3.4.1.5
_AES128_CBC = const(b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x01\x02")  # 2.16.840.1.101.3.4.1.2
_A_CONTENT_TYPE = const(b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x03")  # 1.2.840.113549.1.9.3
_A_DIGEST = const(b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x04")
_A_SIGNING_TIME = const(b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x05")


class CmsError(ValueError):
    pass


# ---- certificates ------------------------------------------------------------------------
class Cert:
    """The few fields of an X.509 certificate (RFC 5280 4.1) that CMS and pinning need.
    serial and issuer are TLVs; the signed part and the signature stay offsets into der."""

    def __init__(self, b):
        try:
            self.der = b = bytes(b)
            _, s, e = der.whole(b, 0x30)
            top = der.items(b, s, e)
            tbs = top[0]
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
            if b[alg[0][3]:alg[0][2]] != _EC_PUBKEY:
                raise CmsError("not an EC key")
            co = der.to_oid(b, alg[1][1], alg[1][2])
            self.curve = ecc.curve(co)
            if self.curve is None:
                raise CmsError("unsupported curve " + co)
            self.point = b[spki[1][1] + 1:spki[1][2]]
            self._tbs = (tbs[3], tbs[2])
            self._sig = (top[2][1] + 1, top[2][2])
        except (der.DerError, IndexError) as e:
            raise CmsError("bad certificate: %s" % e)

    def signed_by(self, issuer):
        """Check this certificate's ECDSA-SHA256 signature with the issuer's key."""
        b = self.der
        try:
            r, s = ecdsa.sig_from_der(b[self._sig[0]:self._sig[1]])
        except der.DerError:
            return False
        h = hashlib.sha256(memoryview(b)[self._tbs[0]:self._tbs[1]]).digest()
        return ecdsa.verify(issuer.curve, issuer.point, h, r, s)


def _hdr(tag, n):
    return bytes((tag,)) + der._len(n)


def _pieces(part):
    """The byte pieces of one part: bytes-like, or a function returning an iterator."""
    return part() if callable(part) else (part,)


# ---- SignedData ----------------------------------------------------------------------------
def _cert(c):
    """A Cert from DER, from a function returning a Cert or DER (called when needed: the
    recipient's certificate is not held while the content is signed), or c itself: an
    object with the fields that are used (wan.tlsconn.Identity keeps the gateway's der,
    issuer and serial across payloads, not a Cert of a former load of this module), so
    the test is on the DER types, not on the class."""
    if callable(c):
        c = c()
    return Cert(c) if isinstance(c, (bytes, bytearray, memoryview)) else c


def signed_parts(content, cert, secmod, t):
    """SignedData over `content` as (prefix, suffix, n): the DER is prefix + content +
    the pieces of the tuple suffix, n its length. Neither the content nor the
    certificate is copied here (payloads are the largest objects in RAM, and a fresh
    certificate-sized piece may not be left in a fragmented heap); a function is called
    once, to hash and measure it."""
    cert = _cert(cert)
    h = hashlib.sha256()
    clen = 0
    for p in _pieces(content):
        h.update(p)
        clen += len(p)
    attrs = der.set_of(der.seq(_A_CONTENT_TYPE, der.set_of(_ID_DATA)),
                       der.seq(_A_DIGEST, der.set_of(der.octets(h.digest()))),
                       der.seq(_A_SIGNING_TIME, der.set_of(der.utctime(t))))
    r, s = secmod.sign(hashlib.sha256(attrs).digest())
    signer = der.seq(der.integer(1), der.seq(cert.issuer, cert.serial), der.seq(_SHA256),
                     b"\xa0" + attrs[1:],  # [0] IMPLICIT: same content, tag A0
                     der.seq(_ECDSA_SHA256), der.octets(ecdsa.sig_der(r, s)))
    attrs = None
    head = b"\x02\x01\x01" + der.set_of(der.seq(_SHA256))  # version 1, digestAlgorithms
    octet_hdr = _hdr(0x04, clen)
    e0_hdr = _hdr(0xA0, len(octet_hdr) + clen)
    eci_len = len(_ID_DATA) + len(e0_hdr) + len(octet_hdr) + clen
    eci_hdr = _hdr(0x30, eci_len)
    tail = (_hdr(0xA0, len(cert.der)), cert.der, der.set_of(signer))  # [0] certificates
    tn = len(tail[0]) + len(cert.der) + len(tail[2])
    body = len(head) + len(eci_hdr) + eci_len + tn
    prefix = _hdr(0x30, body) + head + eci_hdr + _ID_DATA + e0_hdr + octet_hdr
    return prefix, tail, len(prefix) + clen + tn


# ---- key wrap --------------------------------------------------------------------------
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


# ---- EnvelopedData -------------------------------------------------------------------------
def _kari(recipient, random, cek):
    """KeyAgreeRecipientInfo [1] for one recipient certificate (ephemeral-static ECDH).
    Only the fields it needs are kept while the key agreement runs, not the whole
    certificate (RAM: the ECDH is a payload build's peak)."""
    c, point = recipient.curve, recipient.point
    rid = der.seq(recipient.issuer, recipient.serial)
    recipient = None
    while True:
        e = int.from_bytes(random(c.size), "big")
        if 0 < e < c.n:
            break
    eph_pub = c.public(e)
    z = ecc.ecdh(c, e, point)
    point = None
    wrap = der.seq(_AES128_WRAP)
    # ECC-CMS-SharedInfo (RFC 5753 7.2): keyInfo id-aes128-wrap, suppPubInfo 128 bits
    kek = x963_kdf(z, 16, der.seq(wrap, der.ctx(2, der.octets(b"\x00\x00\x00\x80"))))
    return der.ctx(1, b"".join((
        b"\x02\x01\x03",  # version 3
        der.ctx(0, der.ctx(1, der.seq(_EC_PUBKEY, der.oid(c.oid)) + der.bits(eph_pub))),
        der.seq(_KA_SHA256, wrap),
        der.seq(der.seq(rid, der.octets(key_wrap(kek, cek)))))))


def envelope(parts, plain, inner_type, recipient, random, out=None):
    """ContentInfo(EnvelopedData) DER whose encrypted content is the concatenation of
    `parts` (bytes-like or functions, see _pieces), `plain` bytes long. Encrypted in
    _STAGE-byte steps through one small buffer and written to the stream `out` (returns
    the length written), or without `out` returned as bytes.
    """
    cek = random(16)
    iv = random(16)
    kari = _kari(_cert(recipient), random, cek)
    pad = 16 - plain % 16
    enc = plain + pad
    eci_head = inner_type + der.seq(_AES128_CBC, der.octets(iv)) + _hdr(0x80, enc)
    eci_hdr = _hdr(0x30, len(eci_head) + enc)
    ed_head = b"\x02\x01\x02" + der.set_of(kari)  # version 2
    kari = None
    ed_len = len(ed_head) + len(eci_hdr) + len(eci_head) + enc
    ed_hdr = _hdr(0x30, ed_len)
    c0_hdr = _hdr(0xA0, len(ed_hdr) + ed_len)
    n = len(_ID_ENVELOPED) + len(c0_hdr) + len(ed_hdr) + ed_len
    ci_hdr = _hdr(0x30, n)
    n += len(ci_hdr)
    res = out is None
    if res:  # tests and tools: the whole DER in memory
        import io

        out = io.BytesIO(n)
    for part in (ci_hdr, _ID_ENVELOPED, c0_hdr, ed_hdr, ed_head, eci_hdr, eci_head):
        out.write(part)
    ed_head = eci_head = None
    aes = _aes(cek)
    sv = memoryview(bytearray(_STAGE))
    k = got = 0
    for part in parts:
        for piece in _pieces(part):
            pv = memoryview(piece)
            j = 0
            while j < len(pv):
                c = min(_STAGE - k, len(pv) - j)
                sv[k:k + c] = pv[j:j + c]
                k += c
                j += c
                if k == _STAGE:  # CBC goes on from the last ciphertext block
                    aes.cbc_encrypt(iv, sv, sv)
                    out.write(sv)
                    iv = bytes(sv[_STAGE - 16:])
                    k = 0
            got += j
    if got != plain:
        raise CmsError("content changed while building")
    for i in range(k, k + pad):  # PKCS#7 padding (k + pad <= _STAGE: both multiples of 16)
        sv[i] = pad
    k += pad
    aes.cbc_encrypt(iv, sv[:k], sv[:k])
    out.write(sv[:k])
    return out.getvalue() if res else n


def build(content, signer_cert, secmod, recipient_cert, t, out=None):
    """Sign with the gateway key, then encrypt for the recipient: ContentInfo DER
    (bytes), or written to the stream `out` (returns its length). content: bytes, or
    a function returning an iterator of byte pieces that yields the same bytes each time
    it is called. The certificates: Cert, DER, or a function returning either (_cert)."""
    prefix, suffix, n = signed_parts(content, signer_cert, secmod, t)
    return envelope((prefix, content) + suffix, n, _ID_SIGNED, recipient_cert,
                    secmod.random, out)
