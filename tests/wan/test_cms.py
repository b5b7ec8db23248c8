"""CMS built in MicroPython, opened on the host by cms_verify (cryptography) and OpenSSL."""
import shutil
import subprocess

import pytest
from cryptography import x509
from gwtool import cms_verify

BUILD = """
from crypto import cms
from crypto.secmod import SoftSecMod
sm = SoftSecMod(key_path="@D@/gateway.key.der", curve="@CURVE@")
gw = open("@D@/gateway.der", "rb").read()
rc = open("@D@/@R@.der", "rb").read()
content = "@CONTENT@".encode()
if @STREAM@:  # the content as a function returning its pieces (streamed into the buffer)
    c = content
    content = lambda: iter((c[:3], memoryview(c)[3:7], c[7:]))
out = cms.build(content, gw, sm, rc, 1767225600)
open("@OUT@", "wb").write(out)
print(len(out))
"""


def _build(mpy, pki, tmp_path, recipient, content="<x>hello Zähler</x>", curve="P-256",
           stream=False):
    out = tmp_path / f"{recipient}.p7m"
    code = (BUILD.replace("@D@", str(pki.dir)).replace("@R@", recipient)
            .replace("@OUT@", str(out)).replace("@CONTENT@", content)
            .replace("@CURVE@", curve).replace("@STREAM@", str(stream)))
    mpy.run(code)
    return out.read_bytes()


def _trusted(pki):
    return [x509.load_pem_x509_certificate((pki.dir / f"{n}.crt").read_bytes())
            for n in ("sub", "root")]


@pytest.mark.parametrize("stream", [False, True])
def test_cms_roundtrip_host(mpy, pki, tmp_path, stream):
    blob = _build(mpy, pki, tmp_path, "emt1", stream=stream)
    key = cms_verify.load_key(pki.dir / "emt1.key")
    cert = x509.load_pem_x509_certificate((pki.dir / "emt1.crt").read_bytes())
    r = cms_verify.open_payload(blob, key, cert, _trusted(pki))
    assert r["content"] == "<x>hello Zähler</x>".encode()
    assert "CN=gateway" in r["signer"]
    assert r["signing_time"] == "260101000000Z"
    # another EMT cannot open it
    key2 = cms_verify.load_key(pki.dir / "emt2.key")
    cert2 = x509.load_pem_x509_certificate((pki.dir / "emt2.crt").read_bytes())
    with pytest.raises(cms_verify.CmsVerifyError):
        cms_verify.open_payload(blob, key2, cert2, _trusted(pki))


def test_cms_tampering_detected(mpy, pki, tmp_path):
    blob = _build(mpy, pki, tmp_path, "emt1")
    key = cms_verify.load_key(pki.dir / "emt1.key")
    cert = x509.load_pem_x509_certificate((pki.dir / "emt1.crt").read_bytes())
    _, inner = cms_verify.decrypt(blob, key, cert)
    i = inner.find(b"hello")
    bad = inner[:i] + b"J" + inner[i + 1:]
    with pytest.raises(cms_verify.CmsVerifyError):
        cms_verify.verify_signed(bad, _trusted(pki))
    # signature made by an untrusted CA's signer is refused
    other = x509.load_pem_x509_certificate((pki.dir / "emt2.crt").read_bytes())
    with pytest.raises(cms_verify.CmsVerifyError):
        cms_verify.verify_signed(inner, [other])
    flipped = bytearray(blob)
    flipped[-5] ^= 1
    with pytest.raises(cms_verify.CmsVerifyError):
        cms_verify.open_payload(bytes(flipped), key, cert, _trusted(pki))


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl CLI missing")
def test_cms_openssl_decrypts_and_verifies(mpy, pki, tmp_path):
    blob = _build(mpy, pki, tmp_path, "emt2", content="<openssl/>")
    f = tmp_path / "p.der"
    f.write_bytes(blob)
    dec = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-in", str(f),
                          "-recip", str(pki.dir / "emt2.crt"), "-inkey",
                          str(pki.dir / "emt2.key"), "-binary"],
                         capture_output=True, check=True).stdout
    # the decrypted content is the SignedData value: wrap it in a ContentInfo to verify
    body = bytes.fromhex("06092a864886f70d010702") + _tlv(0xA0, dec)
    ci = _tlv(0x30, body)
    (tmp_path / "sd.der").write_bytes(ci)
    out = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in",
                          str(tmp_path / "sd.der"), "-CAfile", str(pki.dir / "chain.crt"),
                          "-binary", "-purpose", "any"], capture_output=True, check=False)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"<openssl/>"


def test_cms_brainpool(mpy, bp_pki, tmp_path):
    blob = _build(mpy, bp_pki, tmp_path, "emt1", curve="brainpoolP256r1")
    key = cms_verify.load_key(bp_pki.dir / "emt1.key")
    cert = x509.load_pem_x509_certificate((bp_pki.dir / "emt1.crt").read_bytes())
    r = cms_verify.open_payload(blob, key, cert, _trusted(bp_pki))
    assert r["content"] == "<x>hello Zähler</x>".encode()


def _tlv(tag, b):
    n = len(b)
    if n < 128:
        return bytes([tag, n]) + b
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + b
