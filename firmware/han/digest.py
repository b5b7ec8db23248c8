"""HTTP Digest access authentication (RFC 7616) and the failed-login rate limit.

Algorithms MD5 and SHA-256 (RFC 7616 3.4.1/3.4.2, plain, not "-sess"), qop "auth" only.
  HA1 = H(user ":" realm ":" password), HA2 = H(method ":" uri)
  response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)
The server sends one challenge per algorithm, SHA-256 first (RFC 7616 3.7: the
preferred one first); clients that only know MD5 (RFC 2617 style) answer the MD5 one.
Nonces are random, kept in a bounded table with their age and the highest nonce count
seen: an expired nonce answers 401 with stale=true (the client retries without asking
the user), a repeated or lower nc is a replay and fails.

Rate limit: after _FREE failed logins from one address, each further attempt waits
2^(n-_FREE) seconds (capped at _CAP); meanwhile the server answers 429 with Retry-After.
A success or the end of the waiting time lets the next attempt through: never a silent
or permanent lock-out.
"""
import binascii
import hashlib
import os
from array import array

_NONCES = const(64)
_FREE = const(5)
_CAP = const(300)
_KEYS = const(32)
_STEP = const(8)  # nonce slots added at a time


# (argument names are qstrs for keywords: the short ones of other modules are reused)
def H(a, s):
    if isinstance(s, str):
        s = s.encode()
    h = hashlib.sha256(s) if a == "SHA-256" else hashlib.md5(s)
    return binascii.hexlify(h.digest()).decode()


def ha1(a, user, realm, password):
    return H(a, ":".join((user, realm, str(password))))


def response(a, k, method, uri, nonce, nc, cnonce, qop="auth"):
    """k: HA1 as hex."""
    return H(a, "%s:%s:%s:%s:%s:%s" % (k, nonce, nc, cnonce, qop, H(a, method + ":" + uri)))


