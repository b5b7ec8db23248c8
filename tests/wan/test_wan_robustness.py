"""WAN input a peer may send that the other tests do not: a malformed MQTT broker over real
mutual TLS on loopback. Expected: a typed error (WanError), logged, the payload kept."""
import socket
import ssl
import threading
from pathlib import Path

from gwtool.emt_server import server_context
from gwtool.sim_wan import provision_dir
from test_mqtt import FEED, _run  # the same MicroPython side as the mosquitto tests

HERE = Path(__file__).parent


class BadBroker:
    """A TLS MQTT broker on loopback that answers CONNECT with CONNACK, then each PUBLISH
    with `reply` (raw bytes; None: the PUBACK for it) and keeps the connection open."""

    def __init__(self, pki, reply):
        self.ctx = server_context(pki.dir, "broker")
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.publishes = 0
        self.topics = []
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _packet(self, s):
        h = s.recv(1)
        if not h:
            return None, b""
        n, shift = 0, 0
        while True:
            b = s.recv(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        body = b""
        while len(body) < n:
            k = s.recv(n - len(body))
            if not k:
                break
            body += k
        return h[0], body

    def _conn(self, c):
        try:
            s = self.ctx.wrap_socket(c, server_side=True)
            s.settimeout(10)
            t, _ = self._packet(s)
            if t != 0x10:
                return
            s.sendall(b"\x20\x02\x00\x00")
            while True:
                t, body = self._packet(s)
                if t is None:
                    return
                if t & 0xF0 == 0x30:
                    self.publishes += 1
                    n = int.from_bytes(body[:2], "big")
                    self.topics.append(body[2:2 + n].decode())
                    pid = body[2 + n:4 + n]
                    s.sendall(self.reply if self.reply is not None else b"\x40\x02" + pid)
        except (OSError, ssl.SSLError, IndexError):
            pass
        finally:
            c.close()

    def close(self):
        self.stop.set()
        self.sock.close()


def test_mqtt_broker_huge_remaining_length(mpy, pki, tmp_path):
    # a PUBACK announcing 256 MiB: the client must refuse it (typed), not allocate it
    pki.issue("broker")
    broker = BadBroker(pki, b"\x40\xff\xff\xff\x7f")
    try:
        d = provision_dir(pki, tmp_path / "data", ["broker", "emt1"])
        out = _run(mpy, d, broker.port, FEED + """
try:
    await ob.send_one()
except Exception as e:
    res["err"] = type(e).__name__
    res["reason"] = str(e)
await ob.deliver()  # what Wan.deliver calls: logs and backs off
""")
    finally:
        broker.close()
    assert broker.publishes >= 1
    assert out["err"] == "WanError" and "MQTT" in out["reason"], out
    assert out["pending"] == 1, out
    retry = [x for x in out["logs"] if x[1] == "wan.retry"]
    assert retry and retry[-1][0] == 2, out["logs"]  # a WAN failure, not an error


RECONF = """
import asyncio, json
from wanctx import Ctx
from crypto.secmod import SoftSecMod
from wan.service import Wan
D = "@D@"
ctx = Ctx()
w = Wan(ctx, SoftSecMod(key_path=D + "/pki/gateway.key"), pki=D + "/pki", qroot=D + "/q")
def profile(port):
    return {"gateway_id": "GW1", "emts": [{"id": "emt1", "host": "x", "port": 1,
            "tafs": ["TAF1"], "mqtt": {"host": "127.0.0.1", "port": port,
            "peer": "broker", "topic": "smgw/emt1", "qos": 1, "keepalive_s": 30}}]}
def value(i):
    w.on_taf("TAF1", "m1", "1-0:1.8.0*255", {"capture_time": 1767225600 + 900 * i,
             "raw": i, "unit": 30})
    w.flush()
res = {"sent": []}
async def main():
    w.configure(profile(@A@), 1)
    value(0)
    res["sent"].append(await w.outboxes["emt1"].send_one())
    w.configure(profile(@B@), 2)  # the EMT moved its broker (same TAFs)
    await asyncio.sleep_ms(50)
    value(1)
    res["sent"].append(await w.outboxes["emt1"].send_one())
asyncio.run(main())
res["pending"] = w.outboxes["emt1"].pending()
print(json.dumps(res))
"""


def test_mqtt_broker_change_by_configuration(mpy, pki, tmp_path):
    # a new configuration moves the EMT to another broker: the next payload goes there
    pki.issue("broker")
    a, b = BadBroker(pki, None), BadBroker(pki, None)
    try:
        d = provision_dir(pki, tmp_path / "data", ["broker", "emt1"])
        code = (RECONF.replace("@D@", str(d)).replace("@A@", str(a.port))
                .replace("@B@", str(b.port)))
        out = mpy.json(code, path=[HERE], heapsize="512K", timeout=120)
    finally:
        a.close()
        b.close()
    assert out["sent"] == [True, True] and out["pending"] == 0, out
    assert a.topics == ["smgw/emt1/GW1.emt1.1"], a.topics
    assert b.topics == ["smgw/emt1/GW1.emt1.2"], b.topics
