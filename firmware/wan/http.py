"""Minimal HTTP/1.1 client over an asyncio stream pair (RFC 9112): Content-Length bodies
only, bounded sizes; one request per connection (Connection: close) unless keep_alive
(firmware download: many Range requests over one TLS session)."""
import asyncio

from wan.tlsconn import WanError

_MAX_HEADER = const(4096)
_PART = const(1024)


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
