"""A WAN session: the pinned TLS context and connection (wan.tlsconn's profile), and a
minimal HTTP/1.1 client over its asyncio stream pair (RFC 9112): Content-Length bodies
only, bounded sizes; one request per connection (Connection: close) unless keep_alive
(a GWA poll, the firmware download). Loaded per session and dropped after it (RAM)."""
import asyncio
import os

from store.records import exists
from texts import unload

from wan.tlsconn import Session, WanError, read_file

# one string (split when a context is made): four str objects and a tuple less at import
_SUITES = const("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256 TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256 "
                "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384 TLS-ECDHE-ECDSA-WITH-AES-256-CBC-SHA384")

_MAX_HEADER = const(4096)
_PART = const(512)
_CONTEXTS = const(2)  # issuing CAs whose context stays loaded


def _issuer(ident, name):
    """The name of the trusted CA file (<pki>/ca/*.der, in name order) that issued peer
    `name`'s pinned certificate, or None. Parsed and verified (crypto.cms, pure-Python
    ECDSA) only on a peer's first session after boot or a configuration apply
    (Identity.issuers remembers it): the certificates do not change in between."""
    from crypto.cms import Cert

    try:
        cert = ident.peer_cert(name)
        try:
            names = sorted(os.listdir(ident.pki + "/ca"))
        except OSError:
            names = ()
        for n in names:
            if n.endswith(".der"):
                ca = Cert(read_file(ident.pki + "/ca/" + n))
                if ca.subject == cert.issuer and cert.signed_by(ca):
                    return n
        return None
    finally:
        unload("crypto.cms")


def _ca_der(ident, name):
    """DER of the CA that issued peer `name`'s pinned certificate (raises WanError)."""
    memo = ident.issuers
    n = memo.get(name)
    if n is not None:
        try:
            return read_file(ident.pki + "/ca/" + n)
        except OSError:
            del memo[name]  # CA file gone: look again
    n = _issuer(ident, name)
    if n is None:
        raise WanError("pinned certificate not issued by a trusted CA", name)
    memo[name] = n
    return read_file(ident.pki + "/ca/" + n)


def context(ident, name):
    """SSLContext pinned to the CA of peer `name` (Identity.context): it trusts only the
    CA that issued the pinned certificate, and the session checks the peer's name.

    One context per issuing CA stays loaded (Identity.contexts; peers of one sub-CA share
    it) as long as the gateway certificate is the same: making one allocates ~3 KB in one
    piece (mbedTLS state), and late in a day no such run may be left in a fragmented heap
    (docs/memory.md). Cleared when a configuration is applied."""
    import tls

    memo = ident.contexts
    own = ident.cert_der()
    n = ident.issuers.get(name)
    hit = memo.get(n) if n is not None else None
    if hit is not None and hit[0] == own and exists(ident.pki + "/ca/" + n):
        return hit[1]  # (its CA file still there: no need to read it)
    ca = _ca_der(ident, name)
    n = ident.issuers[name]
    key = getattr(ident.secmod, "private_key_der", None)
    if key is None:
        raise WanError("security module cannot provide a TLS key to this build", name)
    if len(memo) >= _CONTEXTS:
        memo.clear()
    c = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    c.load_cert_chain(own, key())
    c.load_verify_locations(ca)
    c.verify_mode = tls.CERT_REQUIRED
    try:
        c.set_ciphers(_SUITES.split())
    except (AttributeError, ValueError, OSError):
        pass
    memo[n] = (own, c)
    return c


