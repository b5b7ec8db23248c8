"""The gateway administrator (GWA) server: HTTPS with mutual TLS on loopback.

Serves what the gateway polls for (see firmware/wan/admin.py):
  POST /time     NTPv4 server reply (RFC 5905 packet) with this server's clock
  GET  /config   the published configuration, signed (X-Signature: hex r||s, ECDSA-SHA256
                 with the GWA key over the body), 204 when the gateway is up to date
  POST /ack      configuration acknowledgements -> DIR/gwa/acks.jsonl
  POST /log      events pushed by the gateway -> DIR/gwa/logs.jsonl
  GET  /update, GET /image (Range)  firmware update offer and image (resumable)
and sends wake-up packets over UDP (-> DIR/gwa/wakeups.jsonl), including forged,
replayed and stale ones for tests.
"""
import hashlib
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .emt_server import _TlsServer, server_context

NTP_EPOCH = 2208988800


def _ntp_ts(t):
    s = int(t)
    return struct.pack(">II", (s + NTP_EPOCH) & 0xFFFFFFFF, int((t - s) * (1 << 32)))


def sign_raw(key, data):
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def wakeup_packet(key, gateway_id, t):
    gid = gateway_id.encode()
    body = b"SMWU" + bytes((1, len(gid))) + gid + int(t).to_bytes(8, "big")
    return body + sign_raw(key, body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, code, body=b"", ctype="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.headers.get("Connection", "").lower() == "keep-alive":
            self.server.owner.kept += 1
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_POST(self):
        g = self.server.owner
        body = self._body()
        path = self.path.split("?")[0]
        if path == "/time":
            t2 = g.clock()
            if len(body) != 48:
                return self._send(400)
            p = bytearray(48)
            p[0] = (4 << 3) | 4
            p[1], p[2], p[3] = 2, 6, 0xEC
            p[12:16] = b"GWA\x00"
            p[24:32] = body[40:48]
            p[32:40] = _ntp_ts(t2)
            t3 = g.clock()
            p[16:24] = p[40:48] = _ntp_ts(t3)
            g.record("time.jsonl", {"t": t3})
            return self._send(200, bytes(p), "application/ntp")
        if path in ("/ack", "/log"):
            try:
                obj = json.loads(body)
            except ValueError:
                return self._send(400)
            g.record(path[1:] + "s.jsonl", obj)
            if path == "/ack":
                g.acks.append(obj)
            return self._send(200, b"{}")
        return self._send(404)

    def do_GET(self):
        g = self.server.owner
        path, _, query = self.path.partition("?")
        if path == "/config":
            cur = dict(x.partition("=")[::2] for x in query.split("&") if x).get("version")
            c = g.config
            if c is None or str(c[0]) == cur:
                return self._send(204)
            return self._send(200, c[1], headers={"X-Signature": c[2]})
        if path == "/update":
            if g.update is None:
                return self._send(204)
            return self._send(200, json.dumps(g.update["offer"]).encode())
        if path == "/image":
            if g.update is None:
                return self._send(404)
            img = g.update["image"]
            start, end = 0, None
            rng = self.headers.get("Range", "")
            if rng.startswith("bytes="):
                a, _, b = rng[6:].partition("-")
                start = int(a)
                end = int(b) + 1 if b else None
            if g.fail_image_after is not None:
                if g.fail_image_after <= 0:
                    g.fail_image_after = None
                    return self._send(503)
                g.fail_image_after -= 1
            chunk = img[start:min(start + g.chunk, end or len(img))]
            g.downloads.append((start, len(chunk)))
            return self._send(206 if rng else 200, chunk, "application/octet-stream",
                              {"Content-Range": f"bytes {start}-{start + len(chunk) - 1}/"
                                                f"{len(img)}"})
        return self._send(404)


class GwaServer:
    def __init__(self, pki, workdir, gateway_id="EGWT0000000001", clock=None, port=0):
        self.pki = pki
        self.dir = Path(workdir) / "gwa"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.gateway_id = gateway_id
        self.clock = clock or time.time
        self.port = port
        self.key = serialization.load_pem_private_key(
            (Path(pki.dir) / "gwa.key").read_bytes(), None)
        self.config = None  # (version, body, signature hex)
        self.update = None  # {"offer": {...}, "image": bytes}
        self.chunk = 16384
        self.fail_image_after = None  # serve N image chunks, then one 503 (resume test)
        self.acks = []
        self.downloads = []
        self.kept = 0  # responses on kept-alive connections
        self.connections = 0
        self.sent_wakeups = []
        self.srv = None
        self.lock = threading.Lock()
        self.tls_errors = 0

    def attach(self, sim):
        self.clock = sim.now

    def up(self):
        if self.srv is None:
            self.srv = _TlsServer(("127.0.0.1", self.port), Handler,
                                  server_context(self.pki.dir, "gwa"), self)
            self.port = self.srv.server_address[1]
            threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def down(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None

    def step(self):
        pass

    def record(self, name, obj):
        with self.lock, open(self.dir / name, "a") as f:
            f.write(json.dumps(obj) + "\n")

    # ---- configuration ---------------------------------------------------------------
    def publish(self, cfg, body=None, signature=None):
        """Offer a configuration; body/signature override for tests (bad signature...)."""
        body = body if body is not None else json.dumps(cfg).encode()
        sig = signature if signature is not None else sign_raw(self.key, body).hex()
        self.config = (cfg.get("version"), body, sig)

    # ---- wake-up ---------------------------------------------------------------------
    def send_wakeup(self, addr, t=None, gateway_id=None, key=None, raw=None):
        """Send a wake-up packet to "host:port"; returns the packet sent."""
        host, port = addr.rsplit(":", 1)
        pkt = raw or wakeup_packet(key or self.key, gateway_id or self.gateway_id,
                                   self.clock() if t is None else t)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(pkt, (host, int(port)))
        s.close()
        self.sent_wakeups.append(pkt)
        self.record("wakeups.jsonl", {"to": addr, "t": self.clock(), "packet": pkt.hex()})
        return pkt

    # ---- firmware update -------------------------------------------------------------
    def offer_update(self, image, version, activate_at=0):
        self.update = {"offer": {"version": version, "size": len(image),
                                 "sha256": hashlib.sha256(image).hexdigest(),
                                 "activate_at": activate_at, "path": "/image"},
                       "image": image}
