# WAN building blocks inside MicroPython: persisted queue, profiles, NTP, wake-up and
# update-header parsing, certificate parsing; fuzzing shows only the layer's error escapes.
# heapsize: 512K
import os

from crypto import cms, der, ecc, ecdsa
from mptest import eq, raises, tmpdir
from wan import cosem, ntp, profiles, queue, update, wakeup


def _rand_mutations(base, n):
    for i in range(n):
        b = bytearray(base)
        r = os.urandom(4)
        for k in range(1 + r[3] % 3):
            b[(r[k] * 7 + i) % len(b)] = os.urandom(1)[0]
        yield bytes(b[:len(b) - r[2] % 5])


def test_cosem_pieces_equal_document():
    # delivery streams cosem.pieces (tuples) into the CMS buffer; dicts give the same text
    d = [{"capture_time": 1767225600, "raw": 5000, "scaler": -1, "unit": 30, "status": 0},
         {"capture_time": 1767226500, "raw": 5001, "scaler": -1, "unit": 30, "status": None}]
    t = [(v["capture_time"], v["raw"], v["scaler"], v["unit"], v["status"]) for v in d]
    doc = cosem.profile_xml("G&1", "TAF7", 1767226500, [("m<1", "1-0:1.8.0*255", d)], "x.1")
    eq(b"".join(cosem.pieces("G&1", "TAF7", 1767226500, [("m<1", "1-0:1.8.0*255", t)],
                             "x.1")), doc)
    eq(doc.count(b"<Entry "), 2)
    assert b'gateway="G&amp;1"' in doc and b'meter="m&lt;1"' in doc
    assert b'value="5000" scaler="-1" unit="30" status="0"/>' in doc
    assert b'value="5001" scaler="-1" unit="30"/>' in doc


def test_file_queue_persists_and_never_reuses_seq():
    d = tmpdir() + "/q1"
    q = queue.FileQueue(d, 10)
    eq([q.append(b"r%d" % i) for i in range(3)], [1, 2, 3])
    eq(q.read(2), b"r1")
    q.trim(2)
    eq((q.first_seq, q.last_seq), (3, 3))
    with open(d + "/9.tmp", "wb") as f:  # a write cut by a power failure
        f.write(b"partial")
    q2 = queue.FileQueue(d, 10)
    eq(list(q2.iter(0)), [3])
    assert "9.tmp" not in os.listdir(d)
    q2.trim(3)
    q3 = queue.FileQueue(d, 10)
    eq(q3.last_seq < q3.first_seq, True)
    eq(q3.append(b"x"), 4)  # numbering continues after everything was trimmed
    for i in range(9):
        q3.append(b"y")
    with raises(queue.QueueFull):
        q3.append(b"z")


def test_profiles_schema_and_pseudonyms():
    e = {"id": "e1", "host": "h", "port": 1, "tafs": ["TAF7"], "alias": "A"}
    _, _, emts = profiles.parse({"gateway_id": "G", "emts": [e]})
    m1 = emts[0].meter_name("0a01")
    eq(m1, emts[0].meter_name("0a01"))
    assert m1.startswith("A-") and m1 != emts[0].meter_name("0a02") and "0a01" not in m1
    eq(emts[0].gateway_name("G"), "A")
    bad = [{"emts": [dict(e, colour=1)]}, {"emts": [dict(e, port="1")]},
           {"emts": [dict(e, tafs=["TAF9"])]}, {"emts": [e, e]}, {"emts": [{"id": "x"}]},
           {"emts": [dict(e, id=f"e{i}") for i in range(25)]}, {"gwa": {"host": "h"}},
           {"extra": 1}, {"emts": [dict(e, port=True)]}]
    for b in bad:
        with raises(profiles.ProfileError):
            profiles.parse(b)


