"""Delivery of TAF values to one EMT: pending values -> CMS payloads -> EMT, exactly once.

Persisted queues per EMT (wan.queue): "<id>.<TAF>" holds each TAF value as it arrives
(JSON), "<id>.out" the built payloads. Every `schedule_s` (gateway time, on the grid)
the pending values of a TAF become one payload: COSEM XML (pseudonymised per profile),
signed and encrypted (crypto.cms), appended to ".out" with a header naming the last
input record it covers; then the input queue is trimmed. After a power cut between the
two steps the header tells what is already covered, so no value is sent twice or lost.

A payload leaves ".out" only when the EMT acknowledged its delivery id
(HTTP 200 with {"ack": id}); failures retry with exponential backoff and jitter
(retry_min_s doubling up to retry_max_s, times a random factor 0.5..1.5). Delivery id:
"<gateway or alias>.<emt>.<out seq>" - unique, stable across retries and reboots, so the
EMT drops duplicates (a lost acknowledgement makes the gateway send it again).
"""
import json

from crypto.kdf import hmac_sha256
from texts import msg, unload

from wan import TAKE_MS
from wan.queue import open_queue
from wan.tlsconn import WanError

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("%s %s (MQTT)|%s %s: value of %s %s not queued: %s|%s: %s; retry in %d s"
           "|%s: bad pending record %d|%s: record %d missing|no acknowledgement for "
           "|wan.delivered")


_IN_CAP = const(512)  # values per TAF between two payloads (record store: 128/segment)
_EARLY = const(384)  # build a payload before the schedule when this many are pending


def _values(q, grp, i):
    """The values of channel i of a flush group (Outbox.flush) read from the input queue:
    the payload is made twice (hash, then encryption), and reading the records again
    each time holds one value at a time instead of all as tuples."""
    seqs, chs = grp[1], grp[2]
    for j in range(len(seqs)):
        if chs[j] == i:
            v = json.loads(q.read(seqs[j]))
            yield (v["t"], v["r"], v["s"], v["u"], v["st"])


def _t(v):
    return v[0]


def _find(keys, m, o):
    """Channel index of (m, o) in the flat key list of a flush group, or -1."""
    for i in range(0, len(keys), 2):
        if keys[i] == m and keys[i + 1] == o:
            return i >> 1
    return -1


class Emt:
    """One EMT profile (the "emts" entries of the "wan" section, checked by wan.profiles)."""

    def __init__(self, d):
        self.id = d["id"]
        self.host = d["host"]
        self.port = d["port"]
        self.path = d.get("path", "/deliver")
        self.peer = d.get("peer", self.id)
        self.enc_cert = d.get("enc_cert", self.peer)
        self.tafs = d.get("tafs", ["TAF7"])
        self.schedule_s = d.get("schedule_s", 900)
        self.alias = d.get("alias")
        self._pkey = (d.get("pseudonym_key") or self.alias or "").encode()
        self.mqtt = d.get("mqtt")

    def gateway_name(self, gateway_id):
        return self.alias or gateway_id

    def meter_name(self, meter):
        if not self.alias:
            return meter
        return "%s-%s" % (self.alias, hmac_sha256(self._pkey, meter.encode())[:6].hex())


