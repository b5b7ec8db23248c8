"""TLS 1.2 client sessions for the WAN (GWA, EMTs, MQTT broker) with mutual authentication:
the identity, the session object and the layer's error type stay loaded; making the
pinned context and opening a session is wan.http's (loaded per session, RAM).

TR-03109-1/TR-03116-3 profile as far as MicroPython's `tls` (mbedTLS) allows:
- TLS 1.2 ECDHE-ECDSA suites only (AES-128-GCM-SHA256, AES-128-CBC-SHA256,
  AES-256-GCM-SHA384, AES-256-CBC-SHA384), certificate verification required.
- Client authentication with the gateway certificate (/data/pki/gateway.der) and key
  (the security module; the software module hands mbedTLS an RFC 5915 DER key).
- CA pinning per peer: the context of a peer trusts only the CA certificate that issued
  that peer's pinned certificate (/data/pki/peers/<name>.der), and the server name
  checked against the certificate is the peer's name, so another peer of the same CA
  cannot stand in for it.
- Session time limit 48 h (TR-03109-1): `Session.expired()`; long-lived connections
  (MQTT) are closed and re-established when it is reached; WAN deliveries are short.
- P-256 only in the stock unix/ESP32 mbedTLS; brainpoolP256r1 needs a firmware build
  with MBEDTLS_ECP_DP_BP256R1_ENABLED (board build option, see docs/wan.md).
"""
import asyncio

from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("%s: no context yet: %s|no pinned certificate")

_PKI = const("/data/pki")
_MAX_SESSION_S = const(172800)  # 48 h


class WanError(Exception):
    """The WAN layer's one exception type: reason text, optional peer."""

    def __init__(self, reason, peer=None):
        super().__init__(reason if peer is None else "%s: %s" % (peer, reason))
        self.reason = reason
        self.peer = peer


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


class _Signer:
    """The gateway certificate's der, issuer and serial: what a payload's SignedData
    needs. Kept instead of the crypto.cms.Cert they come from: an instance keeps its
    class, the class its module's globals, and crypto.cms is loaded per payload. A kept
    Cert (with the crypto.ecc curve in it) held ~10 KB on x64 after the first payload,
    and each payload loaded a second copy of crypto.cms beside it."""

    def __init__(self, cert):
        self.der, self.issuer, self.serial = cert.der, cert.issuer, cert.serial


class Identity:
    """The gateway's TLS identity and the trust store under /data/pki (or another dir)."""

    def __init__(self, secmod, pki=_PKI):
        self.secmod = secmod
        self.pki = pki
        # One short-lived WAN session at a time (EMT deliveries, GWA sessions): a TLS
        # handshake is the largest RAM user of the layer (on the unix port mbedTLS
        # allocates from the GC heap), and a WAN link is one pipe anyway.
        self.lock = asyncio.Lock()
        # peer name -> file name of the CA that issued its pinned certificate (wan.http):
        # found once, not per session; cleared when a configuration is applied
        self.issuers = {}
        # CA file name -> (gateway certificate DER, SSLContext) (wan.http.context)
        self.contexts = {}
        # the gateway certificate: ((size, mtime), DER, _Signer or None)
        self._own = None

    def cert_der(self):
        """The gateway certificate (DER), read again only when its file changed (size or
        mtime) or after forget(): every session and every payload build needs it, and a
        fresh ~750-byte piece per use may not be left late in a fragmented day."""
        import os

        p = self.pki + "/gateway.der"
        st = os.stat(p)
        k = (st[6], st[8])
        c = self._own
        if c is None or c[0] != k:
            c = self._own = (k, read_file(p), None)
        return c[1]

    def signer(self):
        """The gateway certificate as the signer of payloads (crypto.cms.signed_parts:
        its der, issuer and serial), parsed once per version of the file, not per
        payload."""
        der = self.cert_der()
        c = self._own
        if c[2] is None:
            from crypto.cms import Cert

            c = self._own = (c[0], der, _Signer(Cert(der)))
        return c[2]

    def peer_cert(self, name):
        from crypto.cms import Cert

        try:
            return Cert(read_file("%s/peers/%s.der" % (self.pki, name)))
        except OSError:
            raise WanError(msg(_T, 1), name)

    def forget(self):
        """Pinned certificates or CAs may have changed (a configuration was applied):
        find issuers and make contexts anew."""
        self.issuers.clear()
        self.contexts.clear()
        self._own = None

    def prewarm(self, names, log):
        """Make the pinned contexts of these peers now (at start-up, in a heap not yet
        fragmented): each needs ~3 KB in one piece and stays (wan.http.context), and a
        day's first session may come when no such run is left. Failures are logged; the
        session makes its context then."""
        from store.records import exists
        from texts import unload

        for n in names:
            if not exists("%s/peers/%s.der" % (self.pki, n)):
                continue  # nothing pinned yet: its session will say so
            try:
                self.context(n)
            except Exception as e:  # noqa: BLE001 - WanError, OSError, ValueError
                log(1, "wan.tls", msg(_T, 0) % (n, e))
        unload("wan.http")

    def context(self, name):
        """SSLContext pinned to the CA of peer `name` (wan.http.context: the session code
        is loaded with the HTTP client, per session)."""
        from wan import http

        return http.context(self, name)


class Session:
    """One TLS connection to a peer: asyncio streams plus its age."""

    def __init__(self, name, reader, writer, opened):
        self.name = name
        self.reader = reader
        self.writer = writer
        self.opened = opened

    def expired(self, now):
        return now - self.opened >= _MAX_SESSION_S

    async def close(self):
        try:
            self.writer.close()
            await self.writer.wait_closed()
        except OSError:
            pass


async def open_session(ctx, ident, name, host, port, timeout_s=30, purpose=None):
    """A TLS session to peer `name` (wan.http.open_session, loaded per session: RAM)."""
    from wan import http

    return await http.open_session(ctx, ident, name, host, port, timeout_s, purpose)
