"""A wired meter session: HDLC link + TLS session + SML GetList polling.

`Meter.poll()` sends an SML GetListRequest (Open, GetList, Close) and returns the
readings of the answer (lmn.sml.readings dicts, CRC-checked). The meter id is the SML
server id as lower-case hex (docs/contracts.md); the answer's server id must match.
Errors of every layer below come out as one of HdlcError, TlsError, SmlError.
"""
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


class Meter:
    def __init__(self, bus, meter_id, address, context=None, clock=None, hostname=None,
                 timeout_ms=300, retries=3, renew_s=tlslink.RENEW_SECONDS,
                 renew_bytes=tlslink.RENEW_BYTES):
        self.id = meter_id
        self.server_id = bytes.fromhex(meter_id)
        self.address = address
        self.link = _link.Link(bus, [1, address], timeout_ms=timeout_ms, retries=retries)
        if context is not None:
            self.session = tlslink.Session(self.link, context, hostname or "meter-" + meter_id,
                                           clock, renew_s, renew_bytes)
        else:
            self.session = tlslink.Plain(self.link)
        self.tid = 0
        self.polls = 0
        self.failures = 0  # consecutive
        self.lost = False
        self.last_error = None

    async def poll(self):
        self.tid = (self.tid + 1) & 0xFFFFFF
        tid = b"gw" + self.tid.to_bytes(3, "big")
        req = sml.get_list_request(tid, _CLIENT_ID, self.server_id)
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
        for v in vals:
            if v["server_id"] != self.server_id:
                raise sml.SmlError("answer from server id %s" % sml.obis(v["server_id"]))
        self.polls += 1
        return vals

    async def close(self):
        await self.session.close()
        await self.link.disconnect()
