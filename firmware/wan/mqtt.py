"""MQTT 3.1.1 client (OASIS mqtt-v3.1.1, 2014) over the WAN TLS session, asyncio.

Uplink only: CONNECT/CONNACK (clean session, keep-alive), PUBLISH QoS 0 and 1 (PUBACK),
PINGREQ/PINGRESP, DISCONNECT. Structure after mqtt_as: `MqttClient` speaks the protocol
and raises WanError; `publish_reliable` owns resilience (reconnect with exponential
backoff and jitter, QoS 1 retransmission with DUP after a reconnect). The connection is
re-established when the TLS session reaches its 48 h limit (wan.tlsconn).
An EMT profile with "mqtt": {"peer", "host", "port", "topic", "qos", "keepalive_s"}
gets its queued CMS payloads published to "<topic>/<delivery id>" instead of HTTP POST;
a QoS 1 PUBACK is the acknowledgement that lets the queue drop the payload.
"""
import asyncio

from wan.tlsconn import WanError, open_session

CONNECT = const(0x10)
CONNACK = const(0x20)
PUBLISH = const(0x30)
PUBACK = const(0x40)
PINGREQ = const(0xC0)
PINGRESP = const(0xD0)
DISCONNECT = const(0xE0)
# what a broker sends an uplink-only client (CONNACK, PUBACK, PINGRESP) is a few bytes: a
# longer remaining length is refused before anything is allocated for it
_MAX_IN = const(256)


def _varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def connect_packet(client_id, keepalive_s, clean=True):
    vh = _str("MQTT") + bytes((4, 0x02 if clean else 0)) + keepalive_s.to_bytes(2, "big")
    body = vh + _str(client_id)
    return bytes((CONNECT,)) + _varlen(len(body)) + body


def publish_header(topic, n, qos=0, pid=0, dup=False, retain=False):
    flags = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    vh = _str(topic) + (pid.to_bytes(2, "big") if qos else b"")
    return bytes((PUBLISH | flags,)) + _varlen(len(vh) + n) + vh


class MqttClient:
    def __init__(self, ctx, ident, cfg, client_id):
        self.ctx = ctx
        self.ident = ident
        self.cfg = cfg
        self.client_id = client_id
        self.keepalive = cfg.get("keepalive_s", 60)
        self.session = None
        self.pid = 0
        self.last_tx = 0
        self.connects = 0

    async def _read_packet(self, timeout_s):
        r = self.session.reader
        try:
            h = await asyncio.wait_for(r.readexactly(1), timeout_s)
            n = 0
            shift = 0
            while True:
                b = (await r.readexactly(1))[0]
                n |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
                if shift > 21:
                    raise WanError("MQTT bad length", "mqtt")
            if n > _MAX_IN:
                raise WanError("MQTT packet %02x of %d bytes" % (h[0], n), "mqtt")
            body = await r.readexactly(n) if n else b""
        except asyncio.TimeoutError:
            raise WanError("MQTT timeout", "mqtt")
        except (OSError, EOFError) as e:
            raise WanError("MQTT read: %s" % e, "mqtt")
        return h[0], body

    async def _write(self, *parts):
        w = self.session.writer
        try:
            for p in parts:
                w.write(p)
            await w.drain()
        except OSError as e:
            raise WanError("MQTT write: %s" % e, "mqtt")
        self.last_tx = self.ctx.now()

    async def connect(self):
        c = self.cfg
        self.session = await open_session(self.ctx, self.ident, c["peer"], c["host"], c["port"],
                                          purpose="mqtt")
        await self._write(connect_packet(self.client_id, self.keepalive))
        t, body = await self._read_packet(30)
        if t != CONNACK or len(body) != 2 or body[1] != 0:
            await self.close()
            raise WanError("MQTT CONNACK refused (%r)" % bytes(body), "mqtt")
        self.connects += 1

    async def close(self, graceful=False):
        if self.session:
            if graceful:
                try:
                    await self._write(bytes((DISCONNECT, 0)))
                except WanError:
                    pass
            await self.session.close()
            self.session = None

    def connected(self):
        return self.session is not None and not self.session.expired(self.ctx.now())

    async def ping(self):
        await self._write(bytes((PINGREQ, 0)))
        t, _ = await self._read_packet(self.keepalive)
        if t != PINGRESP:
            raise WanError("MQTT no PINGRESP", "mqtt")

    async def publish(self, topic, payload, qos=1, dup=False, pid=None):
        if qos not in (0, 1):
            raise WanError("QoS %d not supported" % qos, "mqtt")
        if qos and pid is None:
            self.pid = self.pid % 65535 + 1
            pid = self.pid
        await self._write(publish_header(topic, len(payload), qos, pid or 0, dup), payload)
        if qos == 0:
            return None
        while True:
            t, body = await self._read_packet(30)
            if t == PUBACK and int.from_bytes(body[:2], "big") == pid:
                return pid
            if t == PINGRESP:
                continue
            raise WanError("MQTT unexpected packet %02x" % t, "mqtt")

    async def publish_reliable(self, topic, payload, qos=1, attempts=5, backoff_s=1):
        """Publish, reconnecting as needed; QoS 1 is retried with DUP set."""
        pid = None
        for i in range(attempts):
            try:
                if not self.connected():
                    await self.close()
                    await self.connect()
                elif self.ctx.now() - self.last_tx >= self.keepalive:
                    await self.ping()
                if qos and pid is None:
                    self.pid = self.pid % 65535 + 1
                    pid = self.pid
                return await self.publish(topic, payload, qos, dup=i > 0, pid=pid)
            except WanError as e:
                await self.close()
                if i == attempts - 1:
                    raise
                d = backoff_s * (1 << i) * (0.5 + self.ctx_random() / 255)
                self.ctx.log(2, "wan.mqtt", "%s; reconnect in %.1f s" % (e.reason, d))
                await self.ctx.sleep(d)

    def ctx_random(self):
        import os

        return os.urandom(1)[0]

    async def keepalive_loop(self):
        """Keep an idle connection alive (PINGREQ at keep-alive intervals)."""
        while True:
            await self.ctx.sleep(max(1, self.keepalive // 2))
            if self.session is not None:
                if self.session.expired(self.ctx.now()):
                    await self.close(graceful=True)
                elif self.ctx.now() - self.last_tx >= self.keepalive // 2:
                    try:
                        await self.ping()
                    except WanError:
                        await self.close()