def test_ntp_exchange():
    req = ntp.request(1767225600123)
    eq(ntp.from_ts(req[40:48]), 1767225600123)
    resp = ntp.response(req, 1767225601123, 1767225601125)
    off, delay = ntp.evaluate(req, resp, 1767225600130)
    assert abs(off - 997) <= 1 and 4 <= delay <= 6, (off, delay)
    with raises(ntp.NtpError):
        ntp.evaluate(ntp.request(1), resp, 5)  # origin mismatch (replay)
    kod = bytearray(resp)
    kod[1] = 0
    with raises(ntp.NtpError):
        ntp.evaluate(req, bytes(kod), 1767225600130)
    for b in _rand_mutations(resp, 200):
        try:
            ntp.evaluate(req, b, 1767225600130)
        except ntp.NtpError:
            pass


def test_wakeup_and_update_header_fuzz():
    c = ecc.P256
    pkt = wakeup.encode("GW1", 1767225600, lambda h: ecdsa.sign(c, 99, h))
    gid, t, _, _, _ = wakeup.decode(pkt)
    eq((gid, t), ("GW1", 1767225600))
    for b in _rand_mutations(pkt, 300):
        try:
            wakeup.decode(b)
        except wakeup.WakeupError:
            pass
    hdr = update.MAGIC + bytes(152)
    hdr = hdr[:8] + b"\x00\xa0" + hdr[10:]
    eq(update.parse_header(hdr)["length"], 0)
    for b in _rand_mutations(hdr, 300):
        try:
            update.parse_header(b)
        except update.UpdateError:
            pass
    eq(update.parse_version("1.2.3"), 0x010203)
    eq(update.version_str(0x010203), "1.2.3")


def test_certificate_parser_fuzz():
    # a small self-made certificate-shaped structure exercises every field the parser reads
    name = der.seq(der.set_of(der.seq(der.oid("2.5.4.3"), der.tlv(0x0C, b"x"))))
    sig_alg = der.seq(der.oid("1.2.840.10045.4.3.2"))  # ecdsa-with-SHA256
    spki = der.seq(der.seq(der.oid("1.2.840.10045.2.1"), der.oid(ecc.P256.oid)),
                   der.bits(ecc.P256.public(5)))
    tbs = der.seq(der.ctx(0, der.integer(2)), der.integer(7), sig_alg,
                  name, der.seq(der.utctime(0), der.utctime(86400)), name, spki)
    sig = ecdsa.sig_der(*ecdsa.sign(ecc.P256, 5, __import__("hashlib").sha256(tbs).digest()))
    cert = der.seq(tbs, sig_alg, der.bits(sig))
    c = cms.Cert(cert)
    eq(c.point, ecc.P256.public(5))
    assert c.signed_by(c)
    for b in _rand_mutations(cert, 300):
        try:
            cms.Cert(b)
        except cms.CmsError:
            pass


def _cert(subject, issuer, key, issuer_key):
    """A minimal P-256 certificate: `subject` (CN) with key `key`, signed by issuer_key."""
    def name(cn):
        return der.seq(der.set_of(der.seq(der.oid("2.5.4.3"), der.tlv(0x0C, cn))))

    sig_alg = der.seq(der.oid("1.2.840.10045.4.3.2"))
    spki = der.seq(der.seq(der.oid("1.2.840.10045.2.1"), der.oid(ecc.P256.oid)),
                   der.bits(ecc.P256.public(key)))
    tbs = der.seq(der.ctx(0, der.integer(2)), der.integer(key), sig_alg, name(issuer),
                  der.seq(der.utctime(0), der.utctime(86400)), name(subject), spki)
    sig = ecdsa.sig_der(*ecdsa.sign(ecc.P256, issuer_key,
                                    __import__("hashlib").sha256(tbs).digest()))
    return der.seq(tbs, sig_alg, der.bits(sig))


