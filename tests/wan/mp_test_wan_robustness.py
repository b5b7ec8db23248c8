# WAN input the other tests do not send: configurations out of range or failing half-way,
# bogus NTP replies, malformed update offers and images refused before, wake-up packet
# streams, a poll interval beyond the ticks period. Expected each time: a typed error,
# logged, the gateway running on, nothing stored lost.
# heapsize: 512K
import asyncio
import hashlib
import json
import os
import struct
import sys

from crypto import ecc, ecdsa
from crypto.secmod import SoftSecMod
from mptest import eq, raises, tmpdir
from wan import ntp, profiles, update, wakeup
from wan.tlsconn import WanError
from wanctx import Ctx

_N = [0]


def _dir(name):
    _N[0] += 1
    d = tmpdir() + "/rob_%s_%d_%s" % (name, _N[0], os.urandom(4).hex())  # noqa: UP031
    os.mkdir(d)
    return d


def _wan(name):
    from wan.service import Wan

    d = _dir(name)
    w = Wan(Ctx(), SoftSecMod(key_path=d + "/k"), pki=d + "/pki", qroot=d + "/q")
    w.config_path = d + "/active.json"
    w.keys_path = d + "/meters.json"
    return w, d


_EMT = {"id": "e1", "host": "h", "port": 1, "tafs": ["TAF7"]}
_BASE = {"gateway_id": "G", "gwa": {"host": "h", "port": 1}, "emts": [_EMT]}


def _stored(w):
    with open(w.config_path) as f:
        return json.load(f)


def test_profile_values_out_of_range_refused():
    # each was accepted and failed later: every poll, delivery or publish again
    bad = [{"gwa": {"host": "h", "port": 1, "poll_s": 0}},  # a poll after the other
           {"gwa": {"host": "h", "port": 1, "poll_s": -5}},
           {"gwa": {"host": "h", "port": 70000}},
           {"gwa": {"host": "h", "port": 1, "wakeup_window_s": -1}},  # no wake-up valid
           {"emts": [dict(_EMT, schedule_s=0)]},
           {"emts": [dict(_EMT, port=0)]},
           {"emts": [dict(_EMT, path="deliver")]},  # not an HTTP request target
           {"emts": [dict(_EMT, host="h\r\nX-Evil: 1")]},  # into the request headers
           {"emts": [dict(_EMT, id="")]},
           {"emts": [dict(_EMT, id=".hidden")]},
           {"emts": [dict(_EMT, id="a" * 300)]},  # a queue file name too long: OSError
           {"emts": [dict(_EMT, peer="../../config/active")]},
           {"emts": [dict(_EMT, mqtt={"host": "h"})]},  # KeyError at each publish
           {"emts": [dict(_EMT, mqtt={"host": "h", "port": 1, "qos": 2})]},
           {"emts": [dict(_EMT, mqtt={"host": "h", "port": 1, "keepalive_s": 70000})]},
           {"emts": [dict(_EMT, mqtt={"host": "h", "port": 1, "keepalive_s": -1})]}]
    for b in bad:
        with raises(profiles.ProfileError):
            profiles.parse(b)
    # still valid: the limits are not tighter than what a GWA sends
    _, gwa, emts = profiles.parse({"gateway_id": "EGWT0000000001", "gwa": {
        "host": "gwa.example", "port": 4431, "poll_s": 7 * 86400, "wakeup_port": 0,
        "wakeup_window_s": 300}, "emts": [dict(_EMT, id="emt-1_a.b", mqtt={
            "host": "b", "port": 8883, "qos": 0, "keepalive_s": 65535}, alias="Pseudo ä")]})
    eq((gwa["poll_s"], emts[0].id), (7 * 86400, "emt-1_a.b"))


def test_config_refused_before_commit_for_bad_queue_name():
    from wan import config

    w, _ = _wan("hugeid")
    w.configure(_BASE, 1)
    config.apply(w, {"version": 1, "wan": _BASE})
    cfg = {"version": 2, "wan": dict(_BASE, emts=[dict(_EMT, id="a" * 300)])}
    with raises(config.ConfigError):
        config.validate(cfg, 1)
    eq(_stored(w)["version"], 1)
    eq(sorted(w.outboxes), ["e1"])


