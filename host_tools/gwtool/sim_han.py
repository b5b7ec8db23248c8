"""Simulator peer for the HAN side: HAN users, the HAN certificate, a CLS EMT echo server.

- make_han_cert(dir): a self-signed P-256 HAN server certificate (SAN localhost,
  127.0.0.1) as han.der + han.key (raw 32-byte scalar, the key store format).
- EchoEmt: a TLS server standing in for an external market participant behind the CLS
  proxy; it echoes every byte and counts sessions (certificate from the test PKI).
- Peer: passes the HAN configuration (port, CLS port, users, certificate files) to the
  virtual board and adds "han", "cls" and "users" to DIR/endpoints.json.
"""
import datetime
import hashlib
import ipaddress
import json
import secrets
import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .vboard import free_port

# Heap the HAN portal needs on top of the foundation's budget once all layers are loaded
# (modules ~20 KiB, a TLS handshake ~40 KiB transient); docs/han.md "Memory".
HAN_EXTRA_HEAP = 128 * 1024


def board_heap():
    """-X heapsize for a virtual board that runs the HAN portal (the image size is taken
    from the last build; HAN_EXTRA_HEAP leaves room for it to grow a little)."""
    from .boards import board_facts
    from .build import build
    from .paths import romfs_path

    if not romfs_path("unix").exists():
        build("unix")
    return (board_facts("unix")["HEAP_BYTES"] + romfs_path("unix").stat().st_size + 4096
            + HAN_EXTRA_HEAP)


def make_han_cert(directory, cn="smgw-han"):
    """Self-signed HAN certificate; returns (der_path, key_path, sha256 hex). Idempotent.
    han.pem (the same certificate) is what host clients pass as their trust anchor."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    der, key = d / "han.der", d / "han.key"
    if not der.exists() or not key.exists():
        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
        crt = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(k.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
               .add_extension(x509.SubjectAlternativeName([
                   x509.DNSName(cn), x509.DNSName("localhost"),
                   x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
               .sign(k, hashes.SHA256()))
        der.write_bytes(crt.public_bytes(serialization.Encoding.DER))
        key.write_bytes(k.private_numbers().private_value.to_bytes(32, "big"))
        (d / "han.pem").write_bytes(crt.public_bytes(serialization.Encoding.PEM))
    return der, key, hashlib.sha256(der.read_bytes()).hexdigest()


def pem_to_der(pem_path, der_path):
    crt = x509.load_pem_x509_certificate(Path(pem_path).read_bytes())
    Path(der_path).write_bytes(crt.public_bytes(serialization.Encoding.DER))
    return der_path


class EchoEmt:
    """TLS echo server on 127.0.0.1 (an EMT reachable through the CLS proxy)."""

    def __init__(self, cert, key, port=None, require_client_ca=None):
        self.port = port or free_port()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        if require_client_ca:
            self.ctx.load_verify_locations(str(require_client_ca))
            self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sessions = 0
        self.bytes = 0
        self.peers = []
        self._stop = False
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _serve(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    def _echo(self, c):
        try:
            c.settimeout(30)
            s = self.ctx.wrap_socket(c, server_side=True)
            self.sessions += 1
            cert = s.getpeercert(True)
            self.peers.append(hashlib.sha256(cert).hexdigest() if cert else None)
            while True:
                d = s.recv(4096)
                if not d:
                    break
                self.bytes += len(d)
                s.sendall(d)
            s.close()
        except OSError:
            c.close()

    def stop(self):
        self._stop = True
        self.sock.close()


class CommandEmt(EchoEmt):
    """TLS server of an EMT that switches the gateway's outputs: on each connection it
    sends the queued JSON commands (one per line) and collects the gateway's answers."""

    def __init__(self, cert, key, port=None):
        super().__init__(cert, key, port)
        self.queue = []
        self.replies = []
        self.done = threading.Event()

    def _echo(self, c):
        try:
            c.settimeout(30)
            s = self.ctx.wrap_socket(c, server_side=True)
            self.sessions += 1
            f = s.makefile("rwb")
            while self.queue:
                cmd = self.queue.pop(0)
                f.write(cmd if isinstance(cmd, bytes) else json.dumps(cmd).encode() + b"\n")
                f.flush()
                self.replies.append(json.loads(f.readline()))
            self.done.set()
            s.close()
        except OSError:
            c.close()


def default_users():
    return {
        "consumer1": {"user": "consumer1", "password": secrets.token_urlsafe(9)},
        "consumer2": {"user": "consumer2", "password": secrets.token_urlsafe(9)},
        "technician": {"user": "technician", "password": secrets.token_urlsafe(9)},
    }


def cls_emt(workdir):
    """A test PKI under workdir/han-pki/ca and an EchoEmt with a certificate from it;
    returns (emt, [trusted CA DER paths for the gateway])."""
    from .pki import Pki

    d = Path(workdir) / "han-pki" / "ca"
    p = Pki(d)
    paths = p.issue("emt-cls", cn="emt1")
    cas = [pem_to_der(d / "sub.crt", d / "sub.der"), pem_to_der(d / "root.crt", d / "root.der")]
    return EchoEmt(paths["crt"], paths["key"]).start(), [str(c) for c in cas]


def han_config(workdir, cas=None, users=None, port=None, cls_port=None, emt=None):
    """The HAN part of a vboard config (extra_config={"han": ...})."""
    der, key, fp = make_han_cert(Path(workdir) / "han-pki")
    users = users or default_users()
    cfg = {"port": port or free_port(), "cert_file": str(der), "key_file": str(key),
           "users": {u["user"]: {"role": "technician" if k == "technician" else "consumer",
                                 "password": u["password"]} for k, u in users.items()}}
    if emt is not None:
        cfg["cls"] = [{"name": "cls1", "port": cls_port or free_port(), "device": "127.0.0.1",
                       "emt": {"host": "127.0.0.1", "port": emt.port, "name": "emt1"}}]
        cfg["cls_ca_files"] = list(cas or [])
        cfg["cls_verify"] = bool(cas)
    return cfg, users, fp


class Peer:
    name = "han"

    def __init__(self, sim):
        self.sim = sim
        self.emt = None
        self.users = None
        self.fp = None
        self.cfg = None

    def vboard_config(self):
        if self.sim.heap is None:
            self.sim.heap = board_heap()
        self.emt, cas = cls_emt(self.sim.workdir)
        self.cfg, self.users, self.fp = han_config(self.sim.workdir, cas, emt=self.emt)
        return {"han": self.cfg}

    def endpoints(self):
        eps = {"users": self.users, "han_sha256": self.fp}
        if self.cfg and self.cfg.get("cls"):
            eps["cls"] = f"127.0.0.1:{self.cfg['cls'][0]['port']}"
        return eps

    def stop(self):
        if self.emt:
            self.emt.stop()
