# Firewall rule table and CLS configuration edges inside MicroPython: malformed endpoints
# are typed errors, no outbound wildcard, the self-test leaves no fake refusal behind, a
# CLS pair without a device address admits nobody, the EMT control channel reads bounded
# lines (a 128 KiB board must survive an endless line).
# heapsize: 192K
import asyncio
import gc
import json
import socket

from mptest import eq
from mptest import raises as _raises

from net.firewall import Firewall, FirewallError


def raises(exc, f, *a):
    with _raises(exc) as r:
        f(*a)
    return r.value


def _pair(**kw):
    p = {"name": "wb", "port": 24001, "device": "10.0.0.7",
         "emt": {"host": "127.0.0.1", "port": 24002, "name": "emt"}}
    p.update(kw)
    return p


def test_outbound_wildcard_and_bad_endpoints_are_typed_errors():
    logs = []
    fw = Firewall(lambda *a: logs.append(a))
    # "*" is for listeners only: outbound it would open the WAN to every host
    raises(FirewallError, fw.allow, "wan", "out", "emt", "*", 443)
    assert not fw.check("wan", "out", "emt", "203.0.113.9", 443)
    for host, port in (("127.0.0.1", "443"), ("127.0.0.1", 0), ("127.0.0.1", 70000),
                       ("127.0.0.1", -1), ("127.0.0.1", True), ("127.0.0.1", None),
                       ("", 443), (None, 443), ("a b", 443), ("a|b", 443)):
        e = raises(FirewallError, fw.allow, "wan", "out", "gwa", host, port)
        assert "bad endpoint" in str(e), e
    eq(fw.rules, [])
    # overlapping rules: the same endpoint twice is one rule; revoking one purpose leaves
    # the other purpose's identical endpoint
    fw.allow("wan", "out", "emt", "127.0.0.1", 443)
    fw.allow("wan", "out", "emt", "127.0.0.1", 443)
    fw.allow("wan", "out", "gwa", "127.0.0.1", 443)
    eq(len(fw.rules), 2)
    fw.revoke("gwa")
    assert fw.check("wan", "out", "emt", "127.0.0.1", 443)
    assert not fw.check("wan", "out", "gwa", "127.0.0.1", 443)
    # a listener wildcard is fine, inbound only
    fw.allow("cls", "in", "cls-proxy", "*", 24003)
    assert fw.check("cls", "in", "cls-proxy", "0.0.0.0", 24003)
    assert not fw.check("wan", "in", "cls-proxy", "0.0.0.0", 24003)


def test_self_test_leaves_the_last_refusal_alone_and_flags_outbound_wildcards():
    fw = Firewall(lambda *a: None)
    raises(FirewallError, fw.connect, "han", "emt", "127.0.0.1", 1)
    real = fw.last_refusal
    assert fw.self_test()["ok"]
    eq(fw.last_refusal, real)  # not the self-test's probe flow
    eq(fw.status()["refused"], 1)
    fw.rules.append(["wan", "out", "emt", "*", 443])  # smuggled past allow()
    st = fw.self_test()
    assert not st["ok"], st


def test_cls_pairs_are_checked_and_a_pair_without_device_admits_nobody():
    from han.cls import ClsError, ClsProxy

    fw = Firewall()
    logs = []
    bad = [_pair(device=None), _pair(device=""), _pair(device="localhost"),
           _pair(device="10.0.0.256"), _pair(device="10.0.0"), _pair(port="24001"),
           _pair(port=0), _pair(name=""), _pair(emt=None), _pair(emt={"host": "h"}),
           _pair(emt={"host": "*", "port": 1}), _pair(emt={"host": "h", "port": 65536}), 5]
    p = _pair()
    del p["device"]
    bad.append(p)
    for p in bad:
        raises(ClsError, ClsProxy, fw, [p], logs.append, None)
        raises(ValueError, ClsProxy, fw, [p], logs.append, None)  # han.service catches it
    raises(ClsError, ClsProxy, fw, [_pair(), _pair(port=24009)], logs.append, None)
    eq(fw.rules, [])
    # a configured device is the only address admitted, everybody else is logged
    proxy = ClsProxy(fw, [_pair()], lambda *a: logs.append(a), None)
    assert proxy._accept(_pair(), "10.0.0.7")
    assert not proxy._accept(_pair(), "10.0.0.8")
    eq(logs[-1][1], "cls.refuse")


async def test_control_channel_survives_an_endless_line():
    from han.control import OutputControl

    class Outputs:
        state = {"OUT1": 0}

    gc.collect()
    port = 24011
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    srv.listen(1)
    srv.setblocking(False)
    answers = []

    async def emt():
        # the EMT side (plain TCP here): 400 KB without a newline, then a command
        yield asyncio.core._io_queue.queue_read(srv)
        c, _ = srv.accept()
        c.setblocking(False)
        s = asyncio.StreamReader(c)
        chunk = b"x" * 4096
        for _ in range(100):
            s.write(chunk)
            await s.drain()
        s.write(b"\n" + b'{"cmd": "state"}\n')
        await s.drain()
        for _ in range(2):
            answers.append(await s.readline())
        await s.wait_closed()

    fw = Firewall()
    logs = []
    ctl = OutputControl(fw, {"name": "ems", "emt": {"host": "127.0.0.1", "port": port}},
                        Outputs(), lambda *a: logs.append(a), lambda: None)
    t = asyncio.create_task(emt())
    await asyncio.wait_for(ctl.session(), 20)  # ends when the EMT closes
    await t
    srv.close()
    eq(json.loads(answers[0]), {"ok": False, "error": "line too long"})
    eq(json.loads(answers[1]), {"ok": True, "state": {"OUT1": 0}})
    eq(ctl.commands, 1)