def test_config_apply_failure_is_all_or_nothing():
    # the new EMT's queue cannot be made (its path is taken by a file): refused (typed),
    # the old configuration stays stored and running, meter keys as they were
    from wan import config

    w, d = _wan("atomic")
    w.configure(_BASE, 1)
    config.apply(w, {"version": 1, "wan": _BASE, "keys": {"M1": "11" * 16}})
    with open(d + "/q/e2.TAF7", "w") as f:
        f.write("x")
    cfg = {"version": 2, "wan": dict(_BASE, gateway_id="G2", emts=[
        _EMT, dict(_EMT, id="e2", port=2)]), "keys": {"M2": "22" * 16}}
    config.validate(cfg, 1)
    with raises(config.ConfigError):
        config.apply(w, cfg)
    eq(_stored(w)["version"], 1)
    with open(w.keys_path) as f:
        eq(json.load(f), {"M1": "11" * 16})
    eq((w.config_version, w.gateway_id, sorted(w.outboxes)), (1, "G", ["e1"]))
    eq(w.outboxes["e1"].emt.port, 1)


def test_config_without_wan_keeps_the_stored_gwa():
    # a configuration for other layers only: the running WAN keeps its profiles, and so
    # must active.json, or the next boot has no GWA to poll (unreachable gateway)
    from wan import config
    from wan.service import load_config

    w, _ = _wan("nowan")
    w.configure(_BASE, 1)
    config.apply(w, {"version": 1, "wan": _BASE})
    cfg = {"version": 2, "tenants": []}
    config.validate(cfg, 1)
    eq(config.apply(w, cfg), 2)
    st = load_config(w.config_path)
    eq((st["version"], st["tenants"], st.get("wan")), (2, [], _BASE))
    eq(w.gwa, _BASE["gwa"])


