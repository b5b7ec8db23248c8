"""HTTP/1.1 message framing for the HAN portal (RFC 9112), over asyncio streams.

Requests: request line of at most _MAX_LINE bytes (else 414), at most _MAX_HEADERS
header lines of at most _MAX_LINE bytes and _MAX_HEAD bytes together (else 431), read
with a bound (asyncio's readline would gather a line of any length into the heap); a
body only with Content-Length (digits only, at most _MAX_BODY; chunked request bodies
are refused with 411, as embedded SMGW stacks do; "Expect: 100-continue" is answered
with 100 before the body is read). Bytes that are not UTF-8 (request line, headers,
percent-escapes) are a 400. An absolute-form target (RFC 9112 3.2.2) is routed by its
path. Responses carry Content-Length, or are sent chunked when the body is a generator
of byte strings (exports); to an HTTP/1.0 client such a body is sent as it is and the
connection closed (RFC 9112 7.1: no chunked coding to 1.0). Keep-alive is the HTTP/1.1
default; "Connection: close" or HTTP/1.0 without keep-alive ends the connection.
"""
from asyncio import core

from texts import msg

# error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("chunked request bodies not accepted|truncated header|request line"
           "|not UTF-8|request target too long|headers too large|content-length")

_MAX_LINE = const(2048)
_MAX_HEADERS = const(40)
_MAX_HEAD = const(8192)
_MAX_BODY = const(16384)
_SEND = const(1400)

# reason phrases, one string (a dict of 16 strings costs ~1 KB of heap on x64)
_REASONS = const("|200 OK|204 No Content|302 Found|303 See Other|307 Temporary Redirect"
            "|400 Bad Request|401 Unauthorized|403 Forbidden|404 Not Found"
            "|405 Method Not Allowed|411 Length Required|413 Content Too Large"
            "|429 Too Many Requests|431 Request Header Fields Too Large"
            "|500 Internal Server Error|503 Service Unavailable|")
# status lines of answers the handlers never give (only read() and head() use them)
_MORE = const("|414 URI Too Long|")
_JSON = const(("Content-Type", "application/json"))


def phrase(status, default="", r=_REASONS):
    i = r.find("|%d " % status)
    if i < 0:
        return default
    return r[i + 5:r.index("|", i + 1)]


def error(status, text, o=()):
    """A typed error answer: JSON {"error", "status"}; o: other headers."""
    import json

    return status, list(o) + [_JSON], json.dumps({"error": text, "status": status})


class HttpError(Exception):
    """A request that cannot be served; .status is the HTTP status to answer."""

    def __init__(self, status, reason=""):
        super().__init__(reason or phrase(status))
        self.status = status


