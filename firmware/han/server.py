"""The HAN HTTPS server: TLS, keep-alive connections, Digest login, sessions.

One asyncio task per connection (at most max_conns; further clients wait in the listen
backlog, none is refused). Each connection serves requests until the client closes,
asks for "Connection: close" or stays idle for conn_idle_s. A successful Digest login
opens a session (cookie smgw_sid, HttpOnly, Secure, SameSite=Strict) that ends after
session_idle_s without a request (10 min, TR-03109-1 HAN idle timeout), so browsers and
API clients need not repeat the Digest exchange. Failed logins are rate limited per
client address with 429 + Retry-After (han.digest.RateLimit).
Client certificates: if the TLS layer reports a peer certificate whose SHA-256
fingerprint is configured for a user, that user is logged in without Digest.
"""
import asyncio
import binascii
import hashlib
import os
from array import array

from texts import msg

from han import digest, http

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("han.session.expired|han.login.fail|authentication required"
           "|too many failed logins|%s from %s (%s, %d)|%s from %s"
           "|%s=%s; Path=/; Secure; HttpOnly; SameSite=Strict|internal error"
           "|%s %s (streaming): %s: %s|connection from %s dropped: no heap"
           "|%s by client certificate|%s %s: %s: %s|%d %s from %s")


_SESSIONS = const(16)
_REALM = const("smgw")
_COOKIE = const("smgw_sid")


class Accounts:
    """HAN users: {"name": {"role": "consumer"|"technician", "password": ...,
    "ha1": {"MD5": hex, "SHA-256": hex}, "cert": sha256-hex}}."""

    def __init__(self, realm, accounts=None, f=None):
        self.realm = realm
        self.a = dict(accounts or {})
        self.f = f  # f(user) -> entry or None, the fallback (e.g. core tenants)

    def entry(self, user):
        e = self.a.get(user)
        if e is None and self.f is not None and user:
            e = self.f(user)
        return e

    def add(self, user, role, password=None, ha1=None, cert=None):
        self.a[user] = {"role": role, "password": password, "ha1": ha1 or {}, "cert": cert}

    def secret(self, user, a):
        e = self.entry(user)
        if not e:
            return None
        h = (e.get("ha1") or {}).get(a)
        if h:
            return h
        if e.get("password") is None:
            return None
        return digest.ha1(a, user, self.realm, e["password"])


