"""A wired meter session: HDLC link + TLS session + SML GetList polling.

`Meter.poll()` sends an SML GetListRequest (Open, GetList, Close) and returns the
readings of the answer (lmn.sml.readings dicts, CRC-checked). The meter id is the SML
server id as lower-case hex (docs/contracts.md); the answer's server id must match.
Errors of every layer below come out as one of HdlcError, TlsError, SmlError.

The request differs from poll to poll only in the 3 transaction id bytes (in the three
transaction ids and the Open's reqFileId) and the CRCs: it is encoded once (lmn.smlx) into
`Meter.req` and patched in place for each poll; the encoder need not stay loaded. When
the frame would need an escape sequence (a server id containing 1B1B1B1B), the poll
falls back to the encoder: the bytes on the wire are the same either way.
"""
from lmn import crc as _crc
from lmn import link as _link
from lmn import sml
from lmn import tlslink

_CLIENT_ID = b"\x00\x00\x00\x00\x00\x01"


def sml_complete(buf):
    """True once buf holds a complete SML transport frame."""
    try:
        return sml.frame(buf) is not None
    except sml.SmlError:
        return True  # let decode raise it


def _patch(r, offs, tid):
    """Write the 24-bit transaction number tid into the request frame r and recompute the
    message and frame CRCs; False if the result would need an escape sequence. offs: the
    offsets of the GetList and Close messages and the end of the Close, 10 bits each (the
    Open starts at 8)."""
    a, b, c = tid >> 16, (tid >> 8) & 0xFF, tid & 0xFF
    o2 = offs & 0x3FF
    o3 = (offs >> 10) & 0x3FF
    for p in (12, 36, o2 + 4, o3 + 4):  # the tids, the Open's reqFileId
        r[p] = a
        r[p + 1] = b
        r[p + 2] = c
    mv = memoryview(r)
    o = 8
    for i in range(3):  # each message ends 63 <crc hi> <crc lo> 00
        e = (offs >> (10 * i)) & 0x3FF
        k = _crc.x25(mv[o:e - 4])
        r[e - 3] = k >> 8
        r[e - 2] = k & 0xFF
        o = e
    n = len(r)
    k = _crc.x25(mv[:n - 2])
    r[n - 2] = k & 0xFF
    r[n - 1] = k >> 8
    k = r.find(b"\x1b\x1b\x1b\x1b", 8)
    while 0 <= k < n - 8:
        if not k & 3:
            return False
        k = r.find(b"\x1b\x1b\x1b\x1b", k + 1)
    return True


class Meter:
    # class defaults: the instance table gets an entry only once a value differs (the
    # service sets readings, period, due; a healthy meter never sets failures, lost,
    # last_error), so a meter's attributes fit 12 slots; the server id bytes are made
    # from the id when needed (a poll)
    tid = polls = failures = 0
    lost = False
    last_error = None

    def __init__(self, bus, meter_id, address, context=None, clock=None, hostname=None,
                 timeout_ms=300, retries=3, renew_s=tlslink.RENEW_SECONDS,
                 renew_bytes=tlslink.RENEW_BYTES):
        self.id = meter_id
        sid = bytes.fromhex(meter_id)
        self.address = address
        self.link = _link.Link(bus, [1, address], timeout_ms=timeout_ms, retries=retries)
        if context is not None:
            self.session = tlslink.Session(self.link, context, hostname, clock, renew_s,
                                           renew_bytes, meter_id)
        else:
            self.session = tlslink.Session(self.link)
        # failures: consecutive failed polls
        # the request frame for tid 0 and its message offsets (None: encode each time)
        r = bytearray(sml.get_list_request(b"gw\x00\x00\x00", _CLIENT_ID, sid))
        offs = None
        try:
            s, end, payload, kind = sml.frame(r)
            o = [8 + m["offset"] for m in sml.messages(payload)] + [8 + len(payload)]
            offs = o[1] | o[2] << 10 | o[3] << 20 if len(o) == 4 and o[0] == 8 else None
            t = bytearray(r)
            if not offs or end != len(r) or end > 0x3FF or not _patch(t, offs, 0x1B2C3D) \
                    or t != sml.get_list_request(b"gw\x1b\x2c\x3d", _CLIENT_ID, sid):
                offs = None
        except (sml.SmlError, IndexError):
            offs = None
        self.req = r if offs else None
        self.offs = offs

    def request(self, tid):
        """The GetList request frame with transaction number tid (24 bit)."""
        r = self.req
        if r is not None and _patch(r, self.offs, tid):
            return r
        return sml.get_list_request(b"gw" + tid.to_bytes(3, "big"), _CLIENT_ID,
                                    bytes.fromhex(self.id))

    async def poll(self):
        self.tid = (self.tid + 1) & 0xFFFFFF
        req = self.request(self.tid)
        try:
            ans = await self.session.request(req, sml_complete)
        except Exception:
            # a broken link or session: start over next time (SNRM, new handshake)
            self.session.drop()
            self.link.connected = False
            raise
        kind, msgs = sml.decode(ans)
        if kind is None:
            raise sml.SmlError("frame CRC", 0)
        vals = sml.readings(msgs)
        sid = bytes.fromhex(self.id)
        for v in vals:
            if v["server_id"] != sid:
                raise sml.SmlError("answer from server id %s" % sml.obis(v["server_id"]))
        self.polls += 1
        return vals

    async def close(self):
        await self.session.close()
        await self.link.disconnect()