def test_pinned_ca_found_once_per_peer():
    # the context's trust anchor is the CA that issued the pinned certificate (same
    # subject AND signature); found with crypto.cms once, then two file reads per session
    import sys

    from wan import http
    from wan.tlsconn import Identity, WanError

    pki = tmpdir() + "/pkipin"
    for d in (pki, pki + "/ca", pki + "/peers"):
        try:
            os.mkdir(d)
        except OSError:
            pass

    def put(path, data):
        with open(pki + path, "wb") as f:
            f.write(data)

    ca_a, ca_b = _cert(b"CA-A", b"CA-A", 11, 11), _cert(b"CA-B", b"CA-B", 13, 13)
    put("/ca/a.der", ca_a)
    put("/ca/b.der", ca_b)
    put("/ca/c.der", _cert(b"CA-B", b"CA-B", 17, 17))  # B's name, another key: not B
    put("/peers/p.der", _cert(b"p", b"CA-B", 19, 13))
    put("/peers/q.der", _cert(b"q", b"CA-B", 23, 17))  # issued by c.der's key
    put("/peers/x.der", _cert(b"x", b"CA-X", 29, 31))  # issuer not trusted
    ident = Identity(None, pki)
    eq(http._ca_der(ident, "p"), ca_b)
    eq(http._ca_der(ident, "q"), _cert(b"CA-B", b"CA-B", 17, 17))
    assert "crypto.cms" not in sys.modules  # dropped after the look-up
    with raises(WanError) as r:
        http._ca_der(ident, "x")
    assert "not issued by a trusted CA" in r.value.reason
    with raises(WanError):
        http._ca_der(ident, "nobody")
    eq(ident.issuers, {"p": "b.der", "q": "c.der"})
    sys.modules["crypto.cms"] = None  # a later session must not need crypto.cms
    try:
        eq(http._ca_der(ident, "p"), ca_b)
    finally:
        del sys.modules["crypto.cms"]
    # a new pinned certificate (configuration apply clears the memo): looked up again
    put("/peers/p.der", _cert(b"p", b"CA-A", 19, 11))
    ident.issuers.clear()
    eq(http._ca_der(ident, "p"), ca_a)
    os.remove(pki + "/ca/a.der")  # the CA file gone: looked up again, no trust left
    with raises(WanError):
        http._ca_der(ident, "p")
    assert "p" not in ident.issuers


def test_kept_signer_holds_no_cms_object():
    # Identity keeps the gateway certificate across payloads; crypto.cms is loaded per
    # payload. A kept crypto.cms.Cert kept that module's globals (its class's functions
    # reference them) and, through Cert.curve, crypto.ecc: ~10 KB on x64 after the first
    # payload, and a second copy of crypto.cms in each build. Only plain fields are kept.
    from wan.tlsconn import Identity

    pki = tmpdir() + "/pkisigner"
    try:
        os.mkdir(pki)
    except OSError:
        pass
    gw = _cert(b"gw", b"CA-A", 41, 11)
    with open(pki + "/gateway.der", "wb") as f:
        f.write(gw)
    ident = Identity(None, pki)
    s = ident.signer()
    assert type(s) is not cms.Cert
    for k, v in s.__dict__.items():
        assert type(v) is bytes, (k, type(v))
    eq(s.der, gw)
    c = cms.Cert(gw)
    eq((s.issuer, s.serial), (c.issuer, c.serial))
    assert ident.signer() is s  # parsed once per version of the file


class _Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    async def readline(self):
        i = self.d.find(b"\n", self.p)
        i = len(self.d) if i < 0 else i + 1
        line = self.d[self.p:i]
        self.p = i
        return line

    async def readinto(self, mv):
        n = min(len(mv), len(self.d) - self.p)
        mv[:n] = self.d[self.p:self.p + n]
        self.p += n
        return n


