# HAN building blocks inside MicroPython: Digest (RFC 7616 vectors), rate limit,
# sessions, HTTP framing, time format, firewall rules, outputs, LEDs.
# heapsize: 512K
import asyncio
import json
import time

from mptest import eq, tmpdir
from mptest import raises as _raises


def raises(exc, f, *a):
    with _raises(exc):
        f(*a)

from han import digest, http
from han.api import ApiError, iso, parse_iso
from han.server import Accounts, HanServer
from net.firewall import Firewall, FirewallError

# RFC 7616 section 3.9.1 (user Mufasa, password "Circle of Life")
_R = "http-auth@example.org"
_N = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
_C = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def test_rfc7616_vectors_md5_and_sha256():
    for alg, want in (("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
                      ("SHA-256", "753927fa0e85d155564e2e272a28d180"
                                  "2ca10daf4496794697cf8db5856cb6c1")):
        h1 = digest.ha1(alg, "Mufasa", _R, "Circle of Life")
        eq(digest.response(alg, h1, "GET", "/dir/index.html", _N, "00000001", _C), want)


def test_parse_authorization_header():
    p = digest.parse('Digest username="Mufasa", realm="a, b", nonce="x\\"y", uri="/d?x=1",'
                     ' algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c", response="r"')
    eq(p["username"], "Mufasa")
    eq(p["realm"], "a, b")
    eq(p["nonce"], 'x"y')
    eq(p["algorithm"], "SHA-256")
    eq(p["nc"], "00000001")
    eq(digest.parse("Basic dXNlcjpwdw=="), {})


class Clock:
    def __init__(self):
        self.t = 1000

    def __call__(self):
        return self.t


def _hdr(auth, user, pw, nonce, nc, uri="/x", alg="MD5", method="GET"):
    h1 = digest.ha1(alg, user, auth.realm, pw)
    r = digest.response(alg, h1, method, uri, nonce, nc, "cn")
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=%s, qop=auth,'
            ' nc=%s, cnonce="cn", response="%s"' % (user, auth.realm, nonce, uri, alg, nc, r))


def test_digest_nonce_stale_replay_uri():
    clk = Clock()
    acc = Accounts("smgw", {"u": {"role": "consumer", "password": "pw"}})
    a = digest.DigestAuth("smgw", acc.secret, clk, ttl=300)
    ch = a.challenges()
    eq(len(ch), 2)
    nonce = digest.parse(ch[0])["nonce"]
    eq(a.check("GET", "/x", _hdr(a, "u", "pw", nonce, "00000001")), ("u", "ok"))
    eq(a.check("GET", "/x", _hdr(a, "u", "pw", nonce, "00000001"))[1], "replay")
    eq(a.check("GET", "/x", _hdr(a, "u", "pw", nonce, "00000002", alg="SHA-256")),
       ("u", "ok"))
    eq(a.check("GET", "/x", _hdr(a, "u", "bad", nonce, "00000003"))[1], "bad")
    eq(a.check("GET", "/x", _hdr(a, "nobody", "pw", nonce, "00000003"))[1], "unknown")
    eq(a.check("GET", "/y", _hdr(a, "u", "pw", nonce, "00000003"))[1], "uri")
    eq(a.check("GET", "/x", _hdr(a, "u", "pw", "forged", "00000001"))[1], "stale")
    clk.t += 301
    eq(a.check("GET", "/x", _hdr(a, "u", "pw", nonce, "00000004"))[1], "stale")
    eq(a.check("GET", "/x", None)[1], "missing")
    eq(a.check("GET", "/x", 'Digest username="u"')[1], "malformed")
    assert "stale=true" in a.challenges(True)[0]


def test_nonce_table_is_bounded():
    a = digest.DigestAuth("r", lambda u, al: None, Clock())
    for _ in range(200):
        a.nonce()
    assert len(a.nonces) <= 64 * 16 and len(a.meta) <= 64 * 3
    eq(sum(1 for i in range(0, len(a.meta), 3) if a.meta[i] >= 0), 64)


