"""MQTT 3.1.1 uplink over mutual TLS against a real mosquitto broker started here."""
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from gwtool import cms_verify
from gwtool.sim_wan import provision_dir

HERE = Path(__file__).parent
pytestmark = pytest.mark.skipif(not shutil.which("mosquitto"), reason="mosquitto missing")


def _port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Broker:
    def __init__(self, pki, tmp, port):
        self.port = port
        self.conf = tmp / "mosquitto.conf"
        d = pki.dir
        self.conf.write_text(
            f"listener {port} 127.0.0.1\ncafile {d}/chain.crt\ncertfile {d}/broker.crt\n"
            f"keyfile {d}/broker.key\nrequire_certificate true\ntls_version tlsv1.2\n"
            "allow_anonymous true\npersistence false\n"
            # as root mosquitto would drop to user "mosquitto", who cannot read pytest's tmp
            + ("user root\n" if os.getuid() == 0 else ""))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


class Subscriber:
    def __init__(self, pki, port):
        import paho.mqtt.client as mqtt

        self.msgs = []
        self.ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="emt1-sub")
        c.tls_set(ca_certs=str(pki.dir / "chain.crt"), certfile=str(pki.dir / "emt1.crt"),
                  keyfile=str(pki.dir / "emt1.key"), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.on_connect = self._on_connect
        c.on_message = lambda cl, u, m: self.msgs.append((m.topic, m.payload, m.qos))
        c.on_disconnect = lambda *a: self.ready.clear()
        c.reconnect_delay_set(0.2, 1)
        c.connect("127.0.0.1", port, keepalive=30)
        c.loop_start()
        self.c = c

    def _on_connect(self, cl, u, flags, rc, props=None):
        cl.subscribe("smgw/#", qos=1)
        time.sleep(0.2)
        self.ready.set()

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


SCRIPT = """
import asyncio, json
from wanctx import Ctx
from crypto.secmod import SoftSecMod
from wan.service import Wan
D = "@D@"
ctx = Ctx()
w = Wan(ctx, SoftSecMod(key_path=D + "/pki/gateway.key"), pki=D + "/pki", qroot=D + "/q")
w.configure({"gateway_id": "GW1", "emts": [{"id": "emt1", "host": "x", "port": 1,
             "tafs": ["TAF1"], "mqtt": {"host": "127.0.0.1", "port": @PORT@,
             "peer": "broker", "topic": "smgw/emt1", "qos": 1, "keepalive_s": 30}}]}, 1)
ob = w.outboxes["emt1"]
res = {}
async def main():
@STEPS@
asyncio.run(main())
res["pending"] = ob.pending()
res["logs"] = ctx.logs
print(json.dumps(res))
"""
FEED = ("for i in range(3): w.on_taf('TAF1', 'm1', '1-0:1.8.0*255', {'capture_time': "
        "1767225600 + 900 * i, 'raw': i, 'scaler': 0, 'unit': 30})\nw.flush()")


def _run(mpy, d, port, steps):
    body = "\n".join("    " + x for x in steps.strip().splitlines())
    code = SCRIPT.replace("@D@", str(d)).replace("@PORT@", str(port)).replace("@STEPS@", body)
    # 512K: the firmware is compiled from .py source here (crypto.p256g's table literal
    # alone needs ~8 KB in one piece); a board imports .mpy from ROMFS
    return mpy.json(code, path=[HERE], heapsize="512K", timeout=120)


def test_mqtt_publish_qos1_reconnect(mpy, pki, tmp_path):
    pki.issue("broker")
    port = _port()
    broker = Broker(pki, tmp_path, port).start()
    sub = Subscriber(pki, port)
    try:
        assert sub.ready.wait(10)
        d = provision_dir(pki, tmp_path / "data", ["broker", "emt1"])
        # connect, keep-alive ping, QoS 0 and QoS 1 through the persisted queue
        out = _run(mpy, d, port, FEED + """
from wan.mqtt import MqttClient
m = MqttClient(ctx, w.ident, {"host": "127.0.0.1", "port": @PORT@, "peer": "broker"}, "t")
await m.connect()
await m.ping()
await m.publish("smgw/qos0", b"hello", qos=0)
res["pid"] = await m.publish("smgw/qos1", b"world", qos=1)
await m.close(graceful=True)
res["sent"] = await ob.send_one()
""".replace("@PORT@", str(port)))
        assert out["sent"] is True and out["pending"] == 0 and out["pid"] == 1
        deadline = time.monotonic() + 10
        while len(sub.msgs) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        topics = {t: (p, q) for t, p, q in sub.msgs}
        assert topics["smgw/qos0"][0] == b"hello" and topics["smgw/qos1"] == (b"world", 1)
        cms_topics = [t for t in topics if t.startswith("smgw/emt1/")]
        assert cms_topics == ["smgw/emt1/GW1.emt1.1"]
        key = cms_verify.load_key(pki.dir / "emt1.key")
        cert = x509.load_pem_x509_certificate((pki.dir / "emt1.crt").read_bytes())
        trusted = [x509.load_pem_x509_certificate((pki.dir / f"{n}.crt").read_bytes())
                   for n in ("sub", "root")]
        r = cms_verify.open_payload(topics[cms_topics[0]][0], key, cert, trusted)
        assert r["content"].count(b"<Entry ") == 3
        # broker down: the payload stays queued; broker back: delivered, exactly once
        broker.stop()
        out = _run(mpy, d, port, FEED + """
try:
    await ob.send_one()
except Exception as e:
    res["err"] = type(e).__name__
""")
        assert out["err"] == "WanError" and out["pending"] == 1
        broker.start()
        assert sub.ready.wait(10)
        out = _run(mpy, d, port, "res['sent'] = await ob.send_one()")
        assert out["sent"] is True and out["pending"] == 0, out
        deadline = time.monotonic() + 10
        while len(sub.msgs) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        cms_topics = [t for t, p, q in sub.msgs if t.startswith("smgw/emt1/")]
        assert cms_topics == ["smgw/emt1/GW1.emt1.1", "smgw/emt1/GW1.emt1.2"]
    finally:
        sub.stop()
        broker.stop()
