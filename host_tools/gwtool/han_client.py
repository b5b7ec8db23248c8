"""A HAN client written from the public IF_GW_CON interface description (Theben
CONEXA "Schnittstellenbeschreibung IF_GW_CON"; see firmware/han/api.py for the fields).

Standard library only, with its own RFC 7616 Digest implementation (SHA-256 preferred,
MD5 fallback, qop=auth, nonce count, stale nonce retry) and one keep-alive TLS
connection. The HAN certificate is self-signed: pin its SHA-256 fingerprint (as `diag`
prints it) instead of trusting a CA.

    c = HanClient("https://127.0.0.1:8443", "consumer1", "secret", fingerprint=fp)
    c.discover()                 # GET /smgw/m2m -> 307 Location
    c.call("user-info")
"""
import hashlib
import http.client
import json
import os
import re
import ssl
from urllib.parse import urlparse


class HanError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


def _h(alg, s):
    f = hashlib.sha256 if alg.upper().startswith("SHA-256") else hashlib.md5
    return f(s.encode()).hexdigest()


def parse_challenges(values):
    """WWW-Authenticate values -> list of dicts (one per Digest challenge)."""
    out = []
    for v in values:
        if not v.lower().startswith("digest "):
            continue
        d = {k.lower(): a if a else b for k, a, b in
                 re.findall(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))', v[7:])}
        out.append(d)
    return out


class HanClient:
    def __init__(self, base, user, password, fingerprint=None, algorithm=None, timeout=10):
        u = urlparse(base)
        self.host, self.port = u.hostname, u.port or 443
        self.user, self.password = user, password
        self.fingerprint = fingerprint
        self.prefer = algorithm  # force "MD5" or "SHA-256"; default: first offered
        self.timeout = timeout
        self.conn = None
        self.chal = None
        self.nc = 0
        self.endpoint = None
        self.cookie = None
        self.connections = 0

    def _connect(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # self-signed: pinned below instead
        self.conn = http.client.HTTPSConnection(self.host, self.port, context=ctx,
                                                timeout=self.timeout)
        self.conn.connect()
        self.connections += 1
        if self.fingerprint:
            der = self.conn.sock.getpeercert(True)
            if hashlib.sha256(der).hexdigest() != self.fingerprint.replace(":", "").lower():
                self.conn.close()
                raise ssl.SSLError("HAN certificate fingerprint mismatch")

    def _auth(self, method, uri):
        c = self.chal
        self.nc += 1
        nc = f"{self.nc:08x}"
        cnonce = os.urandom(8).hex()
        alg = c.get("algorithm", "MD5")
        ha1 = _h(alg, f"{self.user}:{c['realm']}:{self.password}")
        ha2 = _h(alg, f"{method}:{uri}")
        resp = _h(alg, f"{ha1}:{c['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        return (f'Digest username="{self.user}", realm="{c["realm"]}", nonce="{c["nonce"]}", '
                f'uri="{uri}", algorithm={alg}, qop=auth, nc={nc}, cnonce="{cnonce}", '
                f'response="{resp}", opaque="{c.get("opaque", "")}"')

    def request(self, method, uri, body=None, headers=None, use_session=False):
        """One request; handles the Digest 401 round trip. Returns (status, headers, body)."""
        for attempt in range(3):
            if self.conn is None:
                self._connect()
            h = {"Content-Type": "application/json"} if body is not None else {}
            h.update(headers or {})
            if use_session and self.cookie:
                h["Cookie"] = self.cookie
            elif self.chal:
                h["Authorization"] = self._auth(method, uri)
            try:
                self.conn.request(method, uri, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if r.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            sc = r.getheader("Set-Cookie")
            if sc:
                self.cookie = sc.split(";")[0]
            if r.status == 429:
                raise HanError(429, data)
            if r.status == 401:
                chals = parse_challenges(r.msg.get_all("WWW-Authenticate") or [])
                if not chals:
                    raise HanError(401, data)
                pick = [c for c in chals if self.prefer is None
                        or c.get("algorithm", "MD5").upper() == self.prefer.upper()]
                if not pick:
                    raise HanError(401, b"no challenge with " + self.prefer.encode())
                stale = pick[0].get("stale", "").lower() == "true"
                if self.chal and not stale and "Authorization" in h:
                    raise HanError(401, data)  # wrong credentials
                self.chal, self.nc = pick[0], 0
                continue
            return r.status, r, data
        raise HanError(401, b"authentication failed")

    def discover(self):
        st, r, data = self.request("GET", "/smgw/m2m")
        if st != 307:
            raise HanError(st, data)
        self.endpoint = r.getheader("Location")
        return self.endpoint

    def call(self, method, **params):
        if self.endpoint is None:
            self.discover()
        body = json.dumps({"method": method, **params})
        st, _r, data = self.request("POST", self.endpoint, body)
        if st != 200:
            raise HanError(st, data)
        return json.loads(data)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None
