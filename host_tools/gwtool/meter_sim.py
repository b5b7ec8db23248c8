"""Wired electricity meters on a simulated RS485 bus (a pseudo-terminal), in CPython.

Each `Meter` is an HDLC secondary station (IEC 62056-46) at its own address and, when
`tls` is on, a TLS 1.2 server (Python `ssl` with MemoryBIO, client certificate required)
speaking SML 1.04 inside: GetListRequest -> Open/GetList/Close responses with the
configured registers. `Bus` reads the pty, hands frames to the addressed meter, writes
the answers. It can replay a captured SML byte stream (`replay`) and inject faults
(`faults`: bitflip, truncate, silence, crc) with a given probability.

This is an independent implementation (own HDLC and SML encoders, CRC via crcmod) so the
firmware is tested against something it does not share code with.
"""
import os
import random
import select
import ssl
import threading
import time
import tty

import crcmod.predefined

_x25 = crcmod.predefined.mkCrcFun("x-25")
ESC = b"\x1b\x1b\x1b\x1b"


# ------------------------------------------------------------------ SML encoding

def _tl(typ, n):
    if n < 16:
        return bytes([typ << 4 | n])
    return bytes([0x80 | typ << 4 | (n >> 4), n & 0x0F])


def octets(b):
    n = len(b) + 1
    if n >= 16:
        return _tl(0, n + 1) + b
    return _tl(0, n) + b


def unsigned(v, size):
    return bytes([0x60 | (size + 1)]) + v.to_bytes(size, "big")


def signed(v, size):
    return bytes([0x50 | (size + 1)]) + v.to_bytes(size, "big", signed=True)


def lst(*items):
    return _tl(7, len(items)) + b"".join(items)


NONE = b"\x01"


def message(tid, tag, body):
    m = lst(octets(tid), unsigned(0, 1), unsigned(0, 1), lst(unsigned(tag, 2), body))
    # message = list of 6: the last two (crc, end) appended after computing the crc
    m = b"\x76" + m[1:]
    c = _x25(m)
    return m + b"\x63" + c.to_bytes(2, "big") + b"\x00"