def test_rate_limit_backoff_and_release():
    clk = Clock()
    rl = digest.RateLimit(clk)
    for _ in range(4):
        rl.failed("1.2.3.4")
    eq(rl.retry_after("1.2.3.4"), 0)
    rl.failed("1.2.3.4")
    eq(rl.retry_after("1.2.3.4"), 2)
    eq(rl.retry_after("5.6.7.8"), 0)
    for _ in range(20):
        rl.failed("1.2.3.4")
    eq(rl.retry_after("1.2.3.4"), 300)  # capped, never permanent
    clk.t += 300
    eq(rl.retry_after("1.2.3.4"), 0)
    rl.ok("1.2.3.4")
    eq(rl.t.get("1.2.3.4"), None)


class Req:
    def __init__(self, cookie=None, auth=None):
        self.method = "GET"
        self.target = "/x"
        self.headers = {}
        if auth:
            self.headers["authorization"] = auth
        self._c = cookie

    def cookie(self, n):
        return self._c


def test_sessions_expire_after_idle_timeout():
    clk = Clock()
    acc = Accounts("smgw", {"u": {"role": "consumer", "password": "pw"}})
    srv = HanServer(None, acc, clk, session_idle_s=600)
    user, resp = srv.authenticate(Req(), "1.1.1.1")
    eq(user, None)
    eq(resp[0], 401)
    nonce = digest.parse(resp[1][0][1])["nonce"]
    user, hdrs = srv.authenticate(Req(auth=_hdr(srv.digest, "u", "pw", nonce, "00000001")),
                                  "1.1.1.1")
    eq(user, "u")
    sid = hdrs[0][1].split(";")[0].split("=")[1]
    clk.t += 599
    eq(srv.authenticate(Req(cookie=sid), "1.1.1.1")[0], "u")
    clk.t += 599
    eq(srv.authenticate(Req(cookie=sid), "1.1.1.1")[0], "u")  # refreshed by use
    clk.t += 601
    eq(srv.authenticate(Req(cookie=sid), "1.1.1.1")[0], None)


class BytesStream:
    def __init__(self, data):
        self.d = data

    async def readline(self):
        i = self.d.find(b"\n")
        i = len(self.d) if i < 0 else i + 1
        r, self.d = self.d[:i], self.d[i:]
        return r

    async def readexactly(self, n):
        if len(self.d) < n:
            raise EOFError
        r, self.d = self.d[:n], self.d[n:]
        return r


