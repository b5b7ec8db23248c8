"""HAN HTTPS server against valid but unusual HTTP/1.1 clients and bad input, over real TLS
on loopback (han service on the fake core in MicroPython, hanfixture): oversized request
lines and headers on a small heap, bytes that are not UTF-8, Content-Length forms,
Expect: 100-continue, absolute-form targets, HTTP/1.0 and streamed answers, repeated
headers, Digest nonce counts, typed error bodies and API parameters of the wrong type.
Every bad request gets a clear 4xx with a JSON {"error", "status"} body and the server
keeps serving."""
import hashlib
import json
import re
import socket
import ssl

import pytest
import requests
from hanfixture import NOW, FakeGateway

UP = "/smgw/m2m/consumer1.sm/json"


def tls(gw, timeout=10):
    c = ssl.create_default_context(cafile=gw.ca)
    c.check_hostname = False
    return c.wrap_socket(socket.create_connection(("127.0.0.1", gw.port), timeout=timeout))


def head_of(s, buf=b""):
    """(status, {lower-case name: [values]}, rest of the buffer) of the next response."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, buf
        buf += d
    h, _, rest = buf.partition(b"\r\n\r\n")
    lines = h.decode().split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    return int(lines[0].split()[1]), hdrs, rest


def response(s, buf=b""):
    """(status, headers, body) of a Content-Length response."""
    st, hdrs, rest = head_of(s, buf)
    n = int(hdrs["content-length"][0])
    while len(rest) < n:
        d = s.recv(65536)
        assert d
        rest += d
    return st, hdrs, rest[:n]


def until_close(s):
    out = b""
    while True:
        try:
            d = s.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            break
        if not d:
            break
        out += d
    return out


def closed(s):
    """Has the server closed the idle connection s?"""
    s.settimeout(0.5)
    try:
        return s.recv(100) == b""
    except TimeoutError:
        return False
    finally:
        s.settimeout(10)


def ask(gw, data):
    """Send raw request bytes on a new connection: (status, headers, body)."""
    s = tls(gw)
    try:
        s.sendall(data)
        return response(s)
    finally:
        s.close()


def typed(st, hdrs, body, status):
    assert st == status, (st, body)
    assert hdrs["content-type"] == ["application/json"], hdrs
    e = json.loads(body)
    assert e["status"] == status and e["error"], e
    return e["error"]


def session(gw, key="consumer1"):
    s = requests.Session()
    s.trust_env = False
    s.verify = gw.ca
    s.auth = requests.auth.HTTPDigestAuth(*gw.user(key))
    return s


def cookie(gw):
    """A logged-in session cookie (Digest through requests)."""
    s = session(gw)
    assert s.get(gw.url + "/smgw/m2m", allow_redirects=False).status_code == 307
    return "smgw_sid=" + s.cookies["smgw_sid"]


def stats(gw):
    r = session(gw).get(gw.url + "/test/stats")
    assert r.status_code == 200
    return r.json()


def test_oversized_request_line_and_headers_on_a_small_heap(tmp_path):
    """asyncio's readline gathered a line of any length: a 30 KB URL exhausted a 256 KiB
    heap (connection dropped without an answer, 'han.memory'). Now at most 2 KiB per line
    and 8 KiB of headers are read: 414 / 431 with a JSON body, logged (throttled), server
    serving."""
    g = FakeGateway(tmp_path, {"link": ["up", -91], "now": NOW}, heap="256K")
    try:
        for n in (30000, 100000):
            err = typed(*ask(g, b"GET /" + b"a" * n + b" HTTP/1.1\r\nHost: x\r\n\r\n"), 414)
            assert "too long" in err
        many = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 1900) for i in range(39))
        typed(*ask(g, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"), 431)
        typed(*ask(g, b"GET / HTTP/1.1\r\nX-A: " + b"b" * 60000 + b"\r\n\r\n"), 431)
        st = stats(g)
        events = [e[1:] for e in st["logs"]]
        assert ["han.http", "414 request target too long from 127.0.0.1"] in events
        assert not any(e[0] == "han.memory" for e in events), events
        # anyone can send bad requests: at most one a minute reaches the system log
        assert sum(e[0] == "han.http" for e in events) == 1, events
        assert st["server"]["errors"] == 4
    finally:
        g.stop()


@pytest.mark.parametrize("data", [
    b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Name: M\xfcller\r\n\r\n",
    b"GET /smgw/export?from=%FF HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /%C3%28 HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["request-line", "header", "query-escape", "path-escape"])
def test_bytes_that_are_not_utf8_get_400(gw, data):
    """Were a UnicodeError: the connection closed without any answer."""
    assert typed(*ask(gw, data), 400) == "not UTF-8"
    assert requests.get(gw.url + "/", verify=gw.ca).status_code == 401  # still serving


@pytest.mark.parametrize("cl", [b"+2", b"1_0"])
def test_content_length_is_digits_only(gw, cl):
    """RFC 9110 8.6: 1*DIGIT. int() took "+2" and "1_0" (a request smuggling shape)."""
    data = b"POST /smgw/m2m HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\n{}" % cl
    assert typed(*ask(gw, data), 400) == "content-length"


def test_expect_100_continue_is_answered_before_the_body(gw):
    """Clients that send "Expect: 100-continue" wait for the interim answer (curl 1 s, some
    forever) before the body; none came."""
    body = json.dumps({"method": "smgw-info"}).encode()
    s = tls(gw, timeout=3)
    try:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nContent-Type: application/json"
                  b"\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                  % (UP.encode(), cookie(gw).encode(), len(body)))
        st, _h, rest = head_of(s)  # times out (3 s) without the 100
        assert st == 100
        s.sendall(body)
        st, _h, b = response(s, rest)
        assert st == 200 and json.loads(b)["smgw-info"]["smgw-id"]
    finally:
        s.close()


def test_absolute_form_target_is_routed_by_its_path(gw):
    """RFC 9112 3.2.2: a server MUST accept the absolute form; it was a 404."""
    c = cookie(gw).encode()
    for target in (b"https://127.0.0.1:%d/smgw/m2m" % gw.port, b"https://gw.local/smgw/m2m?x=1"):
        st, h, _b = ask(gw, b"GET %s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n" % (target, c))
        assert st == 307 and h["location"] == [UP], (target, st)


def test_http10_client_gets_streamed_answers_without_chunked_coding(gw):
    """RFC 9112 7.1: no Transfer-Encoding to an HTTP/1.0 client. Exports and readings were
    sent chunked to it (the chunk sizes ended up in its data); now the body is sent as it is
    and the connection closes."""
    c = cookie(gw).encode()
    s = tls(gw)
    try:
        s.sendall(b"GET /smgw/export?from=2023-11-14T22:00:00Z&to=2023-11-14T23:00:00Z"
                  b"&format=csv HTTP/1.0\r\nCookie: %s\r\nConnection: keep-alive\r\n\r\n" % c)
        out = until_close(s)
    finally:
        s.close()
    h, _, body = out.partition(b"\r\n\r\n")
    assert b" 200 " in h.split(b"\r\n")[0] and b"transfer-encoding" not in h.lower(), h
    assert b"connection: close" in h.lower()
    lines = body.decode().split("\r\n")
    assert lines[0].startswith("meter,obis,") and len(lines) == 7 and lines[-1] == "", lines
    # the same request over HTTP/1.1 is still chunked and keeps the connection
    r = session(gw).get(gw.url + "/smgw/export?from=2023-11-14T22:00:00Z"
                        "&to=2023-11-14T23:00:00Z&format=csv")
    assert r.headers["Transfer-Encoding"] == "chunked" and r.text == body.decode()


def test_error_answers_are_typed_json_and_405_names_allow(gw):
    """docs/han.md: errors are JSON {"error", "status"}. 401, 405, 411 and 429 were plain
    text without a Content-Type, and a 405 had no Allow (RFC 9110 15.5.6: MUST)."""
    r = requests.post(gw.url + UP, verify=gw.ca, json={"method": "smgw-info"})
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/json"
    assert r.json() == {"error": "authentication required", "status": 401}
    assert len(r.raw.headers.getlist("WWW-Authenticate")) == 2
    s = session(gw)
    for method, path, allow in (("DELETE", "/ui", "GET, HEAD"), ("PUT", UP, "POST"),
                                ("PATCH", "/smgw/m2m", "GET, HEAD, POST")):
        r = s.request(method, gw.url + path, allow_redirects=False)
        assert r.status_code == 405 and r.headers["Allow"] == allow, (method, path)
        assert r.json() == {"error": "Method Not Allowed", "status": 405}
    r = s.head(gw.url + "/smgw/m2m", allow_redirects=False)  # HEAD where GET is allowed
    assert r.status_code == 307 and r.headers["Location"] == UP
    typed(*ask(gw, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 411)


def test_repeated_cookie_headers_are_one_cookie_list(gw):
    """Two Cookie lines were joined with ", ", so a session id in the second was lost."""
    c = cookie(gw).encode()
    st, _h, b = ask(gw, b"GET /smgw/m2m HTTP/1.1\r\nCookie: theme=dark\r\nCookie: %s\r\n\r\n" % c)
    assert st == 307, b


def digest(gw, key, ch, nc, uri="/ui"):
    """An RFC 7616 MD5 Authorization value for challenge ch with nonce count nc (text)."""
    user, pw = gw.user(key)

    def h(x):
        return hashlib.md5(x.encode()).hexdigest()

    resp = h(f"{h(f'{user}:smgw:{pw}')}:{ch['nonce']}:{nc}:0a4f113b:auth:{h('GET:' + uri)}")
    return (f'Digest username="{user}", realm="smgw", nonce="{ch["nonce"]}", uri="{uri}", '
            f'algorithm=MD5, qop=auth, nc={nc}, cnonce="0a4f113b", response="{resp}", '
            f'opaque="{ch["opaque"]}"')


def test_digest_nonce_count_is_8_hex_digits(gw):
    """A 40-digit nc was taken as the nonce's count: the client's own nonce was dead after
    it (every later nc "replayed"). RFC 7616 3.4: nc is 8LHEX."""
    s = tls(gw)
    try:
        s.sendall(b"GET /ui HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, _b = response(s)
        ch = dict(re.findall(r'(\w+)="([^"]*)"', h["www-authenticate"][1]))
        assert st == 401 and "MD5" in h["www-authenticate"][1]
        for nc, want in (("f" * 40, 401), ("00000001", 200), ("00000001", 401),
                         ("1", 401), ("00000002", 200)):
            s.sendall(b"GET /ui HTTP/1.1\r\nAuthorization: %s\r\n\r\n"
                      % digest(gw, "consumer2", ch, nc).encode())
            st, _h, _b = response(s)
            assert st == want, (nc, st)
    finally:
        s.close()


@pytest.mark.parametrize("body", [
    {"method": "readings", "channels": [[1]]},
    {"method": "readings", "channels": [{"channel": {"x": 1}}]},
    {"method": "readings", "channels": [{}]},
    {"method": "readings", "database": {}},
    {"method": "usage-point-info", "database": "foo"},
    {"method": "log", "fromtime": "2023-02-31T00:00:00Z"},
    {"method": "readings", "fromtime": "2023-11-14T23:00:00+99:99",
     "totime": "2023-11-15T00:00:00Z"},
], ids=["channel-list", "channel-dict", "channel-empty", "database-empty",
        "upi-database", "feb-31", "offset"])
def test_api_parameters_of_wrong_type_or_range_are_400(gw, body):
    """Were a 500 (unhashable channel), a 200 that echoed the unknown database or read
    {} as "origin", and a 200 for 31 February or a +99:99 offset."""
    r = session(gw).post(gw.url + UP, json=body)
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"] == "application/json" and r.json()["status"] == 400


def test_export_offset_with_an_unescaped_plus(gw):
    """curl and browsers send "+01:00" in a query string as it is; form decoding made it a
    space and the documented offset form a 400."""
    s = session(gw)
    q = "/smgw/export?format=csv&to=2023-11-15T00:00:00Z&from=2023-11-14T23:00:00"
    r1 = s.get(gw.url + q + "+01:00")
    r2 = s.get(gw.url + q + "%2B01:00")
    assert r1.status_code == r2.status_code == 200, r1.text
    assert r1.text == r2.text and r1.text.count("\r\n") == 10  # header + 22:00..00:00 UTC


def test_idle_keep_alive_connections_make_room_for_a_waiting_client(tmp_path):
    """max_conns keep-alive connections idling between requests (a browser keeps them, an
    API client's session too) held every place: a new client got no answer until one of
    them reached conn_idle_s (60 s). Now an idle one gives its place up after a second."""
    import time

    g = FakeGateway(tmp_path, {"han": {"max_conns": 2}})
    idle = []
    try:
        for _ in range(2):
            s = tls(g)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert response(s)[0] == 401
            idle.append(s)
        t0 = time.monotonic()
        r = requests.get(g.url + "/", verify=g.ca, timeout=8)
        assert r.status_code == 401 and time.monotonic() - t0 < 5
        # one of them closed (cleanly, at a request boundary); one that stayed still serves
        kept = [s for s in idle if not closed(s)]
        assert len(kept) < 2
        for s in kept:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert response(s)[0] == 401
    finally:
        for s in idle:
            s.close()
        g.stop()