def unquote(s):
    if "%" not in s and "+" not in s:
        return s
    s = s.replace("+", " ")
    out = bytearray()
    i = 0
    b = s.encode()
    n = len(b)
    while i < n:
        c = b[i]
        if c == 37 and i + 2 < n:  # "%" XX
            try:
                out.append(int(b[i + 1:i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(c)
        i += 1
    return out.decode()


def parse_query(s):
    d = {}
    for part in s.split("&"):
        if part:
            k, _, v = part.partition("=")
            d[unquote(k)] = unquote(v)
    return d


class Request:
    def __init__(self, method, target, version, headers, body):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        i = target.find("://")
        if i > 0 and target[0] != "/":  # absolute-form: route by its path and query
            t = target[i + 3:]
            j = len(t)
            for c in "/?":
                k = t.find(c)
                if 0 <= k < j:
                    j = k
            target = t[j:] if t[j:j + 1] == "/" else "/" + t[j:]
        path, _, q = target.partition("?")
        self.path = unquote(path)
        self.query = parse_query(q)
        conn = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            self.keep_alive = "keep-alive" in conn
        else:
            self.keep_alive = "close" not in conn

    def cookie(self, name):
        for part in self.headers.get("cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                return v
        return None


async def _line(r, n):
    """The next line, at most n bytes; a longer one comes back as n + 1 bytes without its
    end (the caller refuses it), so a client cannot fill the heap with one line."""
    s = getattr(r, "s", None)
    if s is None:  # a stream without a socket (tests)
        return await r.readline()
    ln = b""
    while True:
        yield core._io_queue.queue_read(s)
        b = s.readline(n + 1 - len(ln))
        if b is None:  # nothing yet (TLS record incomplete)
            continue
        ln += b
        if not b or ln[-1] == 10 or len(ln) > n:
            return ln


async def readable(r):
    """Until the stream r has input (or its end); nothing is read, so a wait_for may cancel
    it without losing a byte."""
    yield core._io_queue.queue_read(r.s)


def _text(b):
    try:
        return b.decode()
    except ValueError:  # UnicodeError
        raise HttpError(400, msg(_T, 3))


async def read(reader, w=None):
    """Next request on the connection, None at a clean end of stream; w: the writer, for
    the interim 100 (Continue) answer."""
    line = await _line(reader, _MAX_LINE)
    while line in (b"\r\n", b"\n"):  # tolerate blank lines between requests
        line = await _line(reader, _MAX_LINE)
    if not line:
        return None
    if len(line) > _MAX_LINE:
        raise HttpError(414, msg(_T, 4))
    if not line.endswith(b"\n"):
        raise HttpError(400, msg(_T, 2))
    parts = _text(line).split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, msg(_T, 2))
    method, target, version = parts
    headers = {}
    n = 0
    size = 0
    while True:
        h = await _line(reader, _MAX_LINE)
        if not h or len(h) <= _MAX_LINE and not h.endswith(b"\n"):
            raise HttpError(400, msg(_T, 1))
        if h in (b"\r\n", b"\n"):
            break
        n += 1
        size += len(h)
        if n > _MAX_HEADERS or len(h) > _MAX_LINE or size > _MAX_HEAD:
            raise HttpError(431, msg(_T, 5))
        k, sep, v = _text(h).partition(":")
        if not sep:
            raise HttpError(400, "header")
        k = k.strip().lower()
        v = v.strip()
        if k in headers:  # repeated: one list (RFC 9110 5.3); cookies join with ";"
            v = headers[k] + ("; " if k == "cookie" else ", ") + v
        headers[k] = v
    body = b""
    if "transfer-encoding" in headers:
        raise HttpError(411, msg(_T, 0))
    cl = headers.get("content-length")
    if cl:
        if not cl.isdigit():  # 1*DIGIT (RFC 9110 8.6): no sign, "_", list or hex
            raise HttpError(400, msg(_T, 6))
        cl = int(cl)
        go = w is not None and "100-continue" in headers.get("expect", "").lower()
        if cl > _MAX_BODY:
            if cl <= 4 * _MAX_BODY and not go:  # read it away so the 413 reaches the client
                while cl > 0:
                    cl -= len(await reader.readexactly(min(cl, 1024)))
            raise HttpError(413)
        if cl:
            if go and version != "HTTP/1.0":  # the client waits for this before the body
                w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await w.drain()
            body = await reader.readexactly(cl)
    try:
        return Request(method, target, version, headers, body)
    except ValueError:  # a percent-escape that is not UTF-8
        raise HttpError(400, msg(_T, 3))


def head(status, headers, length, keep_alive):
    """Status line and headers; length None = chunked, < 0 = neither (the end of the
    connection ends the body)."""
    out = ["HTTP/1.1 %d %s\r\n" % (status, phrase(status) or phrase(status, "Status", _MORE))]
    for k, v in headers:
        out.append("%s: %s\r\n" % (k, v))
    if length is None:
        out.append("Transfer-Encoding: chunked\r\n")
    elif length >= 0:
        out.append("Content-Length: %d\r\n" % length)
    if not keep_alive:
        out.append("Connection: close\r\n")
    out.append("\r\n")
    return "".join(out).encode()


async def write(w, status, headers, body, keep_alive=True, head_only=False, chunked=True):
    """Send a response; body is bytes/str or a generator of text/bytes (sent chunked;
    chunked=False, for an HTTP/1.0 client: as it is, then the connection must close).
    Returns whether the connection may serve another request.

    Small pieces are gathered into writes of about _SEND bytes: every write is a TLS
    record and a TCP segment, and many small ones meet Nagle + delayed ACK (40 ms)."""
    if isinstance(body, str):
        body = body.encode()
    if body is None or isinstance(body, (bytes, bytearray)):
        body = body or b""
        h = head(status, headers, len(body), keep_alive)
        if not body or head_only:
            w.write(h)
        elif len(body) > _SEND:  # a page: no copy of it just to prepend the head
            w.write(h)
            w.write(body)
        else:
            w.write(h + body)
        await w.drain()
        return keep_alive
    keep_alive = keep_alive and chunked
    buf = bytearray(head(status, headers, None if chunked else -1, keep_alive))
    if head_only:  # HEAD: the headers of the chunked answer, no body at all
        w.write(buf)
        await w.drain()
        return keep_alive
    for chunk in body:
        if chunk:
            n = len(buf)
            buf += chunk  # str or bytes: no encoded copy of a str chunk
            if chunked:
                buf[n:n] = b"%x\r\n" % (len(buf) - n)  # its size in bytes goes before it
                buf += b"\r\n"
        if len(buf) >= _SEND:
            w.write(buf)  # written or copied by the stream: buf can be reused
            await w.drain()
            buf[:] = b""  # empty, keeps its capacity: one buffer for the whole body
    if chunked:
        buf += b"0\r\n\r\n"
    w.write(buf)
    await w.drain()
    return keep_alive