async def test_http_request_parsing():
    s = BytesStream(b"POST /smgw/m2m/a%20b.sm/json?x=1&y=%41 HTTP/1.1\r\nHost: h\r\n"
                    b"Content-Length: 4\r\nCookie: a=1; smgw_sid=abc\r\n\r\nbodyGET / HTTP/1.0\r\n\r\n")
    r = await http.read(s)
    eq(r.method, "POST")
    eq(r.path, "/smgw/m2m/a b.sm/json")
    eq(r.query, {"x": "1", "y": "A"})
    eq(r.body, b"body")
    eq(r.cookie("smgw_sid"), "abc")
    assert r.keep_alive
    r = await http.read(s)
    assert not r.keep_alive
    eq(await http.read(s), None)
    for bad, status in ((b"GET /\r\n\r\n", 400), (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400),
                        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
                        (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
                        (b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 50 + b"\r\n", 431)):
        try:
            await http.read(BytesStream(bad))
            assert False, bad
        except http.HttpError as e:
            eq(e.status, status)


def test_iso_time_against_gmtime_random():
    import random

    for _ in range(2000):
        t = random.getrandbits(31) + random.getrandbits(2) * (1 << 31)
        g = time.gmtime(t)
        want = "%04d-%02d-%02dT%02d:%02d:%02dZ" % g[:6]
        eq(iso(t), want)
        eq(parse_iso(want), t)
    eq(parse_iso("2024-02-29T12:00:00+01:00"), parse_iso("2024-02-29T11:00:00Z"))
    eq(parse_iso("2024-03-01"), parse_iso("2024-02-29T00:00:00Z") + 86400)
    eq(parse_iso("2024-03-01T00:00:00.250Z"), parse_iso("2024-03-01"))
    for bad in ("", "2024-13-01", "2024-01-01T25:00:00Z", "yesterday", "2024-01-01Tx", None):
        raises(ApiError, parse_iso, bad)


def test_firewall_default_deny_and_logging():
    logs = []
    fw = Firewall(lambda lvl, ev, msg: logs.append((lvl, ev, msg)))
    fw.allow("wan", "out", "gwa", "127.0.0.1", 9)
    assert fw.check("wan", "out", "gwa", "127.0.0.1", 9)
    assert not fw.check("wan", "out", "gwa", "127.0.0.1", 10)
    assert not fw.check("wan", "out", "emt", "127.0.0.1", 9)
    raises(FirewallError, fw.allow, "han", "out", "emt", "127.0.0.1", 1)
    raises(FirewallError, fw.allow, "lmn", "in", "han-https", "*", 1)
    raises(FirewallError, fw.allow, "wan", "in", "han-https", "*", 1)
    raises(FirewallError, fw.connect, "wan", "emt", "127.0.0.1", 1)
    eq(fw.refused, 1)
    eq(logs[-1][1], "fw.refuse")
    st = fw.self_test()
    assert st["ok"], st
    eq(len(st["checks"]), 9)
    eq(fw.refused, 1)  # self-test probes are not real refusals
    eq(logs[-1][1], "fw.selftest")
    # a rule outside the policy (smuggled in) makes the self-test fail
    fw.rules.append(["han", "out", "emt", "127.0.0.1", 1])
    assert not fw.self_test()["ok"]
    eq(logs[-1][0], 4)


def test_firewall_listen_only_allowed():
    fw = Firewall()
    raises(FirewallError, fw.listen, "han", "han-https", "127.0.0.1", 23456)
    fw.allow("han", "in", "han-https", "*", 23456)
    s = fw.listen("han", "han-https", "127.0.0.1", 23456)
    s.close()
    fw.revoke("han-https")
    raises(FirewallError, fw.listen, "han", "han-https", "127.0.0.1", 23456)


class Pin:
    def __init__(self):
        self.v = 0
        self.hist = []

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v
        self.hist.append(v)


def test_outputs_switch_persist_relay_pulses_schedule():
    from drivers.outputs import OutputError, Outputs

    path = tmpdir() + "/outputs.json"
    pins = {n: Pin() for n in ("OUT1", "OUT2", "OUT3", "RELAY_SET", "RELAY_RESET")}
    logs = []
    o = Outputs(pins, path, lambda *a: logs.append(a))
    assert o.switch("OUT2", 1, "emt")
    assert not o.switch("OUT2", 1, "emt")  # no change, no log
    assert o.switch("RELAY", 1, "emt")
    eq(pins["OUT2"].v, 1)
    eq(pins["RELAY_SET"].hist[-2:], [1, 0])  # a pulse, coil released afterwards
    eq(len(logs), 2)
    assert "RELAY on by emt" in logs[-1][2]
    raises(OutputError, o.switch, "OUT9", 1)
    # reboot: state comes back from the file and is applied to fresh pins
    pins2 = {n: Pin() for n in ("OUT1", "OUT2", "OUT3", "RELAY_SET", "RELAY_RESET")}
    o2 = Outputs(pins2, path, None, [{"output": "OUT1", "on": "22:00", "off": "06:00"}])
    eq(o2.state, {"OUT1": 0, "OUT2": 1, "OUT3": 0, "RELAY": 1})
    eq(pins2["OUT2"].v, 1)
    eq(pins2["RELAY_SET"].hist, [1, 0])
    eq(o2.schedule_tick(23 * 3600), ["OUT1"])
    eq(o2.schedule_tick(23 * 3600 + 60), [])
    eq(o2.schedule_tick(86400 + 7 * 3600), ["OUT1"])
    eq(o2.state["OUT1"], 0)
    eq(json.load(open(path))["OUT1"], 0)


def test_led_patterns():
    from app import leds

    class L:
        state = "up"
        rssi_dbm = -80

    lk = L()
    eq(leds.rssi_mode(lk), "on")
    lk.rssi_dbm = -90
    eq(leds.rssi_mode(lk), "fast")
    lk.rssi_dbm = -100
    eq(leds.rssi_mode(lk), "slow")
    lk.state = "down"
    eq(leds.rssi_mode(lk), "off")
    eq([leds.level("slow", i) for i in range(8)], [1, 1, 1, 1, 0, 0, 0, 0])
    eq([leds.level("fast", i) for i in range(4)], [1, 0, 1, 0])
    eq(leds.level("on", 3), 1)
    eq(leds.level("off", 3), 0)
    raises(ValueError, leds.set_mode, None, "PWR", "disco")


async def test_led_task_renders_rssi_and_pulses():
    from app import leds
    from fakectx import Ctx, Link

    ctx = Ctx()
    ctx.link = Link("up", -100)
    t = asyncio.create_task(leds.run(ctx))
    leds.pulse(ctx, "WMT", 100)
    await asyncio.sleep_ms(20)
    eq(ctx.hal.leds["WMT"].v, 1)
    await asyncio.sleep_ms(1100)
    t.cancel()
    eq(ctx.hal.leds["WMT"].v, 0)
    eq(ctx.hal.leds["PWR"].v, 1)
    h = ctx.hal.leds["RSSI"].history
    assert 1 in h and 0 in h, h  # slow blink for a weak signal


async def test_firewall_every_forbidden_flow_on_real_sockets():
    import socket

    from net import firewall as fwm

    # a real listener on loopback: reachable, so only the firewall can stop a flow
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(socket.getaddrinfo("127.0.0.1", 23457)[0][-1])
    srv.listen(8)
    logs = []
    fw = Firewall(lambda lvl, ev, msg: logs.append(ev))
    fw.allow("wan", "out", "emt", "127.0.0.1", 23457)  # the one configured flow
    flows = [f.split() for f in fwm._MATRIX.split("|") if f]
    eq(len(flows), 8)
    purposes = set(f[2] for f in flows) | {"telnet", "ssh", "debug"}
    eq(purposes, {"gwa", "emt", "cls-proxy", "ntp", "mqtt", "wake-up", "han-https", "telnet",
                  "ssh", "debug"})
    tried = refused = 0
    for net in fwm.NETS:
        for direction in ("in", "out"):
            for purpose in sorted(purposes):
                ok_flow = (net, direction, purpose) == ("wan", "out", "emt")
                tried += 1
                try:
                    if direction == "out":
                        r, w = await fw.open_connection(net, purpose, "127.0.0.1", 23457)
                        await w.wait_closed()
                    else:
                        fw.listen(net, purpose, "127.0.0.1", 23458).close()
                    assert ok_flow, (net, direction, purpose)
                except fwm.FirewallError:
                    assert not ok_flow
                    refused += 1
    eq(refused, tried - 1)
    eq(logs.count("fw.refuse"), refused)
    # configured endpoint, wrong port or host: refused as well
    for host, port in (("127.0.0.1", 23458), ("127.0.0.2", 23457)):
        raises(fwm.FirewallError, fw.connect, "wan", "emt", host, port)
    s = fw.connect("wan", "emt", "127.0.0.1", 23457)
    s.close()
    srv.close()
    eq(fw.status()["refused"], refused + 2)


async def test_serve_survives_tls_setup_failure():

    from net import firewall as fwm

    class FlakyTls:
        calls = 0

        def wrap_socket(self, s, server_side=True, do_handshake_on_connect=False):
            FlakyTls.calls += 1
            if FlakyTls.calls == 1:
                raise MemoryError("no heap for TLS")
            return s

    fw = Firewall()
    fw.allow("han", "in", "han-https", "*", 23459)
    ls = fw.listen("han", "han-https", "127.0.0.1", 23459)
    logs = []

    async def echo(r, w, ip):
        w.write(await r.readline())
        await w.drain()
        await w.wait_closed()

    task = asyncio.create_task(fwm.serve(ls, echo, FlakyTls(), log=lambda *a: logs.append(a)))
    got = []
    for _ in range(2):
        r, w = await asyncio.open_connection("127.0.0.1", 23459)
        w.write(b"hi\n")
        await w.drain()
        try:
            got.append(await r.readline())
        except OSError:  # reset: closed with our bytes unread
            got.append(b"")
        await w.wait_closed()
    task.cancel()
    await asyncio.sleep_ms(10)
    eq(got, [b"", b"hi\n"])  # first client dropped, the server kept accepting
    eq(logs[0][1], "net.tls")


def test_monotonic_clock_ignores_wall_clock():
    from han.layer import Monotonic

    m = Monotonic()
    a = m()
    time.sleep_ms(120)
    b = m()
    assert 0.1 <= b - a < 1.0, (a, b)


def test_nonce_and_session_ids_only_match_exactly():
    clk = Clock()
    acc = Accounts("smgw", {"u": {"role": "consumer", "password": "pw"}})
    srv = HanServer(None, acc, clk, session_idle_s=600)
    a = srv.digest
    nonce = digest.parse(a.challenges()[0])["nonce"]
    for other in (nonce.upper(), nonce[:-1], nonce + "0", "g" + nonce[1:], "0" * 32):
        eq(a.check("GET", "/x", _hdr(a, "u", "pw", other, "00000001"))[1], "stale")
    user, hdrs = srv.authenticate(Req(auth=_hdr(a, "u", "pw", nonce, "00000001")), "1.1.1.1")
    eq(user, "u")
    sid = hdrs[0][1].split(";")[0].split("=")[1]
    for other in (sid.upper(), sid[1:] + sid[0], "0" * 32, "", sid + "0"):
        eq(srv.authenticate(Req(cookie=other), "1.1.1.1")[0], None)
    eq(srv.authenticate(Req(cookie=sid), "1.1.1.1")[0], "u")
    # the same nonce again (higher nc): the same session, no new cookie
    user, hdrs = srv.authenticate(Req(auth=_hdr(a, "u", "pw", nonce, "00000002")), "1.1.1.1")
    eq((user, hdrs), ("u", []))
    eq(srv.status()["sessions"], 1)
    srv.logout(sid)
    eq(srv.authenticate(Req(cookie=sid), "1.1.1.1")[0], None)
    eq(srv.status()["sessions"], 0)
    # that nonce once more: its session is gone, so a new one (and a cookie)
    user, hdrs = srv.authenticate(Req(auth=_hdr(a, "u", "pw", nonce, "00000003")), "1.1.1.1")
    eq(user, "u")
    sid2 = hdrs[0][1].split(";")[0].split("=")[1]
    assert sid2 != sid
    eq(srv.authenticate(Req(cookie=sid2), "1.1.1.1")[0], "u")
    srv.logout(sid2)
    # at most 16 sessions: the idlest one goes
    sids = []
    for k in range(20):
        clk.t += 1
        sids.append(srv.new("u%d" % k))
    eq(srv.status()["sessions"], 16)
    eq(srv.authenticate(Req(cookie=sids[3]), "1.1.1.1")[0], None)
    eq(srv.authenticate(Req(cookie=sids[4]), "1.1.1.1")[0], "u4")
    eq(srv.authenticate(Req(cookie=sids[19]), "1.1.1.1")[0], "u19")


def test_reason_phrases_equal_the_former_table():
    old = {200: "OK", 204: "No Content", 302: "Found", 303: "See Other",
           307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           411: "Length Required", 413: "Content Too Large", 429: "Too Many Requests",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           503: "Service Unavailable"}
    for st in range(0, 1000):
        eq(http.phrase(st, "Status"), old.get(st, "Status"))
        eq(str(http.HttpError(st)), old.get(st, ""))
    eq(http.head(418, [], 0, False), b"HTTP/1.1 418 Status\r\nContent-Length: 0\r\n"
                                      b"Connection: close\r\n\r\n")


def test_firewall_policy_matrix_equals_the_former_table():
    from net import firewall as fwm

    old = {("wan", "out"): ("gwa", "emt", "cls-proxy", "ntp", "mqtt"),
           ("wan", "in"): ("wake-up",), ("han", "in"): ("han-https",),
           ("cls", "in"): ("cls-proxy",)}
    words = ["wan", "han", "cls", "lmn", "in", "out", "gwa", "emt", "cls-proxy", "ntp", "mqtt",
             "wake-up", "han-https", "telnet", "wan out", "out gwa", "gwa|wan", "", None, 5]
    for n in words:
        for d in words:
            for p in words:
                eq(fwm.permitted(n, d, p), p in old.get((n, d), ()))


def test_firewall_self_test_module_is_dropped_after_use():
    import sys

    import net

    logs = []
    fw = Firewall(lambda lvl, ev, msg: logs.append((lvl, ev)))
    fw.allow("wan", "out", "emt", "127.0.0.1", 443)
    r = fw.self_test()
    eq((r["ok"], r["rules"], len(r["checks"])), (True, 1, 9))
    eq(logs, [(1, "fw.selftest")])
    eq(fw.status()["refused"], 0)
    assert "net.fwtest" not in sys.modules and not hasattr(net, "fwtest")
    fw.rules.append(["lmn", "out", "gwa", "*", 1])  # outside the policy
    r = fw.self_test()
    eq(r["ok"], False)
    eq(r["checks"][-1], ["rules inside policy", False])
    eq(logs[-1], (4, "fw.selftest"))


class _Writer:
    def __init__(self):
        self.out = bytearray()
        self.writes = 0

    def write(self, b):
        self.out += b
        self.writes += 1

    async def drain(self):
        pass


async def test_chunked_response_bytes_and_one_buffer():
    def body():
        yield "zähler,"  # non-ASCII: chunk sizes count bytes
        yield b"raw"
        yield ""
        for i in range(300):
            yield "row %03d\r\n" % i

    w = _Writer()
    await http.write(w, 200, [("Content-Type", "text/csv")], body(), True)
    want = bytearray(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
    for c in [b"z\xc3\xa4hler,", b"raw"] + [b"row %03d\r\n" % i for i in range(300)]:
        want += b"%x\r\n" % len(c) + c + b"\r\n"
    want += b"0\r\n\r\n"
    eq(bytes(w.out), bytes(want))
    assert 2 < w.writes < 10  # gathered into writes of about 1400 bytes
    w = _Writer()
    await http.write(w, 404, [], "not here\n", False)
    eq(bytes(w.out), b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n"
                     b"\r\nnot here\n")


def test_nonce_table_reuses_expired_slots_and_keeps_live_ones():
    clk = Clock()
    a = digest.DigestAuth("r", lambda u, al: None, clk, ttl=300)
    first = [digest.parse(a.challenges()[0])["nonce"] for _ in range(10)]
    eq(len(a.meta), 16 * 3)  # two steps of 8 slots
    clk.t += 301  # all ten expired: their slots are reused, the table does not grow
    for _ in range(16):
        a.nonce()
    eq(len(a.meta), 16 * 3)
    clk.t += 1
    live = [a.nonce() for _ in range(64)]  # 64 live: grows to the bound
    eq(len(a.meta), 64 * 3)
    for n in live[-48:]:  # the newest 48 survive at least
        assert digest.slot(a.nonces, n) >= 0
    for n in first:
        i = digest.slot(a.nonces, n)
        assert i < 0 or a.meta[3 * i] < 0 or clk.t - a.meta[3 * i] > 300


async def test_connection_waits_while_a_wan_job_holds_the_heap():
    """han.layer: a connection that would load the request stack while a WAN session or
    payload build holds the heap (ctx.hold) waits for it; with the stack loaded, or the
    heap free, it goes ahead at once and holds it once for the stack."""
    from fakectx import Ctx

    from han import layer

    class Srv:
        async def connection(self, r, w, ip):
            calls.append(ip)

    calls = []
    st = layer.State()
    st.ctx = Ctx()
    st.server = None
    real = layer.server
    layer.server = lambda st: st.server or setattr(st, "server", Srv()) or st.server
    try:
        assert st.ctx.hold("wan")
        t = asyncio.create_task(layer._connection(st, None, None, "a"))
        await asyncio.sleep_ms(40)
        assert calls == [] and st.server is None  # not loaded while WAN holds the heap
        st.ctx.give("wan")
        await t
        assert calls == ["a"] and st.ctx.job == "han" and st.ctx.jobs == 1
        await layer._connection(st, None, None, "b")  # loaded: no second hold
        assert calls == ["a", "b"] and st.ctx.jobs == 1
    finally:
        layer.server = real


def test_page_unit_names_are_the_iec_62056_6_2_codes():
    # 13 m3, 14 corrected m3 (not m3/h), 15 m3/h, 25 J (heat meters in MJ/GJ, wmbus.obis)
    from han import pages

    eq([pages._UNITS.get(c) for c in (30, 27, 13, 15, 25, 9, 35, 33)],
       ["Wh", "W", "m3", "m3/h", "J", "degC", "V", "A"])
    assert 14 not in pages._UNITS
