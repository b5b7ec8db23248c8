"""CLS proxy: a CLS device on loopback -> gateway CLS port -> TLS to a host EMT echo
server; only configured pairs and device addresses; idle and lifetime limits; counts
logged. The gateway checks the EMT certificate against the configured CA."""
import socket
import time

import pytest
import requests
from hanfixture import FakeGateway

from gwtool.vboard import free_port


def stats(g):
    s = requests.Session()
    s.trust_env = False
    s.verify = g.ca
    s.auth = requests.auth.HTTPDigestAuth(*g.user("technician"))
    return s.get(g.url + "/test/stats").json()


@pytest.fixture(scope="module")
def cgw(tmp_path_factory):
    wd = tmp_path_factory.mktemp("cls")
    g = FakeGateway(wd, {"han": {"cls_idle_s": 1, "cls_life_s": 4}}, with_cls=True)
    yield g
    g.stop()


def connect(g, port=None):
    host, p = g.cls.split(":")
    return socket.create_connection((host, port or int(p)), timeout=10)


def test_round_trip_through_proxy(cgw):
    s = connect(cgw)
    try:
        for i in range(3):
            msg = b"wallbox says %d " % i * 100
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += s.recv(4096)
            assert got == msg
    finally:
        s.close()
    # the device's EOF may be a half-close: the EMT's answer is still relayed for up to
    # min(cls_idle_s, 5 s) of quiet (han.cls), then the session ends
    t0 = time.monotonic()
    while True:
        time.sleep(0.3)
        logs = [x for x in stats(cgw)["logs"] if x[1].startswith("cls.")]
        if any(x[1] == "cls.close" for x in logs) or time.monotonic() - t0 > 3:
            break
    assert cgw.emt.sessions >= 1
    assert any(x[1] == "cls.open" for x in logs)
    close = [x for x in logs if x[1] == "cls.close"]
    assert close and "up 4500 bytes, down 4500 bytes" in close[-1][2], logs


def test_idle_and_lifetime_limits(cgw):
    s = connect(cgw)
    s.sendall(b"x")
    assert s.recv(10) == b"x"
    t0 = time.monotonic()
    s.settimeout(6)
    assert s.recv(10) == b""  # the gateway closed it after 1 s idle
    assert time.monotonic() - t0 < 4
    s.close()
    s = connect(cgw)
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < 8:
        try:
            s.sendall(b"y")
            if s.recv(10) == b"":
                closed = True
                break
        except OSError:
            closed = True
            break
        time.sleep(0.4)
    s.close()
    assert closed and 3.5 < time.monotonic() - t0 < 7
    time.sleep(0.5)
    why = [x[2] for x in stats(cgw)["logs"] if x[1] == "cls.close"]
    assert any(", idle," in w for w in why) and any(", lifetime," in w for w in why), why


def test_unconfigured_port_and_device_refused(tmp_path):
    g = FakeGateway(tmp_path, {"han": {"cls": [
        {"name": "foreign", "port": free_port(), "device": "10.9.9.9",
         "emt": {"host": "127.0.0.1", "port": 9, "name": "x"}}], "cls_verify": False}})
    try:
        # the configured pair only admits its device address: loopback is refused
        s = connect(g)
        s.settimeout(5)
        assert s.recv(10) == b""
        s.close()
        # any other port is not open at all
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", free_port()), timeout=2)
        logs = stats(g)["logs"]
        assert any(x[1] == "cls.refuse" and "10.9.9.9" not in x[2] and "127.0.0.1" in x[2]
                   for x in logs), logs
    finally:
        g.stop()


def test_emt_switches_outputs_through_control_channel(tmp_path):
    import json

    from gwtool.sim_han import CommandEmt

    ca = tmp_path / "han-pki" / "ca"
    from gwtool.pki import Pki
    from gwtool.sim_han import pem_to_der

    p = Pki(ca)
    paths = p.issue("emt-ctl", cn="emt2")
    sub = pem_to_der(ca / "sub.crt", ca / "sub.der")
    emt = CommandEmt(paths["crt"], paths["key"])
    emt.queue = [{"cmd": "switch", "output": "OUT2", "on": True},
                 {"cmd": "switch", "output": "RELAY", "on": True},
                 {"cmd": "switch", "output": "RELAY", "on": True},
                 {"cmd": "switch", "output": "OUT9", "on": True},
                 b"not json\n",
                 {"cmd": "state"}]
    emt.start()
    g = FakeGateway(tmp_path, {"han": {"cls": [
        {"name": "ems", "device": "outputs",
         "emt": {"host": "127.0.0.1", "port": emt.port, "name": "emt2"}}],
        "cls_ca_files": [str(sub)], "cls_verify": True}})
    try:
        assert emt.done.wait(20)
        r = emt.replies
        assert r[0] == {"ok": True, "output": "OUT2", "on": True, "changed": True}
        assert r[1]["changed"] is True and r[2]["changed"] is False
        assert r[3]["ok"] is False and "OUT9" in r[3]["error"]
        assert r[4]["ok"] is False
        assert r[5]["state"] == {"OUT1": 0, "OUT2": 1, "OUT3": 0, "RELAY": 1}
        assert json.loads((tmp_path / "outputs.json").read_text())["RELAY"] == 1
        time.sleep(0.3)
        logs = stats(g)["logs"]
        sw = [x[2] for x in logs if x[1] == "out.switch"]
        assert sw == ["OUT2 on by emt:ems", "RELAY on by emt:ems"], logs
    finally:
        g.stop()
        emt.stop()
