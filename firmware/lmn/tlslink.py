"""TLS 1.2 inside the HDLC link: the meter is the TLS server, the gateway the client.

BSI TR-03109-1 (LMN interface): TLS 1.2 with mutual authentication between gateway and
meter, each with its own certificate; a TLS session is renewed after 31 days or
5,000,000 bytes of payload, whichever comes first (the gateway closes it with
close_notify and handshakes anew).

MicroPython's `tls` works on any stream. `Session` is an io.IOBase whose readinto()
returns what the link brought in or None (EAGAIN: mbedTLS sees WANT_READ) and whose
write() collects records; `Session.request()` drives the non-blocking TLS object and
pumps the collected bytes through `Link.exchange()` (an HDLC poll with or without data)
until the answer is complete. The meter's identity: its certificate must chain to the
trusted CA and name `meter-<id>` (checked by mbedTLS against server_hostname).
"""
import io

from micropython import const

from lmn.hdlc import HdlcError
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("answer too long|closed by meter|handshake stalled")


RENEW_SECONDS = 31 * 86400
RENEW_BYTES = 5000000
_IDLE_POLLS = const(20)


class TlsError(Exception):
    """TLS failure on the meter link: `reason`, `offset` unused (-1)."""

    def __init__(self, reason, offset=-1):
        super().__init__(reason, offset)
        self.reason = reason
        self.offset = offset


class Session(io.IOBase):
    """A session to one meter over its HDLC link: TLS when a context is given, else plain
    (meters configured "tls": false; request() then sends the bytes as they are).

    context: tls.SSLContext (PROTOCOL_TLS_CLIENT, our cert+key, CA, CERT_REQUIRED);
    hostname: the name the meter's certificate must carry; clock(): UTC seconds.
    The session is also the stream mbedTLS works on (one object per meter instead of
    three): readinto() returns what the link brought in or None (EAGAIN: mbedTLS sees
    WANT_READ), write() collects records for the next exchange.
    """

    # class defaults: an instance stores a value only once it differs (RAM: each
    # attribute is a slot in the instance's table, 10 of them in use); the meter's
    # hostname is derived from its id
    renew_s = RENEW_SECONDS
    renew_bytes = RENEW_BYTES
    context = hostname = name = clock = None
    renewals = 0

    def __init__(self, link, context=None, hostname=None, clock=None, renew_s=RENEW_SECONDS,
                 renew_bytes=RENEW_BYTES, name=None):
        """name: the meter id; without a hostname the meter's certificate must carry
        "meter-<name>" (no copy of that string per meter)."""
        self.link = link
        if context is not None:
            self.context = context
            self.clock = clock
        if hostname is not None:
            self.hostname = hostname
        elif name is not None:
            self.name = name
        if renew_s != RENEW_SECONDS:
            self.renew_s = renew_s
        if renew_bytes != RENEW_BYTES:
            self.renew_bytes = renew_bytes
        self.sock = None
        self.rx = self.tx = None  # link -> mbedTLS (consumed from the front), mbedTLS -> link
        self.started = self.bytes = self.handshakes = 0

    # the stream under mbedTLS
    def readinto(self, buf):
        rx = self.rx
        if not rx:
            return None
        n = min(len(rx), len(buf))
        buf[:n] = memoryview(rx)[:n]
        if n == len(rx):
            self.rx = None
        else:
            rx[:n] = b""  # in place: the rest moves to the front
        return n

    def write(self, buf):
        if self.tx is None:
            self.tx = bytearray(buf)
        else:
            self.tx.extend(buf)
        return len(buf)

    def ioctl(self, req, arg):
        return 0

    async def _pump(self):
        out = self.tx or b""
        self.tx = None
        got = await self.link.exchange(out)
        if got:
            if self.rx:
                self.rx.extend(got)
            else:
                self.rx = got
        return len(out) + len(got)

    def _open(self):
        self.rx = self.tx = None
        h = self.hostname
        if h is None and self.name is not None:
            h = "meter-" + self.name
        try:
            self.sock = self.context.wrap_socket(self, server_side=False,
                                                 do_handshake_on_connect=False,
                                                 server_hostname=h)
        except Exception as e:  # noqa: BLE001 - mbedTLS raises OSError/ValueError
            self.sock = None
            raise TlsError("setup: %s" % e)
        self.started = self.clock()
        self.bytes = 0
        self.handshakes += 1

    def due(self):
        return self.sock is not None and (self.bytes >= self.renew_bytes
                                          or self.clock() - self.started >= self.renew_s)

    async def close(self):
        """End the session: close_notify if mbedTLS produced one, then DISC, so the
        meter drops its TLS state with the HDLC connection (MicroPython's tls close()
        does not always emit close_notify; a new SNRM is unambiguous)."""
        s = self.sock
        self.sock = None
        if s is None:
            return
        try:
            s.close()
            if self.tx and self.link.connected:
                await self._pump()
        except (OSError, ValueError, HdlcError):
            pass
        await self.link.disconnect()

    def drop(self):
        self.sock = None

    async def request(self, data, complete, limit=16384):
        """Send data, return the answer (bytearray) once complete(answer) is true."""
        if self.context is None:  # plain
            answer = await self.link.exchange(data)
            idle = 0
            while not complete(answer):
                got = await self.link.exchange(b"")
                if not got:
                    idle += 1
                    if idle > _IDLE_POLLS:
                        raise TlsError("no answer")
                answer.extend(got)
                if len(answer) > limit:
                    raise TlsError(msg(_T, 0))
            return answer
        if self.due():
            self.renewals += 1
            await self.close()
        if self.sock is None:
            self._open()
        s = self.sock
        try:
            idle = 0
            while True:
                r = s.write(data)
                if r is not None:
                    break
                idle = idle + 1 if await self._pump() == 0 else 0
                if idle > _IDLE_POLLS:
                    raise TlsError(msg(_T, 2))
            answer = bytearray()
            buf = bytearray(256)  # mbedTLS hands out a record's plaintext in parts
            idle = 0
            while not complete(answer):
                n = s.readinto(buf)
                if n is None:
                    idle = idle + 1 if await self._pump() == 0 else 0
                    if idle > _IDLE_POLLS:
                        raise TlsError("no answer")
                    continue
                if n == 0:
                    raise TlsError(msg(_T, 1))
                answer.extend(memoryview(buf)[:n])
                if len(answer) > limit:
                    raise TlsError(msg(_T, 0))
        except (OSError, ValueError) as e:  # mbedTLS: handshake/verify/record errors
            self.sock = None
            raise TlsError("tls: %s" % (str(e).strip() or type(e).__name__))
        except (HdlcError, TlsError):
            self.sock = None
            raise
        self.bytes += len(data) + len(answer)
        return answer


def sec1_key(raw32):
    """A raw P-256 private scalar (the /data/pki/*.key format) as SEC1 DER for mbedTLS."""
    return (b"\x30\x31\x02\x01\x01\x04\x20" + bytes(raw32)
            + b"\xa0\x0a\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07")


def client_context(cert_der, key_der, ca_der):
    import tls

    c = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if len(key_der) == 32:
        key_der = sec1_key(key_der)
    c.load_cert_chain(cert_der, key_der)
    c.load_verify_locations(ca_der)
    c.verify_mode = tls.CERT_REQUIRED
    return c
