"""CLS proxy edges over real sockets and TLS on loopback: an EMT that is down, presents a
certificate the gateway must not accept, or never answers TLS is refused before the
session counts as open ("cls.emt" with the reason, the device's bytes never reach it); a
device that half-closes still gets the EMT's answer; a device that reconnects shortly
after closing is not refused while its old sessions wait for the EMT."""
import socket
import threading
import time

import pytest
from gwtool.pki import Pki
from gwtool.sim_han import EchoEmt
from hanfixture import FakeGateway
from test_cls import connect, stats


def cls_logs(g):
    return [x for x in stats(g)["logs"] if x[1].startswith("cls.")]


def wait_log(g, event, n=1, timeout=6):
    t0 = time.monotonic()
    while True:
        logs = cls_logs(g)
        if sum(1 for x in logs if x[1] == event) >= n or time.monotonic() - t0 > timeout:
            return logs
        time.sleep(0.2)


class DelayedEmt(EchoEmt):
    """Answers one request of 5 bytes after `delay` s, then keeps the session open."""

    delay = 1.0

    def _echo(self, c):
        try:
            c.settimeout(30)
            s = self.ctx.wrap_socket(c, server_side=True)
            self.sessions += 1
            got = b""
            while len(got) < 5:
                d = s.recv(100)
                if not d:
                    return
                got += d
            self.bytes += len(got)
            time.sleep(self.delay)
            s.sendall(b"reply:" + got)
            time.sleep(8)
            s.close()
        except OSError:
            c.close()


class SilentServer:
    """Accepts TCP and never says a word (an EMT that does not answer TLS)."""

    def __init__(self, port):
        self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.conns = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    answer = None  # bytes: said (instead of TLS) to each client, which is then closed

    def _serve(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
                if self.answer is not None:
                    c.recv(1024)
                    c.sendall(self.answer)
                    c.close()
            except OSError:
                continue

    def stop(self):
        self._stop = True
        time.sleep(0.3)
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def gw(tmp_path):
    g = FakeGateway(tmp_path, {"han": {"cls_idle_s": 3, "cls_life_s": 30}}, with_cls=True)
    yield g
    g.stop()


def replace_emt(g, make):
    port = g.emt.port
    g.emt.stop()
    time.sleep(0.5)  # its accept loop polls every 0.2 s
    g.emt = make(port)
    return g.emt


def device_exchange(g, data=b"hello"):
    """Send as a device; what comes back before the gateway ends the connection."""
    s = connect(g)
    s.settimeout(10)
    got = b""
    try:
        s.sendall(data)
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except OSError:  # reset: the gateway closed with the device's bytes unread
        pass
    finally:
        s.close()
    return got


def test_emt_down_is_an_emt_failure_not_an_open_session(gw):
    gw.emt.stop()
    time.sleep(0.5)
    assert device_exchange(gw) == b""
    logs = wait_log(gw, "cls.emt")
    emt = [x[2] for x in logs if x[1] == "cls.emt"]
    assert emt and "unreachable" in emt[-1] and "ECONNREFUSED" in emt[-1], logs
    assert not any(x[1] in ("cls.open", "cls.close") for x in logs), logs


@pytest.mark.parametrize("case", ["other-ca", "wrong-name"])
def test_emt_with_a_certificate_not_accepted_is_refused_before_open(gw, tmp_path, case):
    if case == "other-ca":  # the right name, signed by a CA the gateway does not trust
        paths = Pki(tmp_path / "other-pki").issue("emt-x", cn="emt1")
        want = "not correctly signed"
    else:  # the gateway's CA, but another EMT's name
        paths = Pki(tmp_path / "han-pki" / "ca").issue("emt-y", cn="emt-other")
        want = "CN"
    emt = replace_emt(gw, lambda port: EchoEmt(paths["crt"], paths["key"], port=port).start())
    assert device_exchange(gw, b"meter secrets") == b""
    logs = wait_log(gw, "cls.emt")
    emt_logs = [x[2] for x in logs if x[1] == "cls.emt"]
    assert emt_logs and want in emt_logs[-1], logs
    assert not any(x[1] == "cls.open" for x in logs), logs
    assert emt.bytes == 0  # nothing of the device's reached it


def test_emt_that_never_answers_tls_times_out_as_emt_failure(gw):
    srv = replace_emt(gw, SilentServer)
    try:
        t0 = time.monotonic()
        assert device_exchange(gw) == b""
        took = time.monotonic() - t0
        logs = wait_log(gw, "cls.emt")
        emt = [x[2] for x in logs if x[1] == "cls.emt"]
        assert emt and "ETIMEDOUT" in emt[-1], logs  # min(cls_idle_s, 10 s) for TLS
        assert not any(x[1] == "cls.open" for x in logs), logs
        assert 2 < took < 6, took
    finally:
        srv.stop()
        gw.emt = None


class PlainServer(SilentServer):
    answer = b"HTTP/1.0 400 Bad Request\r\n\r\n"


def test_emt_that_does_not_speak_tls_is_refused(gw):
    srv = replace_emt(gw, PlainServer)
    try:
        assert device_exchange(gw) == b""
        logs = wait_log(gw, "cls.emt")
        assert any(x[1] == "cls.emt" and "unreachable" in x[2] for x in logs), logs
        assert not any(x[1] == "cls.open" for x in logs), logs
    finally:
        srv.stop()
        gw.emt = None


def test_half_closed_device_still_gets_the_emt_answer(gw):
    crt = gw.workdir / "han-pki" / "ca" / "emt-cls.crt"
    key = gw.workdir / "han-pki" / "ca" / "emt-cls.key"
    replace_emt(gw, lambda port: DelayedEmt(crt, key, port=port).start())
    s = connect(gw)
    s.settimeout(10)
    s.sendall(b"hello")
    s.shutdown(socket.SHUT_WR)  # request sent, now waiting for the answer
    got = b""
    while True:
        d = s.recv(100)
        if not d:
            break
        got += d
    s.close()
    assert got == b"reply:hello"
    logs = wait_log(gw, "cls.close")
    assert "up 5 bytes, down 11 bytes, closed" in [x for x in logs
                                                    if x[1] == "cls.close"][-1][2], logs


def test_device_reconnecting_after_close_is_not_refused(gw):
    """Guard for the half-close fix: lingering sessions must not hold the pair's slots."""
    # two sessions (the limit) whose devices closed while the EMT said nothing more: they
    # wait for a late answer, but give way to the device's next connections
    for _ in range(2):
        ss = [connect(gw) for _ in range(2)]
        for s in ss:
            s.settimeout(10)
            s.sendall(b"ping!")
            assert s.recv(10) == b"ping!"
        for s in ss:
            s.close()
        time.sleep(0.3)  # the gateway reads their EOF
    logs = cls_logs(gw)
    assert not any(x[1] == "cls.refuse" for x in logs), logs
    # the limit itself still holds: a third open session is refused and logged
    ss = [connect(gw) for _ in range(3)]
    try:
        got = []
        for s in ss:
            s.settimeout(5)
            try:
                s.sendall(b"x")
                got.append(s.recv(10))
            except OSError:
                got.append(b"")
        assert sorted(got) == [b"", b"x", b"x"], got
        logs = wait_log(gw, "cls.refuse")
        assert any(x[1] == "cls.refuse" and "too many" in x[2] for x in logs), logs
    finally:
        for s in ss:
            s.close()