def transport(payload):
    pad = (-len(payload)) % 4
    body = payload + b"\x00" * pad
    out = bytearray(b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01")
    for i in range(0, len(body), 4):
        chunk = body[i:i + 4]
        out += chunk
        if chunk == ESC:
            out += ESC
    out += ESC + bytes([0x1A, pad])
    c = _x25(bytes(out))
    return bytes(out + c.to_bytes(2, "little"))


def obis_bytes(s):
    a, rest = s.split("-", 1)
    b, rest = rest.split(":", 1)
    c, d, rest = rest.split(".", 2)
    e, f = rest.split("*", 1)
    return bytes(int(x) for x in (a, b, c, d, e, f))


def get_list_response(server_id, tid, registers, sec_index, client_id=b""):
    """Open + GetList + Close response file. registers: [(obis, raw, scaler, unit)]."""
    vals = []
    for ob, raw, scaler, unit in registers:
        vals.append(lst(octets(obis_bytes(ob)), unsigned(0x1C0104, 4),
                        lst(unsigned(1, 1), unsigned(sec_index & 0xFFFFFFFF, 4)),
                        unsigned(unit, 1), signed(scaler, 1), unsigned(raw, 8), NONE))
    p = message(tid + b"\x01", 0x0101, lst(NONE, octets(client_id), octets(tid),
                                           octets(server_id), NONE, NONE))
    p += message(tid + b"\x02", 0x0701, lst(octets(client_id), octets(server_id), NONE,
                                            lst(unsigned(1, 1),
                                                unsigned(sec_index & 0xFFFFFFFF, 4)),
                                            lst(*vals), NONE, NONE))
    p += message(tid + b"\x03", 0x0201, lst(NONE))
    return transport(p)


def find_sml(buf):
    """(start, end) of the first complete transport frame in buf, or None."""
    s = buf.find(b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01")
    if s < 0:
        return None
    j = s + 8
    while j + 8 <= len(buf):
        if buf[j:j + 4] == ESC:
            if buf[j + 4:j + 8] == ESC:
                j += 8
                continue
            if buf[j + 4] == 0x1A:
                return s, j + 8
        j += 4
    return None


def request_tid(frame):
    """Transaction id prefix of the gateway's request (its first message's id)."""
    # 1b1b1b1b 01010101 76 <tid octets>
    p = 9
    n = (frame[p] & 0x0F) - 1
    return bytes(frame[p + 1:p + 1 + n])


# ------------------------------------------------------------------ HDLC

def addr(values):
    if len(values) == 1:
        return bytes([values[0] << 1 | 1])
    u, lo = values
    if u < 128 and lo < 128:
        return bytes([u << 1, lo << 1 | 1])
    return bytes([(u >> 7) << 1, (u & 0x7F) << 1, (lo >> 7) << 1, (lo & 0x7F) << 1 | 1])


def hdlc_frame(dest, src, control, info=b"", segmented=False):
    n = 2 + len(dest) + len(src) + 1 + 2 + (len(info) + 2 if info else 0)
    hdr = bytes([0xA0 | (0x08 if segmented else 0) | (n >> 8), n & 0xFF]) + dest + src + \
        bytes([control])
    body = hdr
    if info:
        body += _x25(hdr).to_bytes(2, "little") + info
    return b"\x7e" + body + _x25(body).to_bytes(2, "little") + b"\x7e"


def parse_frames(buf):
    """Frames in buf (bytearray, consumed in place): list of (dest, src, ctl, info, seg)."""
    out = []
    while True:
        i = buf.find(b"\x7e")
        if i < 0:
            buf.clear()
            return out
        del buf[:i]
        if len(buf) < 3:
            return out
        f = buf[1] << 8 | buf[2]
        n = f & 0x7FF
        if f & 0xF000 != 0xA000 or n < 7:
            del buf[:1]
            continue
        if len(buf) < n + 1:
            return out
        body = bytes(buf[1:n - 1])
        fcs = int.from_bytes(buf[n - 1:n + 1], "little")
        if _x25(body) != fcs:
            del buf[:1]
            continue
        p = 2
        da = _alen(body, p)
        sa = _alen(body, p + da)
        if not da or not sa:
            del buf[:1]
            continue
        dest, src = body[p:p + da], body[p + da:p + da + sa]
        ctl = body[p + da + sa]
        hl = p + da + sa + 1
        info = body[hl + 2:] if len(body) > hl else b""
        out.append((dest, src, ctl, info, bool(f & 0x0800)))
        del buf[:n + 1]


def _alen(b, p):
    for i in range(4):
        if p + i >= len(b):
            return 0
        if b[p + i] & 1:
            return i + 1 if i != 2 else 0
    return 0


# ------------------------------------------------------------------ meters

class Meter:
    """One simulated meter. registers: {"1-0:1.8.0*255": (raw, scaler, unit, rate/s)}."""

    def __init__(self, server_id, address, registers=None, tls_ctx=None, clock=time.time,
                 max_info=128, count_requests=False):
        self.server_id = bytes.fromhex(server_id) if isinstance(server_id, str) else server_id
        self.id = self.server_id.hex()
        self.address = address
        self.addr_raw = addr([1, address])
        self.registers = registers or {"1-0:1.8.0*255": [123456, -1, 30, 0.5],
                                       "1-0:2.8.0*255": [654, -1, 30, 0.1]}
        self.tls_ctx = tls_ctx
        self.clock = clock
        self.t0 = clock()
        self.max_info = max_info
        self.count_requests = count_requests  # add 1-0:0.1.0*255 = answer number (unique)
        self.served = []  # (sec_index, [(obis, raw)]) per answered GetListRequest
        self.requests = 0
        self.handshakes = 0
        self.silent = False  # a dead meter: answers nothing
        self.hold = False  # link up, but SML requests get no answer (quiesce for checks)
        self.busy = 0  # answer the next n I/RR frames with RNR (receiver not ready)
        self.reset_link()

    def reset_link(self):
        self.vs = self.vr = 0
        self.rx = bytearray()
        self.tx_segments = []  # pending answer segments (info bytes)
        self.last = None  # the last frame we sent (repeated on a duplicate)
        self.last_was_i = False
        self.app_in = bytearray()
        self._new_tls()

    def _new_tls(self):
        self.ssl = None
        if self.tls_ctx:
            self.bio_in, self.bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.ssl = self.tls_ctx.wrap_bio(self.bio_in, self.bio_out, server_side=True)
            self.handshaken = False

    def values(self):
        t = self.clock() - self.t0
        out = []
        for ob, (raw, scaler, unit, rate) in self.registers.items():
            out.append((ob, int(raw + rate * t), scaler, unit))
        if self.count_requests:
            out.append(("1-0:0.1.0*255", self.requests, 0, 255))
        return out

    def sml_answer(self, req):
        if self.hold:
            return b""
        self.requests += 1
        tid = request_tid(req)
        sec = int(self.clock())
        regs = self.values()
        self.served.append((sec, [(r[0], r[1]) for r in regs]))
        return get_list_response(self.server_id, tid, regs, sec)

    # application layer (inside TLS or plain)
    def app(self, data):
        """Bytes from the gateway in, bytes to the gateway out."""
        if not self.ssl:
            self.app_in += data
            r = find_sml(self.app_in)
            if not r:
                return b""
            req = bytes(self.app_in[r[0]:r[1]])
            del self.app_in[:r[1]]
            return self.sml_answer(req)
        self.bio_in.write(data)
        try:
            if not self.handshaken:
                self.ssl.do_handshake()
                self.handshaken = True
                self.handshakes += 1
            while True:
                chunk = self.ssl.read(4096)
                if not chunk:  # close_notify: a new session follows
                    self.bio_out.write(b"")
                    out = self.bio_out.read()
                    self._new_tls()
                    return out
                self.app_in += chunk
                r = find_sml(self.app_in)
                if r:
                    req = bytes(self.app_in[r[0]:r[1]])
                    del self.app_in[:r[1]]
                    ans = self.sml_answer(req)
                    if ans:
                        self.ssl.write(ans)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            out = self.bio_out.read()
            self._new_tls()
            return out
        except ssl.SSLError:
            out = self.bio_out.read()
            self._new_tls()
            return out
        return self.bio_out.read()

    # HDLC secondary
    def frame(self, ctl, info, seg, client_raw):
        """Handle one frame addressed to us; return the frames to send (bytes)."""
        def send(c, i=b"", s=False):
            self.last_was_i = False
            self.last = hdlc_frame(client_raw, self.addr_raw, c, i, s)
            return [self.last]

        if ctl & 0xEF == 0x83:  # SNRM
            self.reset_link()
            params = bytes([0x81, 0x80, 0x14, 5, 2]) + self.max_info.to_bytes(2, "big") + \
                bytes([6, 2]) + self.max_info.to_bytes(2, "big") + \
                bytes([7, 4, 0, 0, 0, 1, 8, 4, 0, 0, 0, 1])
            return send(0x73, params)
        if ctl & 0xEF == 0x43:  # DISC
            self.reset_link()
            return send(0x73)
        if self.busy and (ctl & 1 == 0 or ctl & 0x0F == 0x01):
            self.busy -= 1
            return [hdlc_frame(client_raw, self.addr_raw, 0x15 | self.vr << 5)]  # RNR
        if ctl & 1 == 0:  # I frame
            ns, nr = (ctl >> 1) & 7, ctl >> 5
            if ns != self.vr:  # duplicate: our answer got lost, repeat it
                return [self.last] if self.last else []
            self.vr = (self.vr + 1) & 7
            self.rx += info
            if seg:
                return send(0x11 | self.vr << 5)  # RR, ask for more
            data = bytes(self.rx)
            self.rx.clear()
            out = self.app(data)
            self._queue(out)
            return self._next(client_raw, nr)
        if ctl & 0x0F == 0x01:  # RR: poll or ack of a segment
            nr = ctl >> 5
            if self.last_was_i and nr != self.vs:  # our I frame got lost: repeat it
                return [self.last]
            return self._next(client_raw, nr)
        return []

    def _queue(self, data):
        step = self.max_info
        self.tx_segments = [data[i:i + step] for i in range(0, len(data), step)]

    def _next(self, client_raw, nr):
        self.last_was_i = bool(self.tx_segments)
        if not self.tx_segments:
            self.last = hdlc_frame(client_raw, self.addr_raw, 0x11 | self.vr << 5)
            return [self.last]
        seg = self.tx_segments.pop(0)
        ctl = (self.vr << 5) | 0x10 | (self.vs << 1)
        self.vs = (self.vs + 1) & 7
        self.last = hdlc_frame(client_raw, self.addr_raw, ctl, seg, bool(self.tx_segments))
        return [self.last]


class Bus:
    """Serve meters on a pty path (or fd) in a thread."""

    def __init__(self, path, meters, faults=None, seed=1):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.meters = {m.addr_raw: m for m in meters}
        self.faults = faults or {}  # {"bitflip": p, "truncate": p, "silence": p, "crc": p}
        self.rng = random.Random(seed)
        self.buf = bytearray()
        self.log = []  # injected faults
        self.frames_in = 0
        self._stop = False
        self._t = None

    def start(self):
        self._t = threading.Thread(target=self._run, name="meter-bus", daemon=True)
        self._t.start()
        return self

    def _fault(self, frame):
        r = self.rng.random
        f = self.faults
        if r() < f.get("silence", 0):
            self.log.append("silence")
            return b""
        if r() < f.get("truncate", 0):
            self.log.append("truncate")
            return frame[:self.rng.randrange(1, len(frame))]
        if r() < f.get("bitflip", 0):
            self.log.append("bitflip")
            b = bytearray(frame)
            i = self.rng.randrange(len(b))
            b[i] ^= 1 << self.rng.randrange(8)
            return bytes(b)
        if r() < f.get("crc", 0):
            self.log.append("crc")
            b = bytearray(frame)
            b[-2] ^= 0xFF
            return bytes(b)
        return frame

    def _run(self):
        while not self._stop:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if not r:
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                time.sleep(0.05)
                continue
            self.buf += data
            for dest, src, ctl, info, seg in parse_frames(self.buf):
                self.frames_in += 1
                m = self.meters.get(dest)
                if m is None or m.silent:
                    continue
                for out in m.frame(ctl, info, seg, src):
                    out = self._fault(out)
                    if out:
                        os.write(self.fd, out)

    def replay(self, data, chunk=64, delay=0.0):
        """Write a captured byte stream (e.g. SML push frames) to the bus."""
        for i in range(0, len(data), chunk):
            os.write(self.fd, data[i:i + chunk])
            if delay:
                time.sleep(delay)

    def stop(self):
        self._stop = True
        if self._t:
            self._t.join(1)
        try:
            os.close(self.fd)
        except OSError:
            pass


def server_context(pki, name):
    """TLS 1.2 server context for meter certificate `name` (e.g. "meter-<id>")."""
    p = pki.issue(name)
    chain = pki.dir / f"{name}.chain.pem"
    if not chain.exists():
        chain.write_bytes(p["crt"].read_bytes() + (pki.dir / "sub.crt").read_bytes())
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.minimum_version = c.maximum_version = ssl.TLSVersion.TLSv1_2
    c.load_cert_chain(chain, p["key"])
    c.verify_mode = ssl.CERT_REQUIRED
    c.load_verify_locations(p["ca"])
    return c