class Outbox:
    def __init__(self, wan, emt):
        self.wan = wan
        self.ctx = wan.ctx
        self.emt = emt
        r = wan.qroot
        self.inqs = {t: open_queue(self.ctx, "%s.%s" % (emt.id, t), _IN_CAP, r)
                     for t in emt.tafs}
        self.outq = open_queue(self.ctx, emt.id + ".out", 2000, r, big=True)
        self.retry_min_s = wan.retry_min_s
        self.retry_max_s = wan.retry_max_s
        self.backoff = 0
        self.delivered = 0
        self.failures = 0
        self.retry_at = 0  # gateway ms of the next attempt after a failure (0: none)
        # recovery: a payload in ".out" covers its TAF's values up to "upto": drop those
        # from the TAF's input queue (they may still be there after a power cut); only
        # the header line of each payload is read
        upto = {}
        for seq in self.outq.iter(self.outq.first_seq):
            fs = self.outq.open(seq)
            if fs is None:
                continue
            try:
                h = json.loads(fs[0].readline())
            except ValueError:
                continue
            finally:
                fs[0].close()
            upto[h["taf"]] = max(upto.get(h["taf"], 0), h["upto"])
        for t, u in upto.items():
            q = self.inqs.get(t)
            if q is not None and u >= q.first_seq:
                q.trim(u)

    # ---- intake ----------------------------------------------------------------------
    def add(self, taf, meter, obis, value):
        q = self.inqs.get(taf)
        if q is None:
            return False
        v = {"m": meter, "o": obis, "t": value["capture_time"], "r": value["raw"],
             "s": value.get("scaler", 0), "u": value.get("unit", 255),
             "st": value.get("status")}
        try:
            q.append(json.dumps(v).encode())
        except Exception as e:  # noqa: BLE001 - QueueFull / StoreFull / OSError
            self.ctx.log(3, "wan.queue", msg(_T, 1) % (
                self.emt.id, taf, meter, obis, e))
            return False
        if q.last_seq - q.first_seq + 1 >= _EARLY:  # many channels: build now
            self.flush(self.ctx.now(), (taf,))
        return True

    def flush(self, now, tafs=None):
        """Turn pending values into payloads, one per TAF. Returns payloads built."""
        from array import array

        built = 0
        for taf in tafs or sorted(self.inqs):
            q = self.inqs[taf]
            # the group of values to send, without a Python object per value or channel
            # (RAM in a build: a list and a closure per channel of 41 were ~12 KB):
            # (meter, obis, meter, obis, ... per channel in order of arrival: the
            # strings are the core's interned ones; sequence number and channel index
            # per value; per channel 1 while its capture times ascend)
            keys = []
            grp = (keys, array("I"), array("H"), bytearray())
            last_t = array("I")
            n = 0
            last = None
            for s in q.iter(q.first_seq):
                last = s
                rec = q.read(s)
                try:
                    v = json.loads(rec)
                    m, o = v["m"], v["o"]
                    t = int(v["t"])
                except (TypeError, ValueError, KeyError, OverflowError):
                    self.ctx.log(3, "wan.queue", msg(_T, 3) % (self.emt.id, s))
                    continue
                i = _find(keys, m, o)
                if i < 0:
                    i = len(last_t)
                    keys.append(m)
                    keys.append(o)
                    last_t.append(t)
                    grp[3].append(1)
                elif t < last_t[i]:
                    grp[3][i] = 0  # out of capture-time order: build() sorts it
                last_t[i] = t
                grp[1].append(s)
                grp[2].append(i)
                n += 1
            last_t = None
            if last is None:
                continue
            # the delivery id inside the signed content binds it to the payload
            did = self.delivery_id(self.outq.last_seq + 1)
            head = {"upto": last, "taf": taf, "t": now, "n": n}
            # header line, then the payload encrypted straight into the record file: the
            # payload is never held in RAM as a whole
            self.outq.append((json.dumps(head).encode() + b"\n",
                              lambda f: self.build(taf, grp, now, did, f)))
            grp = keys = None
            q.trim(last)
            built += 1
        if built:
            self.wan.wake.set()
        return built

    def build(self, taf, grp, now, delivery_id="", out=None):
        """The CMS payload (bytearray), or written to the stream `out`. crypto.cms and
        wan.cosem are loaded per payload and dropped after it (RAM between payloads).
        grp: a flush group (Outbox.flush)."""
        import gc

        gc.collect()  # the CMS modules and buffers packed low (docs/memory.md)
        from crypto import cms

        from wan import cosem

        e = self.emt
        w = self.wan
        gw = e.gateway_name(w.gateway_id)
        q = self.inqs[taf]
        keys = grp[0]

        def chans():  # one channel at a time, per pass of the document
            for i in order:
                vals = _values(q, grp, i)
                if not grp[3][i]:
                    vals = sorted(vals, key=_t)  # by capture time (this channel only)
                yield e.meter_name(keys[2 * i]), keys[2 * i + 1], vals

        try:
            # channels by (meter, obis): a pair compares as a tuple, made per comparison
            order = sorted(range(len(grp[3])), key=lambda i: (keys[2 * i], keys[2 * i + 1]))
            # the document is generated twice (hash, then copy) straight into the CMS buffer
            return cms.build(lambda: cosem.pieces(gw, taf, now, chans(), delivery_id),
                             w.ident.signer(), w.secmod,
                             lambda: w.ident.peer_cert(e.enc_cert), now, out)
        finally:
            unload("crypto.cms")
            unload("wan.cosem")

    # ---- delivery --------------------------------------------------------------------
    def pending(self):
        return max(0, self.outq.last_seq - self.outq.first_seq + 1)

    def delivery_id(self, seq):
        return "%s.%s.%d" % (self.emt.gateway_name(self.wan.gateway_id), self.emt.id, seq)

    async def send_one(self):
        """Deliver the oldest payload. True when acknowledged, False when empty."""
        q = self.outq
        if q.last_seq < q.first_seq:
            return False
        import gc

        gc.collect()  # the TLS session's buffers packed low (docs/memory.md)
        seq = q.first_seq
        fs = q.open(seq)  # the payload is streamed from its file, never held in RAM
        if fs is None:  # lost record (should not happen): skip it, logged
            self.ctx.log(3, "wan.queue", msg(_T, 4) % (self.emt.id, seq))
            q.trim(seq)
            return True
        f, n = fs
        did = self.delivery_id(seq)
        e = self.emt
        try:
            n -= len(f.readline())  # the header line
            if e.mqtt:
                await self._publish(did, f.read())
                q.trim(seq)
                self.delivered += 1
                self.ctx.log(1, msg(_T, 6), msg(_T, 0) % (e.id, did))
                return True
            async with self.wan.ident.lock:
                await self.ctx.take("wan", TAKE_MS)
                try:
                    from wan import http  # per session, dropped after it (RAM between them)

                    s = await http.open_session(self.ctx, self.wan.ident, e.peer, e.host,
                                                e.port, purpose="emt")
                    try:
                        st, hdr, body = await http.request(
                            s, "POST", e.path, (f, n),
                            {"Content-Type": "application/pkcs7-mime", "X-Delivery-Id": did,
                             "X-Gateway": e.gateway_name(self.wan.gateway_id)})
                    finally:
                        await s.close()
                finally:
                    http = None
                    unload("wan.http")
                    self.ctx.give("wan")
        finally:
            f.close()
        if st != 200:
            raise WanError("HTTP %d" % st, e.id)
        try:
            ack = json.loads(body).get("ack")
        except (ValueError, AttributeError):
            ack = None
        if ack != did:
            raise WanError(msg(_T, 5) + did, e.id)
        q.trim(seq)
        self.delivered += 1
        self.ctx.log(1, msg(_T, 6), "%s %s" % (e.id, did))
        return True

    def drop_mqtt(self):
        """The profile changed or went away: its MQTT client (made with the old broker's
        host, port, peer and keep-alive) is closed, the next publish makes a new one."""
        m = getattr(self, "mqtt", None)
        self.mqtt = None
        if m is not None and m.session is not None:
            import asyncio

            asyncio.create_task(m.close())

    async def _publish(self, did, payload):
        m = getattr(self, "mqtt", None)
        if m is None:
            from wan.mqtt import MqttClient

            cfg = dict(self.emt.mqtt)
            cfg.setdefault("peer", self.emt.peer)
            m = self.mqtt = MqttClient(self.ctx, self.wan.ident, cfg,
                                       self.emt.gateway_name(self.wan.gateway_id))
        topic = "%s/%s" % (self.emt.mqtt.get("topic", "smgw"), did)
        await m.publish_reliable(topic, payload, self.emt.mqtt.get("qos", 1), attempts=2)

    async def deliver(self):
        """Send what is queued (Wan.deliver, when no retry is pending); after a failure
        the next attempt waits a backoff with jitter (retry_at)."""
        try:
            while await self.send_one():
                self.backoff = 0
            self.retry_at = 0
        except Exception as ex:  # noqa: BLE001 - WanError, or MemoryError/OSError
            self.failures += 1
            b = self.backoff * 2 if self.backoff else self.retry_min_s
            self.backoff = min(b, self.retry_max_s)
            d = self.backoff * (0.5 + self.wan.secmod.random(1)[0] / 255)
            why = ex.reason if isinstance(ex, WanError) else "%s: %s" % (
                type(ex).__name__, ex)
            self.ctx.log(2 if isinstance(ex, WanError) else 3, "wan.retry",
                         msg(_T, 2) % (self.emt.id, why, d))
            self.retry_at = self.ctx.now_ms() + int(d * 1000) or 1