async def test_http_response_parser_fuzz():
    from wan import http
    from wan.tlsconn import WanError

    good = b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: b\r\n\r\n{"ack": "x"}'
    st, h, body = await http._response(_Reader(good), 100)
    eq((st, h["x-a"], bytes(body)), (200, "b", b'{"ack": "x"}'))
    with raises(WanError):
        await http._response(_Reader(good), 5)  # body larger than allowed
    for b in _rand_mutations(good, 300):
        try:
            await http._response(_Reader(b), 100)
        except WanError:
            pass


async def test_link_gate_and_session_limit():
    from wan.tlsconn import Session, WanError, open_session
    from wanctx import Ctx, Link

    ctx = Ctx()
    ctx.link = Link("registering")
    with raises(WanError) as r:
        await open_session(ctx, None, "gwa", "127.0.0.1", 1)  # never reaches the network
    assert "link not up" in r.value.reason
    s = Session("gwa", None, None, 1000)
    assert not s.expired(1000 + 48 * 3600 - 1)
    assert s.expired(1000 + 48 * 3600)


def test_soft_secmod_lifecycle():
    import json

    from crypto.secmod import SecModError, SoftSecMod

    d = tmpdir() + "/sm"
    with open(tmpdir() + "/mk.json", "w") as f:
        json.dump({"KAM-1": "000102030405060708090a0b0c0d0e0f"}, f)
    sm = SoftSecMod(key_path=d + "/pki/gateway.key", meter_keys_path=tmpdir() + "/mk.json")
    with raises(SecModError):
        sm.sign(bytes(32))  # fresh board: no key yet
    eq(sm.meter_key("KAM-1"), bytes(range(16)))
    eq(sm.meter_key("KAM-2"), None)
    pub = sm.generate()
    sm2 = SoftSecMod(key_path=d + "/pki/gateway.key")
    eq(sm2.public_key(), pub)
    r, s = sm2.sign(bytes(32))
    assert sm.verify(pub, bytes(32), r, s)
    # the curve's name is kept, not the crypto.ecc object: the ECC modules are dropped
    # between payloads (wan.service), which a kept object would keep alive (RAM)
    for k, v in sm2.__dict__.items():
        assert type(v) in (str, int, bytes, bool, type(None)), (k, type(v))
    with raises(SecModError):
        SoftSecMod(key=ecc.P256.n + 1).public_key()
    # a key file replaced after use is checked against the curve's order again
    with open(d + "/pki/gateway.key", "wb") as f:
        f.write((ecc.P256.n + 5).to_bytes(32, "big"))
    assert sm2.load()
    with raises(SecModError):
        sm2.sign(bytes(32))
    with raises(SecModError):
        SoftSecMod(key=b"short")


async def test_wait_event_timeout_wakeup_and_ram():
    """wan.wait_event: ends when the event is set or after ms; a waiting task holds less
    than with asyncio.wait_for_ms (the GWA poller and the link wait with it)."""
    import asyncio
    import gc
    import time

    from wan import wait_event

    ev = asyncio.Event()
    t0 = time.ticks_ms()
    await wait_event(ev, 60)
    assert ev.is_set() and 50 <= time.ticks_diff(time.ticks_ms(), t0) < 1000
    ev.clear()
    t = asyncio.create_task(wait_event(ev, 100000))
    await asyncio.sleep_ms(10)
    ev.set()
    await asyncio.sleep_ms(10)
    assert t.done()

    async def waiter(use_wait_for, e):
        try:
            if use_wait_for:
                await asyncio.wait_for_ms(e.wait(), 100000)
            else:
                await wait_event(e, 100000)
        except asyncio.TimeoutError:
            pass

    used = []
    for use_wait_for in (True, False, True, False):  # the first round loads asyncio.funcs
        e = asyncio.Event()
        gc.collect()
        a = gc.mem_alloc()
        ts = [asyncio.create_task(waiter(use_wait_for, e)) for i in range(4)]
        await asyncio.sleep_ms(10)
        gc.collect()
        used.append(gc.mem_alloc() - a)
        e.set()
        await asyncio.sleep_ms(10)
        assert all(x.done() for x in ts)
        ts = e = None
    assert used[3] < used[2] - 4 * 150, used  # x64: ~80 vs ~300 B per waiting task


