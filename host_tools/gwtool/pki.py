"""Test PKI for the gateway ecosystem, made with the `cryptography` package.

Layout under DIR (all PEM, ECDSA P-256 unless asked otherwise):
  root.{crt,key}            test root CA (SM-PKI root stand-in)
  sub.{crt,key}             sub-CA that issues every end-entity certificate
  <name>.{crt,key}          end entities: gateway, gwa, emt1..emtN, meter-<id>, han, ...
  <name>.der                certificate in DER (for the firmware, which stores DER)
  <name>.key.der            private key as raw 32-byte scalar (firmware key store format)
  <name>.key.pk8            private key as PKCS#8 DER (what MicroPython's tls loads)
  chain.crt                 sub + root (what peers send)
Idempotent: existing files are kept, so a PKI can be extended and reused.
"""
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CURVES = {"P-256": ec.SECP256R1, "brainpoolP256r1": ec.BrainpoolP256R1}


def _name(cn, org="SMGW Test PKI"):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _load(d, name):
    crt = x509.load_pem_x509_certificate((d / f"{name}.crt").read_bytes())
    key = serialization.load_pem_private_key((d / f"{name}.key").read_bytes(), None)
    return crt, key


def _write(d, name, crt, key):
    (d / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (d / f"{name}.key.der").write_bytes(key.private_numbers().private_value.to_bytes(32, "big"))
    (d / f"{name}.key.pk8").write_bytes(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (d / f"{name}.crt").write_bytes(crt.public_bytes(serialization.Encoding.PEM))
    (d / f"{name}.der").write_bytes(crt.public_bytes(serialization.Encoding.DER))


def _issue(subject_cn, key, issuer_crt, issuer_key, ca=False, server=False, client=False,
           days=3650, san=None):
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    b = (x509.CertificateBuilder()
         .subject_name(_name(subject_cn))
         .issuer_name(issuer_crt.subject if issuer_crt else _name(subject_cn))
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now)
         .not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(True, False, True, False, True, False, False, False,
                                          False), critical=True)
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if usages:
            b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        names = [x509.DNSName(subject_cn), x509.DNSName("localhost"),
                 x509.IPAddress(ipaddress.ip_address("127.0.0.1"))] + list(san or [])
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


class Pki:
    def __init__(self, directory, curve="P-256"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.curve = CURVES[curve]
        if not (self.dir / "root.crt").exists():
            k = ec.generate_private_key(self.curve())
            _write(self.dir, "root", _issue("SMGW Test Root", k, None, None, ca=True), k)
        if not (self.dir / "sub.crt").exists():
            rc, rk = _load(self.dir, "root")
            k = ec.generate_private_key(self.curve())
            _write(self.dir, "sub", _issue("SMGW Test Sub-CA", k, rc, rk, ca=True), k)
            (self.dir / "chain.crt").write_bytes(
                (self.dir / "sub.crt").read_bytes() + (self.dir / "root.crt").read_bytes())

    def issue(self, name, cn=None, server=True, client=True, key=None):
        """Create (or keep) an end-entity certificate <name>.crt signed by the sub-CA."""
        if (self.dir / f"{name}.crt").exists() and key is None:
            return self.paths(name)
        sc, sk = _load(self.dir, "sub")
        k = key or ec.generate_private_key(self.curve())
        _write(self.dir, name, _issue(cn or name, k, sc, sk, server=server, client=client), k)
        return self.paths(name)

    def paths(self, name):
        d = self.dir
        return {"crt": d / f"{name}.crt", "key": d / f"{name}.key", "der": d / f"{name}.der",
                "key_der": d / f"{name}.key.der",
                "key_pk8": d / f"{name}.key.pk8", "ca": d / "chain.crt",
                "root": d / "root.crt"}

    def public_key_der(self, name):
        crt = x509.load_pem_x509_certificate((self.dir / f"{name}.crt").read_bytes())
        return crt.public_key().public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint)


def make_pki(directory, emts=3, meters=(), curve="P-256"):
    """The standard test PKI: gateway, GWA, EMTs, HAN, MQTT broker, and the given meter
    ids."""
    p = Pki(directory, curve)
    p.issue("gateway")
    p.issue("gwa")
    p.issue("broker")
    for i in range(1, emts + 1):
        p.issue(f"emt{i}")
    p.issue("han")
    for m in meters:
        p.issue(f"meter-{m}")
    return p
