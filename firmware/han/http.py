"""HTTP/1.1 message framing for the HAN portal (RFC 9112), over asyncio streams.

Requests: request line, at most _MAX_HEADERS header lines of at most _MAX_LINE bytes,
a body only with Content-Length (at most _MAX_BODY; chunked request bodies are refused
with 411, as embedded SMGW stacks do). Responses carry Content-Length, or are sent
chunked when the body is a generator of byte strings (exports). Keep-alive is the
HTTP/1.1 default; "Connection: close" or HTTP/1.0 without keep-alive ends the connection.
"""
from texts import msg

# error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("chunked request bodies not accepted|truncated header|request line")

_MAX_LINE = const(2048)
_MAX_HEADERS = const(40)
_MAX_BODY = const(16384)
_SEND = const(1400)

# reason phrases, one string (a dict of 16 strings costs ~1 KB of heap on x64)
_REASONS = const("|200 OK|204 No Content|302 Found|303 See Other|307 Temporary Redirect"
            "|400 Bad Request|401 Unauthorized|403 Forbidden|404 Not Found"
            "|405 Method Not Allowed|411 Length Required|413 Content Too Large"
            "|429 Too Many Requests|431 Request Header Fields Too Large"
            "|500 Internal Server Error|503 Service Unavailable|")


def phrase(status, default=""):
    r = _REASONS
    i = r.find("|%d " % status)
    if i < 0:
        return default
    return r[i + 5:r.index("|", i + 1)]


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


async def read(reader):
    """Next request on the connection, None at a clean end of stream."""
    line = await reader.readline()
    while line in (b"\r\n", b"\n"):  # tolerate blank lines between requests
        line = await reader.readline()
    if not line:
        return None
    if len(line) > _MAX_LINE or not line.endswith(b"\n"):
        raise HttpError(400, msg(_T, 2))
    parts = line.decode().split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, msg(_T, 2))
    method, target, version = parts
    headers = {}
    n = 0
    while True:
        h = await reader.readline()
        if not h:
            raise HttpError(400, msg(_T, 1))
        if h in (b"\r\n", b"\n"):
            break
        n += 1
        if n > _MAX_HEADERS or len(h) > _MAX_LINE:
            raise HttpError(431)
        k, sep, v = h.decode().partition(":")
        if not sep:
            raise HttpError(400, "header")
        k = k.strip().lower()
        v = v.strip()
        headers[k] = headers[k] + ", " + v if k in headers else v
    body = b""
    if "transfer-encoding" in headers:
        raise HttpError(411, msg(_T, 0))
    cl = headers.get("content-length")
    if cl:
        try:
            cl = int(cl)
        except ValueError:
            raise HttpError(400, "content-length")
        if cl < 0:
            raise HttpError(400, "content-length")
        if cl > _MAX_BODY:
            if cl <= 4 * _MAX_BODY:  # read it away so the 413 reaches the client
                while cl > 0:
                    cl -= len(await reader.readexactly(min(cl, 1024)))
            raise HttpError(413)
        if cl:
            body = await reader.readexactly(cl)
    return Request(method, target, version, headers, body)


def head(status, headers, length, keep_alive):
    """Status line and headers; length None = chunked."""
    out = ["HTTP/1.1 %d %s\r\n" % (status, phrase(status, "Status"))]
    for k, v in headers:
        out.append("%s: %s\r\n" % (k, v))
    if length is None:
        out.append("Transfer-Encoding: chunked\r\n")
    else:
        out.append("Content-Length: %d\r\n" % length)
    if not keep_alive:
        out.append("Connection: close\r\n")
    out.append("\r\n")
    return "".join(out).encode()


async def write(w, status, headers, body, keep_alive=True, head_only=False):
    """Send a response; body is bytes/str or a generator of text/bytes (sent chunked).

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
        return
    buf = bytearray(head(status, headers, None, keep_alive))
    if head_only:  # HEAD: the headers of the chunked answer, no body at all
        w.write(buf)
        await w.drain()
        return
    for chunk in body:
        if chunk:
            n = len(buf)
            buf += chunk  # str or bytes: no encoded copy of a str chunk
            buf[n:n] = b"%x\r\n" % (len(buf) - n)  # its size in bytes goes before it
            buf += b"\r\n"
        if len(buf) >= _SEND:
            w.write(buf)  # written or copied by the stream: buf can be reused
            await w.drain()
            buf[:] = b""  # empty, keeps its capacity: one buffer for the whole body
    buf += b"0\r\n\r\n"
    w.write(buf)
    await w.drain()