async def test_running_delivery_does_not_grow_per_emt():
    """All outboxes are served by one delivery task (Wan.deliver): the heap that the
    running WAN holds beyond its configuration does not grow with the number of EMTs
    (a task per EMT held ~450 B x64 each)."""
    import asyncio
    import gc

    from crypto.secmod import SoftSecMod
    from wan.service import Wan
    from wanctx import Ctx

    ws = []
    for n in (1, 1, 6):  # the first one warms up what the first run() loads
        d = tmpdir() + "/run%d_%d" % (n, len(ws))
        w = Wan(Ctx(), SoftSecMod(key_path=d + "/k"), pki=d + "/pki", qroot=d + "/q")
        w.configure({"gateway_id": "G", "emts": [
            {"id": "e%d" % i, "host": "127.0.0.1", "port": 1, "tafs": ["TAF7"]}
            for i in range(n)]}, 1)
        ws.append(w)
    used = []
    ts = []
    for w in ws:  # all kept running until the end: nothing is freed while measuring
        gc.collect()
        a = gc.mem_alloc()
        ts.append(asyncio.create_task(w.run()))
        await asyncio.sleep_ms(30)
        gc.collect()
        used.append(gc.mem_alloc() - a)
    for t in ts:
        t.cancel()
    await asyncio.sleep_ms(10)
    assert used[2] - used[1] < 5 * 150, used  # x64: ~13 B per EMT (a task each: ~470)


async def test_schedule_builds_wait_for_a_wan_session():
    """The payload builds of a schedule tick (held as "cms") wait while a WAN session
    holds the heap ("wan"): a GWA poll's TLS session next to a build was where the
    simulated day ran out of heap (docs/memory.md)."""
    import asyncio

    from crypto.secmod import SoftSecMod
    from wan.service import Wan
    from wanctx import Ctx

    d = tmpdir() + "/cmshold"
    ctx = Ctx()
    w = Wan(ctx, SoftSecMod(key_path=d + "/k"), pki=d + "/pki", qroot=d + "/q")
    w.configure({"gateway_id": "G", "emts": [
        {"id": "e1", "host": "127.0.0.1", "port": 1, "tafs": ["TAF7"], "schedule_s": 1}]}, 1)
    ticks = []

    async def idle():
        await asyncio.sleep(60)

    w.flush = lambda: ticks.append(ctx.job)  # what the tick runs, and under which hold
    w.deliver = idle
    assert ctx.hold("wan")  # a session in progress
    t = asyncio.create_task(w.run())
    await asyncio.sleep_ms(1600)  # past a tick of the 1 s grid
    eq(ticks, [])
    ctx.give("wan")
    await asyncio.sleep_ms(100)
    eq(ticks, ["cms"])
    assert ctx.job is None
    t.cancel()
    await asyncio.sleep_ms(10)


def test_gateway_certificate_read_once_per_version():
    """Identity.cert_der: one object for every session and payload build until the file
    changes (a ~750-byte piece per use may not be left in a fragmented heap); forget()
    (a configuration applied) reads it again."""
    from wan.tlsconn import Identity

    d = tmpdir() + "/owncert"
    os.mkdir(d)
    with open(d + "/gateway.der", "wb") as f:
        f.write(b"A" * 700)
    ident = Identity(None, d)
    a = ident.cert_der()
    assert a == b"A" * 700 and ident.cert_der() is a
    with open(d + "/gateway.der", "wb") as f:
        f.write(b"B" * 710)
    eq(ident.cert_der(), b"B" * 710)
    b = ident.cert_der()
    ident.forget()
    assert ident.cert_der() is not b and ident.cert_der() == b