class HanServer:
    def __init__(self, handler, accounts, clock, log=None, realm="smgw", session_idle_s=600,
                 conn_idle_s=60, max_conns=4, algorithms=("SHA-256", "MD5"),
                 random=os.urandom):
        self.handler = handler  # handler(req, user, role) -> (status, headers, body)
        self.accounts = accounts
        self.clock = clock
        self.log = log or (lambda *a: None)
        self.digest = digest.DigestAuth(realm, accounts.secret, clock, algorithms,
                                        random=random)
        self.limit = digest.RateLimit(clock)
        self.random = random
        self.session_idle_s = session_idle_s
        self.conn_idle_s = conn_idle_s
        self.max_conns = max_conns
        # sessions without an object each: raw 16-byte ids slot by slot, the user of
        # each slot (None = free) and its last use; at most _SESSIONS slots
        self.sids = bytearray()
        self.susers = []
        self.stimes = array("d")
        self.sser = []  # serial number of the session in each slot (small ints)
        self.serial = 0  # of the last session
        # Digest nonce serial -> session serial (clients without cookies reuse the nonce)
        self.by_nonce = {}
        self.open = 0
        self.requests = 0
        self.errors = 0
        self.peak_open = 0
        self.quiet = 0  # no request-framing error is logged before this time (clock)
        self.waiting = False  # all connections in use and a client waits (han.layer)
        self.idle = None  # called when the last open connection has closed

    def busy(self):
        return self.open >= self.max_conns

    # -- sessions ---------------------------------------------------------------------
    def session(self, i):
        """User of session slot i (its last use now), None if free, expired or i < 0."""
        if i < 0 or self.susers[i] is None:
            return None
        now = self.clock()
        if now - self.stimes[i] > self.session_idle_s:
            self.log(1, msg(_T, 0), self.susers[i])
            self.susers[i] = None
            return None
        self.stimes[i] = now
        return self.susers[i]

    def new(self, user):
        """A new session for user: its id (32 hex digits, the cookie value)."""
        us, ts = self.susers, self.stimes
        i = len(us)  # a new slot while fewer than _SESSIONS
        if None in us:
            i = us.index(None)
        elif i >= _SESSIONS:
            i = 0
            for j in range(1, len(us)):  # all in use: replace the idlest
                if ts[j] < ts[i]:
                    i = j
        raw = self.random(16)
        self.serial += 1
        if i == len(us):
            self.sids.extend(raw)
            us.append(user)
            self.stimes.append(self.clock())
            self.sser.append(self.serial)
        else:
            self.sids[16 * i:16 * i + 16] = raw
            us[i] = user
            self.stimes[i] = self.clock()
            self.sser[i] = self.serial
        return binascii.hexlify(raw).decode()

    def logout(self, s):
        i = digest.slot(self.sids, s)
        if i >= 0:
            self.susers[i] = None

    # -- authentication ---------------------------------------------------------------
    def authenticate(self, req, ip, cert=None):
        """(user, extra_headers) or (None, (status, headers, body)) to answer instead;
        cert: the user logged in by a client certificate."""
        if cert:
            return cert, []
        sid = req.cookie(_COOKIE)
        if sid:
            user = self.session(digest.slot(self.sids, sid))
            if user:
                return user, []
        wait = self.limit.retry_after(ip)
        if wait:
            return None, http.error(429, msg(_T, 3), [("Retry-After", str(wait))])
        user, why = self.digest.check(req.method, req.target,
                                      req.headers.get("authorization"))
        if why == "ok":
            self.limit.ok(ip)
            nonce = self.digest.last
            s = self.by_nonce.get(nonce)
            if s in self.sser and self.session(self.sser.index(s)) == user:
                return user, []  # same Digest nonce, same session: no new login
            sid = self.new(user)
            if len(self.by_nonce) >= _SESSIONS:
                self.by_nonce.pop(next(iter(self.by_nonce)))
            self.by_nonce[nonce] = self.serial
            self.log(1, "han.login", msg(_T, 5) % (user, ip))
            return user, [("Set-Cookie", msg(_T, 6) % (_COOKIE, sid))]
        if why in ("unknown", "bad"):
            n = self.limit.failed(ip)
            self.log(2, msg(_T, 1), msg(_T, 4) % (user, ip, why, n))
            wait = self.limit.retry_after(ip)
            if wait:
                return None, http.error(429, msg(_T, 3), [("Retry-After", str(wait))])
        hdrs = [("WWW-Authenticate", c) for c in self.digest.challenges(why == "stale")]
        return None, http.error(401, msg(_T, 2), hdrs)

    # -- connections ------------------------------------------------------------------
    def connection(self, reader, w, ip):
        """Called at accept time (counts the connection at once), returns the task body;
        w: the writer."""
        self.open += 1
        if self.open > self.peak_open:
            self.peak_open = self.open
        return self.serve(reader, w, ip)

    async def wait_request(self, r):
        """Until the next request starts (True). False after conn_idle_s without one, or
        after a second if every connection is in use while a client waits to be accepted:
        idle keep-alive connections (browsers keep them) would otherwise hold all places
        and the new client would get no answer for up to conn_idle_s."""
        if getattr(r, "s", None) is None:
            return True
        left = int(self.conn_idle_s * 1000)
        while left > 0:
            try:
                await asyncio.wait_for_ms(http.readable(r), min(left, 1000))
                return True
            except asyncio.TimeoutError:
                left -= 1000
            if self.waiting:
                self.waiting = False  # one place made; the accept loop says if more wait
                return False
        return False

    async def serve(self, reader, w, ip):
        cert_user = None
        try:
            while True:
                if not await self.wait_request(reader):
                    break
                try:
                    req = await asyncio.wait_for_ms(http.read(reader, w),
                                                    int(self.conn_idle_s * 1000))
                except asyncio.TimeoutError:
                    break
                except http.HttpError as e:  # a request that cannot be read: answer, close
                    self.errors += 1
                    if self.clock() >= self.quiet:  # anyone can send these: at most one
                        self.quiet = self.clock() + 60  # a minute in the system log
                        self.log(2, "han.http", msg(_T, 12) % (e.status, e, ip))
                    status, hdrs, body = http.error(e.status, str(e))
                    await http.write(w, status, hdrs, body, False)
                    break
                except (OSError, EOFError, ValueError, UnicodeError, MemoryError) as e:
                    if isinstance(e, MemoryError):
                        self.errors += 1
                        self.log(3, "han.memory", msg(_T, 9) % ip)
                    break
                if req is None:
                    break
                if cert_user is None:  # the account pinned to this TLS client certificate
                    holder = getattr(reader, "e", {}).get("peercert")
                    der = holder[0] if holder else None
                    fp = der and binascii.hexlify(hashlib.sha256(der).digest()).decode()
                    cert_user = False
                    for u, e in self.accounts.a.items() if fp else ():
                        if e.get("cert") and e["cert"].lower() == fp:
                            cert_user = u
                            self.log(1, "han.login", msg(_T, 10) % u)
                            break
                self.requests += 1
                user, extra = self.authenticate(req, ip, cert_user or None)
                if user is None:
                    status, hdrs, body = extra
                else:
                    try:
                        e = self.accounts.entry(user)
                        status, hdrs, body = self.handler(
                            req, user, e.get("role", "consumer") if e else None)
                    except http.HttpError as e:
                        status, hdrs, body = http.error(e.status, str(e))
                    except Exception as e:  # noqa: BLE001 - one bad request, not the server
                        self.errors += 1
                        self.log(3, "han.error", msg(_T, 11) % (
                            req.method, req.path, type(e).__name__, e))
                        status, hdrs, body = http.error(500, msg(_T, 7))
                    hdrs = list(hdrs) + extra
                try:
                    # no chunked coding to an HTTP/1.0 client: a streamed body then ends
                    # with the connection (RFC 9112 7.1)
                    ka = await http.write(w, status, hdrs, body, req.keep_alive,
                                          req.method == "HEAD", req.version != "HTTP/1.0")
                except (OSError, EOFError):
                    break
                except Exception as e:  # noqa: BLE001 - a streamed body failed midway
                    self.errors += 1
                    self.log(3, "han.error", msg(_T, 8) % (
                        req.method, req.path, type(e).__name__, e))
                    break  # headers are out: closing is the only honest end
                if not ka:
                    break
                # idle until the next request: hold nothing of this one (an answer can
                # be KBs, a session may idle for conn_idle_s)
                req = user = extra = status = hdrs = body = None
        except (OSError, EOFError):
            pass
        finally:
            self.open -= 1
            try:
                await w.wait_closed()
            except OSError:
                pass
            idle = not self.open and self.idle
            # a finished coroutine can outlive its task for a while (a stale word in the
            # event loop's frame, texts.unload): it keeps nothing of this connection
            self = reader = w = req = user = extra = status = hdrs = body = None
            if idle:
                idle()

    def status(self):
        return {"open": self.open, "peak_open": self.peak_open, "requests": self.requests,
                "errors": self.errors, "sessions": len(self.susers) - self.susers.count(None)}


