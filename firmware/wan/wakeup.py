"""Wake-up service: a UDP listener for GWA-signed wake-up packets (TR-03109-1 wake-up).

Packet (big-endian):  "SMWU" | version (1) = 1 | id length (1) | gateway id (UTF-8) |
creation time (8, UTC seconds) | signature (64: r || s, ECDSA-SHA256 by the GWA key over
everything before it).
Accepted only if: signature valid with the pinned GWA certificate's key, gateway id is
ours, |now - creation| <= window (default 300 s), creation newer than the last accepted
packet (persisted, so a replay after a reboot is refused too). Then the gateway connects
to the *configured* GWA address; nothing in the packet says where. Every packet is
logged: "wan.wakeup" valid / invalid with the reason (system log via ctx.log).
The UDP socket is read by wan.admin between polls (Wan.woken); this module is loaded at
the first packet.
"""
import hashlib

from texts import unload

MAGIC = b"SMWU"
_VERSION = const(1)
STATE = "/data/wan/wakeup.last"
_LOGGED = const(10)  # refused packets logged per minute


class WakeupError(ValueError):
    """kind: 0 not a wake-up packet (format), 1 a wake-up packet refused."""

    def __init__(self, msg, kind=1):
        super().__init__(msg)
        self.kind = kind


def encode(gateway_id, t, sign):
    """Build a packet; sign(digest32) -> (r, s). (GWA side; used by tests.)"""
    gid = gateway_id.encode()
    body = MAGIC + bytes((_VERSION, len(gid))) + gid + int(t).to_bytes(8, "big")
    r, s = sign(hashlib.sha256(body).digest())
    return body + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def decode(pkt):
    """-> (gateway_id, creation time, signed body, r, s); raises WakeupError."""
    if len(pkt) < 6 + 8 + 64 or pkt[:4] != MAGIC:
        raise WakeupError("not a wake-up packet", 0)
    if pkt[4] != _VERSION:
        raise WakeupError("version %d" % pkt[4], 0)
    n = pkt[5]
    if len(pkt) != 6 + n + 8 + 64:
        raise WakeupError("length", 0)
    try:
        gid = bytes(pkt[6:6 + n]).decode()
    except UnicodeError:
        raise WakeupError("gateway id", 0)
    t = int.from_bytes(pkt[6 + n:14 + n], "big")
    body = pkt[:14 + n]
    sig = pkt[14 + n:]
    return gid, t, body, int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")


class Wakeup:
    def __init__(self, wan, state_path=STATE):
        self.wan = wan
        self.ctx = wan.ctx
        self.state_path = state_path
        self.last = 0
        try:
            with open(state_path) as f:
                self.last = int(f.read())
        except (OSError, ValueError):
            pass
        self.accepted = 0
        self.refused = 0
        self.minute = self.logged = self.quiet = 0  # refusals logged (rate limit)

    def check(self, pkt, now):
        """Validate a packet; returns its creation time or raises WakeupError."""
        gid, t, body, r, s = decode(pkt)
        if gid != self.wan.gateway_id:
            raise WakeupError("gateway id %r is not ours" % gid)  # repr: not signed yet
        # the cheap checks before the signature: a verification is pure-Python ECDSA
        # (blocking, most of a second on a board), a stream of old packets must not cost it
        window = self.wan.gwa.get("wakeup_window_s", 300)
        if abs(now - t) > window:
            raise WakeupError("stale (created %d s from now)" % (t - now))
        if t <= self.last:
            raise WakeupError("replayed (not newer than the last accepted)")
        try:
            gwa = self.wan.ident.peer_cert(self.wan.gwa.get("name", "gwa"))
        except Exception:  # noqa: BLE001 - no pinned GWA: nothing can be valid
            raise WakeupError("no GWA certificate")
        finally:
            unload("crypto.cms")  # loaded per check, not kept (RAM)
        if not self.wan.secmod.verify(gwa.point, hashlib.sha256(body).digest(), r, s):
            raise WakeupError("bad signature")
        return t

    def handle(self, pkt, src=None):
        now = self.ctx.now()
        try:
            t = self.check(pkt, now)
        except WakeupError as e:
            self.refused += 1
            # a port scan or a stream of old packets must not push the gateway's real
            # warnings out of the recent events (16, also what POST /log sends): what is
            # not a wake-up packet at all is information, and at most _LOGGED refusals a
            # minute are logged (the count of the others with the next one)
            if now // 60 != self.minute:
                self.minute = now // 60
                self.logged = 0
            if self.logged >= _LOGGED:
                self.quiet += 1
                return False
            self.logged += 1
            more = " (%d more not logged)" % self.quiet if self.quiet else ""
            self.quiet = 0
            self.ctx.log(1 if e.kind == 0 else 2, "wan.wakeup",
                         "invalid wake-up from %s: %s%s" % (src, e, more))
            return False
        self.last = t
        from store.records import write_atomic

        write_atomic(self.state_path, str(t).encode(), True)
        self.accepted += 1
        self.ctx.log(1, "wan.wakeup", "valid wake-up (created %d): contacting the GWA" % t)
        return True
