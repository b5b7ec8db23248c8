"""The firewall: every socket of the firmware is opened through this module.

Networks (the gateway's interfaces, BSI TR-03109-1 terms): WAN (to the GWA and the
external market participants, EMT), HAN (consumers, service technician, CLS devices)
and LMN (meters). The policy is default deny:

- WAN: outbound only to the endpoints the configuration names (GWA, EMTs, CLS proxy
  targets), inbound only to the wake-up listener.
- HAN: inbound only to the gateway's own services (HTTPS portal); never outbound.
- CLS: inbound only to the CLS proxy port; the proxy itself connects out on the WAN.
- LMN: no IP traffic at all (the LMN is RS485/radio; an IP socket on it is refused).

A flow is named by (network, direction, purpose, host, port). `allow()` adds an exact
endpoint for a permitted (network, direction, purpose) combination; combinations outside
_MATRIX can never be allowed. Every refusal raises FirewallError and is logged
("fw.refuse"). On the virtual board every interface is the host's loopback, so the
network is the label the caller gives; on a board each network is its own interface.
`self_test()` proves the rules: every forbidden combination is refused and logged.
"""
import asyncio
import socket
from asyncio import core
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("%s %s %s %s:%s|%s %s %s (not permitted by policy)|TLS setup for %s failed: %s"
           "|firewall: refused %s|%s %s %s %r:%r (bad endpoint)|%s:%s: no TLS answer")


# the (network, direction, purpose) flows that may ever be allowed, "|net dir purpose|"
# (one string: a dict of tuples costs ~0.5 KB of heap)
_MATRIX = ("|wan out gwa|wan out emt|wan out cls-proxy|wan out ntp|wan out mqtt"
           "|wan in wake-up|han in han-https|cls in cls-proxy|")
NETS = ("wan", "han", "cls", "lmn")


def permitted(net, direction, purpose):
    """Whether (net, direction, purpose) is inside the policy matrix."""
    k = "|%s %s %s|" % (net, direction, purpose)
    return k.count(" ") == 2 and k.count("|") == 2 and k in _MATRIX


class FirewallError(OSError):
    """A flow the rules do not allow; .flow names it."""

    def __init__(self, flow):
        super().__init__(msg(_T, 3) % flow)
        self.flow = flow


def _addr(host, port):
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]


def peer_ip(addr):
    """Dotted IPv4 address from a raw sockaddr (unix port) or an (ip, port) tuple."""
    if isinstance(addr, tuple):
        return addr[0]
    b = bytes(addr)
    if len(b) >= 8 and b[0] == 2:  # AF_INET, little-endian family on the unix port
        return "%d.%d.%d.%d" % (b[4], b[5], b[6], b[7])
    return "?"


class Firewall:
    def __init__(self, log=None):
        self.log = log
        self.rules = []  # [net, direction, purpose, host, port]
        self.refused = 0
        self.allowed = 0
        self.last_refusal = None

    # -- rules ------------------------------------------------------------------------
    def allow(self, net, direction, purpose, host, port):
        """Permit one endpoint; host "*" = any address of that network (listeners)."""
        if not permitted(net, direction, purpose):
            raise FirewallError(msg(_T, 1) % (net, direction, purpose))
        # an exact endpoint: a host name or address, a port 1..65535 (an int: check()
        # compares ints), and "*" only for a listener (an outbound "*" would open the WAN
        # to every host)
        if (not isinstance(host, str) or not host or " " in host or "|" in host
                or (host == "*" and direction != "in") or not isinstance(port, int)
                or isinstance(port, bool) or not 0 < port < 65536):
            raise FirewallError(msg(_T, 4) % (net, direction, purpose, host, port))
        r = [net, direction, purpose, host, port]
        if r not in self.rules:
            self.rules.append(r)
        return r

    def revoke(self, purpose, host=None, port=None):
        self.rules = [r for r in self.rules if not (
            r[2] == purpose and (host is None or r[3] == host)
            and (port is None or r[4] == port))]

    def check(self, net, direction, purpose, host, port):
        if not permitted(net, direction, purpose):
            return False
        for r in self.rules:
            if (r[0] == net and r[1] == direction and r[2] == purpose
                    and (r[3] == "*" or r[3] == host) and r[4] == port):
                return True
        return False

    def enforce(self, net, direction, purpose, host, port):
        if self.check(net, direction, purpose, host, port):
            self.allowed += 1
            return
        flow = msg(_T, 0) % (net, direction, purpose, host, port)
        self.refused += 1
        self.last_refusal = flow
        if self.log:
            self.log(3, "fw.refuse", flow)
        raise FirewallError(flow)

    # -- sockets ----------------------------------------------------------------------
    def listen(self, net, purpose, host, port, backlog=4):
        """A bound, listening, non-blocking socket for an allowed inbound service."""
        self.enforce(net, "in", purpose, host, port)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(_addr(host, port))
            s.listen(backlog)
        except OSError:
            s.close()
            raise
        s.setblocking(False)
        return s

    async def open_connection(self, net, purpose, host, port, ssl=None, server_hostname=None,
                              timeout_s=10):
        """asyncio.open_connection through the rules: (reader, writer) streams.

        With ssl, the TCP connect and the server's first TLS flight (its certificate is
        checked when that is processed) must come within timeout_s: a refused connection,
        a certificate the context does not accept, a peer that does not speak TLS or does
        not answer raise OSError here (the socket closed), not at the first read."""
        self.enforce(net, "out", purpose, host, port)
        s = socket.socket()
        try:
            s.setblocking(False)
            try:
                s.connect(_addr(host, port))
            except OSError as e:
                if e.errno != 115:  # EINPROGRESS
                    raise
            if ssl:
                s = ssl.wrap_socket(s, server_hostname=server_hostname or host,
                                    do_handshake_on_connect=False)
                s.setblocking(False)
            st = asyncio.StreamReader(s)
            await asyncio.wait_for_ms(_start(st, ssl), timeout_s * 1000)
        except asyncio.TimeoutError:
            s.close()
            raise OSError(110, msg(_T, 5) % (host, port))  # ETIMEDOUT
        except BaseException:  # noqa: BLE001 - also cancelled: never leave the socket open
            s.close()
            raise
        return st, st

    def connect(self, net, purpose, host, port):
        """Blocking socket connect through the rules."""
        self.enforce(net, "out", purpose, host, port)
        s = socket.socket()
        try:
            s.connect(_addr(host, port))
        except OSError:
            s.close()
            raise
        return s

    def status(self):
        return {"rules": len(self.rules), "allowed": self.allowed, "refused": self.refused,
                "last_refusal": self.last_refusal}

    # -- self-test ----------------------------------------------------------------------
    def self_test(self):
        """Check the policy (net/fwtest.py: loaded for the test and dropped after it)."""
        from texts import unload

        from net import fwtest

        try:
            return fwtest.run(self)
        finally:
            unload("net.fwtest")