def parse(header):
    """The parameters of a 'Digest k=v, k="v"' header as a dict; {} if not Digest.
    Scanned as bytes: each character taken out of a str would become a qstr."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    b = rest.encode()
    d = {}
    i = 0
    n = len(b)
    while i < n:
        while i < n and b[i] in b" ,\t":
            i += 1
        j = b.find(b"=", i)
        if j < 0:
            break
        key = b[i:j].decode().strip().lower()
        i = j + 1
        if i < n and b[i] == 34:  # '"'
            i += 1
            v = bytearray()
            while i < n and b[i] != 34:
                if b[i] == 92 and i + 1 < n:  # backslash: the next byte as it is
                    i += 1
                v.append(b[i])
                i += 1
            i += 1
            val = v.decode()
        else:
            j = b.find(b",", i)
            if j < 0:
                j = n
            val = b[i:j].decode().strip()
            i = j
        d[key] = val
    return d


class DigestAuth:
    """Verifies Authorization headers. secret(user, alg) -> HA1 hex or None.

    Nonce table without an object per nonce (a str key and a list each cost ~170 B on
    x64): `nonces` holds the raw 16-byte nonces slot by slot, `meta` three doubles per
    slot (created, highest nc, serial number; created < 0 = free slot). Both grow in
    steps of _STEP slots up to _NONCES, on first use (a portal nobody uses pays nothing)."""

    def __init__(self, realm, secret, clock, algorithms=("SHA-256", "MD5"), ttl=300,
                 random=os.urandom):
        self.realm = realm
        self.secret = secret
        self.clock = clock
        self.algorithms = algorithms
        self.ttl = ttl
        self.random = random
        self.nonces = bytearray()
        self.meta = array("d")
        self.serial = 0
        self.last = None  # serial number of the nonce of the last successful check
        self.opaque = binascii.hexlify(random(8)).decode()

    def nonce(self):
        """A new nonce (32 hex digits) in a free, expired or the oldest slot."""
        m = self.meta
        n = len(m) // 3
        old = self.clock() - self.ttl
        free = -1
        best = 0
        for i in range(n):  # a free slot or an expired nonce, else the oldest nonce
            c = m[3 * i]
            if c < 0 or c < old:
                free = i
                break
            if c < m[3 * best]:
                best = i
        if free >= 0:
            best = free
        elif n < _NONCES:
            self.nonces.extend(bytes(16 * _STEP))
            m.extend(array("d", [-1.0, 0.0, 0.0] * _STEP))
            best = n
        raw = self.random(16)
        self.nonces[16 * best:16 * best + 16] = raw
        self.serial += 1
        m[3 * best] = self.clock()
        m[3 * best + 1] = 0
        m[3 * best + 2] = self.serial
        return binascii.hexlify(raw).decode()

    def challenges(self, stale=False):
        """WWW-Authenticate header values (one per algorithm, same nonce)."""
        nonce = self.nonce()
        out = []
        for alg in self.algorithms:
            out.append('Digest realm="%s", qop="auth", algorithm=%s, nonce="%s", '
                       'opaque="%s"%s' % (self.realm, alg, nonce, self.opaque,
                                          ", stale=true" if stale else ""))
        return out

    def check(self, method, uri, header):
        """(user, "ok") or (user|None, reason): missing, malformed, stale, replay, uri,
        algorithm, unknown, bad. Only "unknown" and "bad" count as failed logins."""
        if not header:
            return None, "missing"
        p = parse(header)
        user = p.get("username")
        for k in ("username", "realm", "nonce", "uri", "response"):
            if k not in p:
                return user, "malformed"
        alg = p.get("algorithm", "MD5")
        if alg not in self.algorithms:
            return user, "algorithm"
        if p["realm"] != self.realm:
            return user, "malformed"
        if p.get("qop", "auth") != "auth" or "cnonce" not in p or "nc" not in p:
            return user, "malformed"  # RFC 7616 requires qop; RFC 2069 form refused
        if p["uri"] != uri:
            return user, "uri"
        try:  # 8LHEX (RFC 7616 3.4): a longer count would end its nonce for good
            nc = int(p["nc"], 16) if len(p["nc"]) == 8 else -1
        except ValueError:
            nc = -1
        if nc < 0:
            return user, "malformed"
        secret = self.secret(user, alg)
        if secret is None:
            # compute anyway so a wrong user name costs the same as a wrong password
            response(alg, binascii.hexlify(bytes(16)).decode(), method, uri, p["nonce"], p["nc"], p["cnonce"])
            return user, "unknown"
        expect = response(alg, secret, method, uri, p["nonce"], p["nc"], p["cnonce"])
        a, b = expect.encode(), p["response"].lower().encode()
        r = len(a) ^ len(b)
        for i in range(min(len(a), len(b))):  # constant time (bytes: no qstr per char)
            r |= a[i] ^ b[i]
        if r:
            return user, "bad"
        i = slot(self.nonces, p["nonce"])
        m = self.meta
        if i >= 0 and m[3 * i] < 0:
            i = -1
        if i < 0 or self.clock() - m[3 * i] > self.ttl:
            if i >= 0:
                m[3 * i] = -1.0  # expired: free the slot
            return user, "stale"  # right password, old nonce: retry with a fresh one
        if nc <= m[3 * i + 1]:
            return user, "replay"
        m[3 * i + 1] = nc
        self.last = int(m[3 * i + 2])
        return user, "ok"


def slot(table, s):
    """Index of the 16-byte slot of `table` holding the id s written as 32 lower-case hex
    digits, or -1 (the caller checks that the slot is in use)."""
    if len(s) != 32 or s != s.lower():
        return -1
    try:
        raw = binascii.unhexlify(s)
    except ValueError:
        return -1
    i = table.find(raw)
    while i >= 0 and i & 15:
        i = table.find(raw, i + 1)
    return i >> 4 if i >= 0 else -1


class RateLimit:
    """Failed-login throttle per client address."""

    def __init__(self, clock):
        self.clock = clock
        self.t = {}  # key -> [failures, not_before]

    def retry_after(self, key):
        """Seconds the client must wait (0 = may try now)."""
        e = self.t.get(key)
        if not e:
            return 0
        left = e[1] - self.clock()
        return int(left) + (1 if left > int(left) else 0) if left > 0 else 0

    def failed(self, key):
        e = self.t.get(key)
        if e is None:
            if len(self.t) >= _KEYS:
                del self.t[min(self.t, key=lambda k: self.t[k][1])]
            e = self.t[key] = [0, 0]
        e[0] += 1
        if e[0] >= _FREE:
            e[1] = self.clock() + min(_CAP, 1 << min(e[0] - _FREE + 1, 16))
        return e[0]

    def ok(self, key):
        """A successful login from key: its failures are forgotten."""
        self.t.pop(key, None)