# -- the layer's server (han.layer.server: built on a connection, released after) -------
# what outlives the request stack (han.layer.release), per object: server | Digest
# nonces | failed logins | API; the first four are read by han.layer.status
_KEEP = const("requests errors peak_open susers sids stimes sser serial by_nonce quiet"
              "|nonces meta serial last opaque|t|last_selftest")


def state(st, k=None):
    """The stack's state as one list of plain data (no object of these modules); with k
    (such a list): put it back into the stack."""
    s = st.server
    i = 0
    out = []
    for o, names in zip((s, s.digest, s.limit, st.api), _KEEP.split("|")):
        for n in names.split():
            if k:
                setattr(o, n, k[i])
                i += 1
            else:
                out.append(getattr(o, n))
    return out


def for_layer(st):
    """Accounts, server, API and portal for the layer state st (han.layer), with the
    state of the previous stack (st.state) if it was released."""
    from han.api import Api
    from han.layer import release
    from han.portal import Portal

    cfg, ctx = st.cfg, st.ctx
    accounts = Accounts(_REALM, f=_tenant_account(ctx))
    for name, u in (cfg.get("users") or {}).items():
        accounts.add(name, u.get("role", "consumer"), u.get("password"), u.get("ha1"),
                     u.get("cert"))
    st.api = Api(ctx, st.info, st.clock)
    st.portal = Portal(st.api)
    srv = HanServer(st.portal.handle, accounts, st.clock, ctx.log, _REALM,
                    cfg.get("session_idle_s", 600), cfg.get("conn_idle_s", 60),
                    cfg.get("max_conns", 4),
                    tuple(cfg.get("algorithms") or ("SHA-256", "MD5")))
    st.portal.server = st.server = srv
    st.api.selftest_hook = lambda: self_test(ctx, st)
    if st.state:
        state(st, st.state)
        st.state = None
    srv.idle = lambda: release(st)


def _tenant_account(ctx):
    def f(user):
        core = getattr(ctx, "core", None)
        if core is None:
            return None
        try:
            t = core.tenants.get(user)
        except Exception:  # noqa: BLE001 - a core without tenants = no consumer accounts
            return None
        if t is None or getattr(t, "archived", False):
            return None
        pw = getattr(t, "password", None)
        ha1 = getattr(t, "ha1", None)
        if pw is None and not ha1:
            return None
        return {"role": "consumer", "password": pw, "ha1": ha1 or {}}
    return f



def self_test(ctx, st):
    r = {"firewall": st.fw.self_test()}
    r["han-certificate"] = {"ok": bool(st.fingerprint), "sha256": st.fingerprint}
    r["han-server"] = {"ok": st.sock is not None, "open": st.server.open}
    core = getattr(ctx, "core", None)
    r["core"] = {"ok": core is not None,
                 "time": core.time_status() if core is not None else None}
    return r