async def _start(st, tls):
    """Wait for the TCP connect; with TLS also step the handshake through the server's
    first flight. read(0)/write(b"") do not step mbedTLS, readinto does: the first call
    sends the ClientHello (a refused connect raises here), the second processes the
    server's answer (ServerHello, certificate: a wrong one raises here) and sends our
    next flight. Application data cannot come before the server has our Finished
    (TLS 1.2; a TLS 1.3 server sends it after its handshake), so nothing is consumed."""
    yield core._io_queue.queue_write(st.s)
    if tls:
        b = bytearray(1)
        n = st.s.readinto(b)
        if n is None:
            n = yield from st.readinto(b)
        if n == 0:  # closed by the peer before the handshake
            raise OSError(104)  # ECONNRESET


def of(ctx):
    """The gateway's firewall (one per Context), created on first use."""
    fw = getattr(ctx, "firewall", None)
    if fw is None:
        fw = ctx.firewall = Firewall(ctx.log)
        extra = getattr(ctx, "diag_extra", None)
        if extra is None:
            extra = ctx.diag_extra = {}
        extra["firewall"] = fw.status
    return fw


async def serve(sock, cb, ssl=None, accept=None, busy=None, log=None):
    """Accept loop on a socket from Firewall.listen (as asyncio.start_server does).

    ssl: an SSLContext, or a factory returning (SSLContext, dict) per connection (the dict
    is the stream's extra info, e.g. a client certificate holder; otherwise the stream has
    none: no dict per connection, the peer's address is the cb's third argument).
    accept(peer_ip) -> bool may refuse a peer before TLS starts. cb(reader, writer, peer)
    runs as its own task. While busy() is true no connection is accepted: clients wait
    in the listen backlog instead of being refused. Cancel the task to stop serving
    (the socket is closed).
    """
    try:
        while True:
            while busy is not None and busy():
                yield from core.sleep_ms(10)
            yield core._io_queue.queue_read(sock)
            try:
                s2, addr = sock.accept()
            except Exception:  # noqa: BLE001 - a failed accept is not fatal
                continue
            ip = peer_ip(addr)
            if accept is not None and not accept(ip):
                s2.close()
                continue
            try:
                s2.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: no Nagle + delayed-ACK
            except (OSError, AttributeError):
                pass
            extra = None  # no per-connection dict unless the factory gives one
            if ssl:
                try:
                    tctx = ssl
                    if not hasattr(ssl, "wrap_socket"):  # a factory: (context, extra info)
                        tctx, extra = ssl()
                    s2 = tctx.wrap_socket(s2, server_side=True, do_handshake_on_connect=False)
                except (OSError, MemoryError) as e:  # e.g. no heap for another TLS session
                    if log:
                        log(3, "net.tls", msg(_T, 2) % (ip, e))
                    s2.close()
                    continue
            s2.setblocking(False)
            st = asyncio.StreamReader(s2, extra) if extra else asyncio.StreamReader(s2)
            core.create_task(cb(st, st, ip))
    finally:
        sock.close()
