"""An external market participant (EMT) server: HTTPS with mutual TLS on loopback.

Receives the gateway's CMS payloads (POST /deliver, header X-Delivery-Id), acknowledges
each with HTTP 200 {"ack": id}, drops duplicates (same delivery id: acknowledged again,
stored once), and records under DIR/emt/<id>/:
  received/<delivery-id>.p7m   the payload exactly as received
  received/<delivery-id>.xml   the decrypted, verified content (when it verified)
  index.json                   [{id, time, size, verified, error, signer, duplicates}]
CMS is opened with gwtool.cms_verify (`cryptography`), independent of the firmware.
`down()` closes the listening socket (connections are refused), `up()` reopens it.
"""
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509

from . import cms_verify


def server_context(pki_dir, name):
    d = Path(pki_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(d / f"{name}.crt", d / f"{name}.key")
    ctx.load_verify_locations(d / "chain.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256:"
                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-SHA384")
    return ctx


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, sslctx, owner):
        self.sslctx = sslctx
        self.owner = owner
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        self.owner.connections = getattr(self.owner, "connections", 0) + 1
        sock.settimeout(20)
        return self.sslctx.wrap_socket(sock, server_side=True), addr

    def handle_error(self, request, client_address):
        self.owner.tls_errors += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        code, obj = self.server.owner.receive(self.path, dict(self.headers), body,
                                              self.connection.getpeercert())
        self._reply(code, obj)


class EmtServer:
    def __init__(self, emt_id, pki_dir, workdir, cert_name=None, enc_name=None, port=0):
        self.id = emt_id
        self.pki_dir = Path(pki_dir)
        self.cert_name = cert_name or emt_id
        self.enc_name = enc_name or self.cert_name
        self.dir = Path(workdir) / "emt" / emt_id
        (self.dir / "received").mkdir(parents=True, exist_ok=True)
        self.port = port
        self.srv = None
        self.thread = None
        self.lock = threading.Lock()
        self.tls_errors = 0
        self.drop_ack = 0  # acknowledge none of the next N deliveries (lost-ack test)
        self.index = []
        if (self.dir / "index.json").exists():
            self.index = json.loads((self.dir / "index.json").read_text())
        self.key = cms_verify.load_key(self.pki_dir / f"{self.enc_name}.key")
        self.cert = x509.load_pem_x509_certificate(
            (self.pki_dir / f"{self.enc_name}.crt").read_bytes())
        self.trusted = [x509.load_pem_x509_certificate((self.pki_dir / f"{n}.crt").read_bytes())
                        for n in ("sub", "root")]

    def up(self):
        if self.srv:
            return self
        self.srv = _TlsServer(("127.0.0.1", self.port), Handler,
                              server_context(self.pki_dir, self.cert_name), self)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        return self

    def down(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None

    stop = down

    def receive(self, path, headers, body, peercert):
        did = headers.get("X-Delivery-Id", "")
        if path != "/deliver" or not did or "/" in did or did.startswith("."):
            return 400, {"error": "bad request"}
        with self.lock:
            for e in self.index:
                if e["id"] == did:
                    e["duplicates"] = e.get("duplicates", 0) + 1
                    self._save()
                    return 200, {"ack": did, "duplicate": True}
            entry = {"id": did, "time": time.time(), "size": len(body),
                     "gateway": headers.get("X-Gateway"), "verified": False,
                     "duplicates": 0,
                     "client": dict(x[0] for x in peercert.get("subject", ()))
                     .get("commonName")}
            (self.dir / "received" / f"{did}.p7m").write_bytes(body)
            try:
                r = cms_verify.open_payload(body, self.key, self.cert, self.trusted)
                (self.dir / "received" / f"{did}.xml").write_bytes(r["content"])
                entry.update(verified=True, signer=r["signer"], signing_time=r["signing_time"])
            except cms_verify.CmsVerifyError as e:
                entry["error"] = str(e)
            self.index.append(entry)
            self._save()
            if self.drop_ack > 0:
                self.drop_ack -= 1
                return 503, {"error": "ack lost (test)"}
            return 200, {"ack": did}

    def _save(self):
        tmp = self.dir / "index.json.tmp"
        tmp.write_text(json.dumps(self.index, indent=1))
        os.replace(tmp, self.dir / "index.json")
