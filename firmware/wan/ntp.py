"""NTPv4 on-wire exchange (RFC 5905 7.3 packet, 8 on-wire protocol), carried inside the
TLS channel to the GWA (POST /time, 48-byte request and response bodies).

Client: request(t1) puts T1 in the transmit timestamp (mode 3, version 4). The server
answers mode 4 with origin = our T1, receive T2, transmit T3. With T4 = arrival:
offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2) (RFC 5905 8).
A reply whose origin is not our T1 (replay/mix-up), with another mode/version, stratum 0
(kiss-o'-death) or > 15, LI = 3 (unsynchronised server), a zero receive or transmit
timestamp or a transmit timestamp before the receive timestamp is refused.
"""
_NTP_EPOCH = const(2208988800)  # 1900-01-01 -> 1970-01-01
_ZERO = const(b"\x00\x00\x00\x00\x00\x00\x00\x00")


class NtpError(ValueError):
    pass


def to_ts(t_ms):
    """Unix milliseconds -> 64-bit NTP timestamp (bytes)."""
    s = t_ms // 1000 + _NTP_EPOCH
    frac = ((t_ms % 1000) << 32) // 1000
    return (s & 0xFFFFFFFF).to_bytes(4, "big") + frac.to_bytes(4, "big")


def from_ts(b):
    """64-bit NTP timestamp -> unix milliseconds (era 0)."""
    s = int.from_bytes(b[0:4], "big")
    f = int.from_bytes(b[4:8], "big")
    return (s - _NTP_EPOCH) * 1000 + ((f * 1000 + (1 << 31)) >> 32)


def request(t1_ms):
    p = bytearray(48)
    p[0] = (0 << 6) | (4 << 3) | 3
    p[40:48] = to_ts(t1_ms)
    return bytes(p)


def response(req, t2_ms, t3_ms, stratum=2, ref_id=b"GWA\x00"):
    """Server side (for tests and the host GWA)."""
    if len(req) != 48 or req[0] & 7 != 3:
        raise NtpError("not a client request")
    p = bytearray(48)
    p[0] = (0 << 6) | (4 << 3) | 4
    p[1] = stratum
    p[2] = 6
    p[3] = 0xEC  # precision 2^-20
    p[12:16] = ref_id
    p[16:24] = to_ts(t3_ms)
    p[24:32] = req[40:48]
    p[32:40] = to_ts(t2_ms)
    p[40:48] = to_ts(t3_ms)
    return bytes(p)


def evaluate(req, resp, t4_ms):
    """-> (offset_ms, delay_ms) or NtpError."""
    if len(resp) != 48:
        raise NtpError("length %d" % len(resp))
    li, vn, mode = resp[0] >> 6, (resp[0] >> 3) & 7, resp[0] & 7
    if mode != 4 or vn != 4:
        raise NtpError("mode %d version %d" % (mode, vn))
    if li == 3 or not 1 <= resp[1] <= 15:
        raise NtpError("server unsynchronised (li %d stratum %d)" % (li, resp[1]))
    if resp[24:32] != req[40:48]:
        raise NtpError("origin timestamp mismatch")
    if resp[32:40] == _ZERO or resp[40:48] == _ZERO:
        # RFC 5905 8: a zero receive or transmit timestamp is bogus (1900: an offset of
        # about -63 years)
        raise NtpError("zero timestamp")
    t1 = from_ts(req[40:48])
    t2 = from_ts(resp[32:40])
    t3 = from_ts(resp[40:48])
    if t3 < t2:  # sent before received: the delay would absorb it, the offset not
        raise NtpError("transmit before receive timestamp")
    offset = ((t2 - t1) + (t3 - t4_ms)) / 2
    delay = (t4_ms - t1) - (t3 - t2)
    if delay < 0:
        raise NtpError("negative delay")
    return offset, delay