def test_config_from_the_gwa_must_keep_a_gwa():
    # a "wan" section with the EMTs only: applied, the gateway had no GWA to poll (and
    # ignored wake-ups): unreachable until serviced on site
    from wan import config

    w, _ = _wan("keepgwa")
    w.configure(_BASE, 1)
    config.apply(w, {"version": 1, "wan": _BASE})
    w.ident.peer_cert = lambda name: _Cert()

    def signed(cfg):
        body = json.dumps(cfg).encode()
        r, s = ecdsa.sign(ecc.P256, _KEY, hashlib.sha256(body).digest())
        return body, (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()

    for wan in ({"gateway_id": "G", "emts": [_EMT]}, dict(_BASE, gwa={})):
        with raises(config.ConfigError) as r:
            config.apply_signed(w, *signed({"version": 2, "wan": wan}))
        assert "gwa" in str(r.value)
        eq((_stored(w)["version"], w.gwa), (1, _BASE["gwa"]))
    eq(config.apply_signed(w, *signed({"version": 2, "wan": dict(_BASE, emts=[])})), 2)
    eq((w.gwa, sorted(w.outboxes)), (_BASE["gwa"], []))


def test_ntp_zero_timestamps_refused():
    req = ntp.request(1767225600123)
    resp = ntp.response(req, 1767225601123, 1767225601125)
    for lo, hi in ((40, 48), (32, 40)):  # transmit, receive timestamp zero
        b = bytearray(resp)
        b[lo:hi] = bytes(8)
        with raises(ntp.NtpError):
            ntp.evaluate(req, bytes(b), 1767225600130)  # was: offset about -63 years
    # sent a day before received: delay +1 day (not refused), offset -12 h, was applied
    b = ntp.response(req, 1767225601123, 1767225601125 - 86400000)
    with raises(ntp.NtpError):
        ntp.evaluate(req, b, 1767225600130)
    ntp.evaluate(req, resp, 1767225600130)


async def test_time_http_error_does_not_stop_the_poll():
    # /time answers 404: logged, and the poll still fetches configuration and update
    from wan.admin import Admin

    w, _ = _wan("timeerr")
    w.configure(_BASE, 1)
    a = Admin(w)
    paths = []

    class S:
        def expired(self, now):
            return False

        async def close(self):
            pass

    async def request(method, path, body=b"", headers=None, max_body=65536, keep=True):
        paths.append(path.split("?")[0])
        return (404 if path == "/time" else 204), {}, b""

    async def opened():
        return S()

    a._request = request
    a._open = opened
    w.updater = False  # a build without firmware update
    await a.session()
    eq(paths, ["/time", "/config"])
    assert any(x[1] == "wan.time" and "404" in x[2] for x in w.ctx.logs), w.ctx.logs


# ---- firmware update ------------------------------------------------------------------
_KEY = 7


class _Cert:
    point = ecc.P256.public(_KEY)


class _Ident:
    def peer_cert(self, name):
        if name == "fwsign":
            raise WanError("none", name)
        return _Cert()


class _W:
    def __init__(self):
        self.gwa = {}


def _image(ver, body, key=_KEY):
    h = (update.MAGIC + struct.pack(">HI", 160, update.parse_version(ver)) + b"unix"
         + bytes(12) + struct.pack(">I", len(body)) + hashlib.sha256(body).digest()
         + struct.pack(">Q", 1767225600) + bytes(22))
    r, s = ecdsa.sign(ecc.P256, key, hashlib.sha256(h).digest())
    return h + r.to_bytes(32, "big") + s.to_bytes(32, "big") + body


def _updater(name, state=None):
    d = _dir(name)
    os.mkdir(d + "/fw")
    with open(d + "/fw/boot.json", "w") as f:
        json.dump(state or {"versions": {"factory": "0.1.0"}}, f)
    w = _W()
    w.ctx = Ctx()
    w.ident = _Ident()
    w.secmod = SoftSecMod(key_path=d + "/k")
    return w.ctx, update.Updater(w, fw=d + "/fw")


def _server(blob, offer, ranges):
    async def request(method, path, body=b"", headers=None, max_body=65536, keep=True):
        if path == "/update":
            return 200, {}, json.dumps(offer).encode()
        a, b = headers["Range"][6:].split("-")
        ranges.append(int(a))
        return 206, {}, blob[int(a):int(b) + 1]
    return request


def _offer(img, ver, **kw):
    sha = hashlib.sha256(img).digest().hex()  # noqa: FURB181 - no hexdigest in MicroPython
    o = {"version": ver, "size": len(img), "sha256": sha, "activate_at": 0, "path": "/image"}
    o.update(kw)
    return o


async def test_update_offer_with_bad_fields_refused():
    # activate_at null or text was stored with the staged slot and made every tick of
    # Wan.run raise TypeError (the WAN service loop dead until the next offer)
    img = _image("0.2.0", b"R" * 3000)
    for kw in ({"activate_at": None}, {"activate_at": "soon"}, {"activate_at": -1},
               {"size": "3160"}, {"size": 12}, {"path": 5}, {"activate_at": True}):
        ctx, u = _updater("offer")
        ranges = []
        eq(await u.poll(_server(img, _offer(img, "0.2.0", **kw), ranges)), None, kw)
        eq(ranges, [], kw)
        assert any(x[1] == "fw.offer" for x in ctx.logs), (kw, ctx.logs)
        eq(u.tick(), False)
        eq(u.state().get("staged"), None)


async def test_update_image_refused_once_not_downloaded_again():
    # a badly signed image (or one that failed verification) offered again at every poll:
    # downloaded once, not again at each poll (an LTE link's data volume)
    img = _image("0.2.0", b"R" * 9000, key=11)
    ctx, u = _updater("badsig")
    ranges = []
    srv = _server(img, _offer(img, "0.2.0"), ranges)
    eq(await u.poll(srv), False)
    n = len(ranges)
    assert n >= 3 and any("bad signature" in x[2] for x in ctx.logs), ctx.logs
    eq(await u.poll(srv), None)
    eq(len(ranges), n)
    # the GWA fixes it: the same version with another image is downloaded
    good = _image("0.2.0", b"R" * 9000)
    eq(await u.poll(_server(good, _offer(good, "0.2.0"), ranges)), True)


async def test_update_wrong_board_stops_after_the_header():
    img = _image("0.2.0", b"R" * 20000)
    img = img[:14] + b"esp32_gw" + bytes(8) + img[30:]  # (signature no longer matters)
    ctx, u = _updater("board")
    ranges = []
    eq(await u.poll(_server(img, _offer(img, "0.2.0"), ranges)), False)
    eq(ranges, [0])  # not the 5 chunks of the whole image
    assert any("board esp32_gw" in x[2] for x in ctx.logs), ctx.logs
    eq(sorted(os.listdir(u.fw)), ["boot.json"])


async def test_update_range_not_honoured_keeps_the_part():
    # a resumed download answered with the image from its start (200, Range ignored):
    # appended, the part was spoilt and the good image refused at verification
    img = _image("0.2.0", b"R" * 12000)
    _, u = _updater("range")
    ranges = []
    good = _server(img, _offer(img, "0.2.0"), ranges)

    async def broken(method, path, body=b"", headers=None, max_body=65536, keep=True):
        if path != "/update" and len(ranges) >= 2:
            raise WanError("connection lost", "gwa")
        return await good(method, path, body, headers, max_body, keep)

    with raises(WanError):
        await u.poll(broken)
    n = os.stat(u.fw + "/update.part")[6]
    eq(n, 8192)

    async def ignores_range(method, path, body=b"", headers=None, max_body=65536, keep=True):
        if path == "/update":
            return await good(method, path, body, headers, max_body, keep)
        return 200, {}, img[:4096]

    with raises(WanError):
        await u.poll(ignores_range)
    eq(os.stat(u.fw + "/update.part")[6], n)
    eq(await u.poll(good), True)


async def test_update_rolled_back_version_not_staged_again():
    # the boot loader rolled back slot b (0.3.0 did not confirm its health): the GWA still
    # offering 0.3.0 must not make another trial boot, restart and rollback per poll
    ctx, u = _updater("rolled", {"active": "a", "versions": {"a": "0.2.0", "b": "0.3.0"},
                                 "rolled_back": "b"})
    assert any(x[1] == "fw.rollback" for x in ctx.logs)
    img = _image("0.3.0", b"S" * 5000)
    ranges = []
    eq(await u.poll(_server(img, _offer(img, "0.3.0"), ranges)), None)
    eq(ranges, [])
    assert any(x[1] == "fw.refused" for x in ctx.logs), ctx.logs
    _, u2 = _updater("rolled2", u.state())  # also after the next boot
    eq(await u2.poll(_server(img, _offer(img, "0.3.0"), ranges)), None)
    eq(ranges, [])
    newer = _image("0.3.1", b"S" * 5000)
    eq(await u.poll(_server(newer, _offer(newer, "0.3.1"), ranges)), True)
    eq(u.state()["staged"]["version"], update.parse_version("0.3.1"))


# ---- wake-up ---------------------------------------------------------------------------
def _wakeup(name, t0):
    d = _dir(name)
    w = _W()
    w.ctx = Ctx(t0)
    w.gateway_id = "GW1"
    w.gwa = {"host": "h", "port": 1}
    w.ident = _Ident()
    calls = []
    sm = SoftSecMod(key_path=d + "/k")
    verify = sm.verify

    def counted(*a):
        calls.append(1)
        return verify(*a)

    sm.verify = counted
    w.secmod = sm
    return w, wakeup.Wakeup(w, d + "/wu.last"), calls


def _pkt(gid, t, key=_KEY):
    return wakeup.encode(gid, t, lambda h: ecdsa.sign(ecc.P256, key, h))


def test_wakeup_old_packets_cost_no_signature_check():
    t0 = 1767225600
    w, wu, calls = _wakeup("wucost", t0)
    good = _pkt("GW1", t0)
    assert wu.handle(good)
    eq(len(calls), 1)
    for p in [good] * 4 + [_pkt("GW1", t0 - 3600, 13)] * 4:  # replayed, stale
        assert not wu.handle(p)
    eq(len(calls), 1)  # refused before the (blocking) ECDSA verification
    assert sum("replayed" in x[2] for x in w.ctx.logs) == 4
    assert sum("stale" in x[2] for x in w.ctx.logs) == 4
    assert not wu.handle(_pkt("GW1", t0 + 5, 13))  # fresh but forged: verified
    eq(len(calls), 2)
    assert "bad signature" in w.ctx.logs[-1][2]


def test_wakeup_refusals_do_not_flood_the_events():
    # a port scan / a stream of replays: the recent warnings (16, what POST /log sends)
    # were all "invalid wake-up" after 16 packets
    t0 = 1767225600
    w, wu, _ = _wakeup("wuflood", t0)
    for i in range(30):
        assert not wu.handle(b"GET / HTTP/1.1\r\n\r\n" + bytes(80), "scanner")
    assert all(x[0] < 2 for x in w.ctx.logs), w.ctx.logs  # not a wake-up packet: info
    n = len(w.ctx.logs)
    old = _pkt("GW1", t0 - 3600)
    for i in range(30):
        assert not wu.handle(old, "src")
    eq(sum(x[0] >= 2 for x in w.ctx.logs), 0)  # (the minute's 10 went to the garbage)
    w.ctx.hal.rtc.set(t0 + 61)
    for i in range(30):
        assert not wu.handle(old, "src")
    logged = w.ctx.logs[n:]
    eq(len(logged), 10)
    assert "(50 more not logged)" in logged[0][2], logged[0]  # 20 + 30 of the last minute
    assert wu.handle(_pkt("GW1", t0 + 61))  # a valid one still goes through, logged
    assert "valid wake-up" in w.ctx.logs[-1][2]


def test_wakeup_gateway_id_not_logged_raw():
    w, wu, _ = _wakeup("wuid", 1767225600)
    assert not wu.handle(_pkt("GW1\n1767225600 1 wan.wakeup valid", 1767225600))
    assert "\n" not in w.ctx.logs[-1][2], w.ctx.logs[-1]


def test_wakeup_stream_read_in_bounded_bursts():
    # a stream of packets: a few per look at the socket, the event loop gets its turn
    class Sock:
        def __init__(self, pkts):
            self.pkts = pkts

        def recvfrom(self, n):
            if not self.pkts:
                raise OSError(11)
            return self.pkts.pop(0), "src"

    t0 = 1767225600
    w, _ = _wan("wuburst")
    w.ctx = Ctx(t0)
    w.configure(dict(_BASE, gateway_id="GW1"), 1)
    w.wakeup_sock = Sock([b"SMWU garbage %d" % i for i in range(40)])
    w.woken()
    left = len(w.wakeup_sock.pkts)
    assert 0 < left < 40, left
    while w.wakeup_sock.pkts:
        w.woken()


async def test_poll_interval_beyond_ticks_half_period():
    # a weekly poll (poll_s 604800): more than 2^29 ms, half the ticks period of a 32-bit
    # board; one ticks_diff over it never reaches the interval, the GWA was never polled
    import time as real_time

    class BoardTime:  # ticks of a 32-bit board, advancing 2^27 ms (37 h) per read
        t = 0

        def ticks_ms(self):
            BoardTime.t = (BoardTime.t + (1 << 27)) & ((1 << 30) - 1)
            return BoardTime.t

        def ticks_diff(self, a, b):
            return ((a - b + (1 << 29)) & ((1 << 30) - 1)) - (1 << 29)

        def __getattr__(self, name):
            return getattr(real_time, name)

    w, _ = _wan("weekly")
    # the GWA does not answer (port 1): each poll fails fast, logged, the next one comes
    w.configure(dict(_BASE, gwa={"host": "127.0.0.1", "port": 1, "poll_s": 7 * 86400}), 1)
    polls = []
    take = w.ctx.take

    async def counted(who, ms):
        if who == "wan":
            polls.append(1)
        return await take(who, ms)

    w.ctx.take = counted
    sys.modules["time"] = BoardTime()
    try:
        t = asyncio.create_task(w.poll())
        t0 = real_time.ticks_ms()
        while len(polls) < 2 and real_time.ticks_diff(real_time.ticks_ms(), t0) < 3000:
            await asyncio.sleep_ms(50)
        t.cancel()
        await asyncio.sleep_ms(10)
    finally:
        sys.modules["time"] = real_time
    assert len(polls) >= 2, (polls, w.ctx.logs)


def test_boot_with_a_stored_wan_section_refused_falls_back_to_the_factory_one():
    # active.json holds profiles this firmware refuses (written before a firmware update
    # tightened the checks, or damaged): the board's factory "wan" keeps the GWA reachable
    from wan import service

    d = _dir("boot")
    ctx = Ctx()
    ctx.hal.endpoints = {}
    factory = {"gateway_id": "G", "gwa": {"host": "127.0.0.1", "port": 4431}}  # no EMT:
    # (setup's Wan keeps its queues in /data/wan/q)

    class Board:
        def config(self):
            return {"wan": factory}

    ctx.board = Board()
    ctx.secmod = SoftSecMod(key_path=d + "/k")
    load = service.load_config
    service.load_config = lambda: {"version": 7, "wan": dict(factory, gwa={
        "host": "127.0.0.1", "port": 4431, "poll_s": 0})}
    try:
        service.setup(ctx)
    finally:
        service.load_config = load
    w = service.WAN
    service.WAN = None
    if w.wakeup_sock is not None:
        w.wakeup_sock.close()
    assert any(x[0] == 4 and "poll_s" in x[2] for x in ctx.logs), ctx.logs
    eq((w.gwa, w.config_version), (factory["gwa"], None))


def test_wan_connections_go_through_the_firewall_rules_of_the_profiles():
    # before: the WAN layer opened any host it was handed; the firewall's rule table knew
    # only HAN and CLS. Now its WAN rules are the profiles' endpoints, replaced with each
    # configuration, and a session to anything else is refused (WanError), counted, logged.
    from net import firewall
    from wan import http

    w, d = _wan("fw")
    mq = {"host": "10.0.0.9", "port": 8883, "peer": "broker", "topic": "t"}
    w.configure({"gateway_id": "G", "gwa": {"host": "10.0.0.1", "port": 4431},
                 "emts": [dict(_EMT, host="10.0.0.2", port=4432, mqtt=mq)]}, 1)
    fw = firewall.of(w.ctx)
    eq(sorted(r[2:] for r in fw.rules if r[0] == "wan"),
       [["emt", "10.0.0.2", 4432], ["gwa", "10.0.0.1", 4431], ["mqtt", "10.0.0.9", 8883]])

    async def session(purpose, host, port):
        try:  # allowed, it fails further on: this test's gateway has no certificate
            await http.open_session(w.ctx, w.ident, "x", host, port, 1, purpose)
        except (WanError, OSError) as e:
            return str(e)
        raise AssertionError("a session without a certificate")

    refused = fw.refused
    why = asyncio.run(session("emt", "203.0.113.5", 4432))
    assert "not" in why or "refused" in why, why
    eq(fw.refused, refused + 1)
    eq(fw.last_refusal, "wan out emt 203.0.113.5:4432")
    asyncio.run(session("gwa", "10.0.0.2", 4432))  # an EMT's endpoint is not the GWA's
    eq(fw.refused, refused + 2)
    asyncio.run(session("emt", "10.0.0.2", 4432))  # allowed: fails further on, not here
    eq(fw.refused, refused + 2)
    # a new configuration replaces the WAN rules out: the old EMT and broker are gone; the
    # wake-up rule in (made with its socket at setup) stays
    fw.allow("wan", "in", "wake-up", "*", 40001)
    w.configure({"gateway_id": "G", "gwa": {"host": "10.0.0.1", "port": 4431},
                 "emts": [dict(_EMT, host="10.0.0.3", port=443)]}, 2)
    eq(sorted(r[2:] for r in fw.rules if r[0] == "wan"),
       [["emt", "10.0.0.3", 443], ["gwa", "10.0.0.1", 4431], ["wake-up", "*", 40001]])