async def open_session(ctx, ident, name, host, port, timeout_s=30, purpose=None):
    """A TLS session (tlsconn.Session) to peer `name` at host:port (tlsconn.open_session).
    purpose ("gwa", "emt", "mqtt"): the connection must be one the firewall's WAN rules
    allow (the configured endpoints, Wan._rules), else WanError."""
    if purpose is not None:
        from net import firewall

        try:
            firewall.of(ctx).enforce("wan", "out", purpose, host, port)
        except OSError as e:  # FirewallError: counted and logged by the firewall
            raise WanError(str(e), name)
    link = getattr(ctx, "link", None)
    if link is not None and link.state != "up":  # contract: connect only over a link up
        raise WanError("WAN link not up", name)
    net = getattr(getattr(ctx, "hal", None), "net", None)
    if net is not None and hasattr(net, "getaddrinfo"):
        # resolve through the hal (docs/contracts.md: the link counts look-ups)
        try:
            net.getaddrinfo(host, port)
        except OSError as e:
            raise WanError("resolve %s: %s" % (host, e), name)
    sslctx = context(ident, name)
    try:
        r, w = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=sslctx, server_hostname=name), timeout_s)
    except asyncio.TimeoutError:
        raise WanError("connect timeout", name)
    except (OSError, ValueError) as e:
        raise WanError("connect: %s" % e, name)
    ok = getattr(link, "session_ok", None)
    if ok:
        ok()
    ctx.led("TLS", 1)
    return Session(name, r, w, ctx.now())


async def request(session, method, path, body=b"", headers=None, timeout_s=30,
                  max_body=65536, keep_alive=False):
    """body: bytes-like, a list of them (sent one after the other), or (binary file,
    length) to stream it from the file."""
    r, w = session.reader, session.writer
    f = None
    if isinstance(body, tuple):
        f, n = body
    elif isinstance(body, list):
        n = 0
        for p in body:
            n += len(p)
    else:
        n = len(body)
    h = ["%s %s HTTP/1.1" % (method, path), "Host: " + session.name,
         "Content-Length: %d" % n,
         "Connection: " + ("keep-alive" if keep_alive else "close")]
    for k, v in (headers or {}).items():
        h.append("%s: %s" % (k, v))
    try:
        w.write(("\r\n".join(h) + "\r\n\r\n").encode())
        h = None
        # the body in parts of at most _PART bytes, each drained: the stream never holds
        # a copy of a payload (asyncio's writer copies what the socket does not take)
        if f is not None:
            mv = memoryview(bytearray(min(n, _PART)))
            i = 0
            while i < n:
                k = f.readinto(mv[:min(_PART, n - i)])
                if not k:
                    raise WanError("body file truncated", session.name)
                w.write(mv[:k])  # copied by the writer if not sent: buffer reusable
                await asyncio.wait_for(w.drain(), timeout_s)
                i += k
        else:
            for p in body if isinstance(body, list) else (body,):
                mv = memoryview(p)
                for i in range(0, len(mv), _PART):
                    w.write(mv[i:i + _PART])
                    await asyncio.wait_for(w.drain(), timeout_s)
        await asyncio.wait_for(w.drain(), timeout_s)
        return await asyncio.wait_for(_response(r, max_body), timeout_s)
    except asyncio.TimeoutError:
        raise WanError("HTTP timeout", session.name)
    except OSError as e:
        raise WanError("HTTP I/O: %s" % e, session.name)


async def _response(r, max_body):
    line = await r.readline()
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise WanError("bad status line %r" % line[:40])
    try:
        status = int(parts[1])
    except ValueError:
        raise WanError("bad status code")
    headers = {}
    total = 0
    while True:
        line = await r.readline()
        total += len(line)
        if total > _MAX_HEADER:
            raise WanError("header too long")
        if not line:
            raise WanError("connection closed in headers")
        if line in (b"\r\n", b"\n"):
            break
        try:
            k, _, v = line.decode().partition(":")
        except UnicodeError:
            raise WanError("header encoding")
        headers[k.strip().lower()] = v.strip()
    try:
        n = int(headers.get("content-length", "0"))
    except ValueError:
        raise WanError("bad Content-Length")
    if n < 0 or n > max_body:
        raise WanError("body too long")
    if not n:
        return status, headers, b""
    body = bytearray(n)  # one allocation for the whole body, filled in place
    mv = memoryview(body)
    got = 0
    while got < n:
        k = await r.readinto(mv[got:])
        if not k:
            raise WanError("connection closed in body")
        got += k
    return status, headers, body
