"""The HAN layer at run time: portal, CLS proxy, outputs control (built by han.service).

Loaded only when the HAN portal is configured (a certificate is installed or named), so
an unconfigured gateway pays for han.service alone. See han/service.py for the config.
"""
import asyncio
import os
import time

from net import firewall
from store.records import exists, mkdirs
from texts import unload

from han import tlsutil

# how long (host ms) a connection waits for a WAN session or payload build to end before
# the request stack is loaded anyway (ctx.take: one big transient heap user at a time)
_TAKE_MS = const(10000)


class State:
    pass


def _install_cert(cfg, pki):
    """Copy the HAN certificate named in the config into pki if none is installed."""
    der, key = pki + "/han.der", pki + "/han.key"
    if exists(der) and exists(key):
        return
    if not cfg.get("cert_file") or not cfg.get("key_file"):
        return
    mkdirs(pki)
    for src, dst in ((cfg["cert_file"], der), (cfg["key_file"], key)):
        data = tlsutil.read(src)
        with open(dst + ".tmp", "wb") as f:
            f.write(data)
        os.rename(dst + ".tmp", dst)


def Monotonic():
    """A clock: seconds since start from ticks_ms. Session, nonce, rate-limit and self-test
    timers must not jump when the gateway clock is set (time sync). Called at least every
    30 s (the outputs task), well inside the ticks_ms wrap period of the boards. A closure
    over [last ticks, seconds]: no class in the boot heap."""
    s = [time.ticks_ms(), 0.0]

    def clock():
        now = time.ticks_ms()
        s[1] += time.ticks_diff(now, s[0]) / 1000
        s[0] = now
        return s[1]

    return clock


def build(ctx, cfg, pki="/data/pki", clock=None):
    """Create the layer's objects (no sockets yet); returns the State."""
    clock = clock or Monotonic()
    st = State()
    st.cfg = cfg
    st.pki = pki
    _install_cert(cfg, pki)
    cert = tlsutil.read(pki + "/han.der")  # no certificate: no portal (OSError)

    st.fw = firewall.of(ctx)
    st.fingerprint = tlsutil.fingerprint(cert)
    key = tlsutil.read(pki + "/han.key")
    st.context = None  # the TLS server context: made on the first connection, then kept
    if any(u.get("cert") for u in (cfg.get("users") or {}).values()):
        st.tls = tlsutil.client_cert_factory(cert, key)  # client certificate logins
    else:
        tlsutil.server_context(cert, key)  # a broken certificate or key: no portal
        st.tls = None
    try:
        import _build

        ver, git = _build.VERSION, _build.GIT
    except ImportError:
        ver, git = "dev", None
    st.info = {"smgw_id": cfg.get("smgw_id") or "EOSG%s" % ctx.board.NAME.upper(),
               "fingerprint": st.fingerprint, "version": ver, "git": git}
    st.clock = clock
    st.ctx = ctx
    st.server = st.api = st.portal = None  # on the first connection: server(st)
    st.state = None  # the request stack's data while it is released (han.server.state)
    st.host = cfg.get("host") or ("127.0.0.1" if ctx.board.NAME == "unix" else "0.0.0.0")
    st.sock = None
    st.port = cfg.get("port") or (443 if ctx.board.NAME != "unix" else None)
    st.cls = None
    st.control = []
    from han.service import setup_outputs

    # created now only if there is something to restore or run (as in han.service);
    # otherwise on first use (han.service.outputs)
    st.outputs = getattr(ctx, "outputs", None) or setup_outputs(ctx, cfg, True)
    verify = cfg.get("cls_verify", True)
    cas = cfg.get("cls_ca_files")
    for p in cas or ():
        tlsutil.read(p)  # an unreadable CA file: no portal; read again per session, no copy

    def client_tls():
        return tlsutil.client_context(pki, [tlsutil.read(p) for p in cas] if cas else None,
                                      verify)

    pairs = [p for p in cfg.get("cls") or () if p.get("device") != "outputs"]
    if pairs:
        from han.cls import ClsProxy

        st.cls = ClsProxy(st.fw, pairs, ctx.log, client_tls, st.host,
                          cfg.get("cls_idle_s", 300), cfg.get("cls_life_s", 3600))
    for p in cfg.get("cls") or ():
        if p.get("device") == "outputs" and st.outputs is not None:
            from han.control import OutputControl

            st.control.append(OutputControl(st.fw, p, st.outputs, ctx.log, client_tls,
                                            cfg.get("control_retry_s", 30)))
    return st


def server(st):
    """The HTTPS server, JSON API and portal, created on use (a connection): han.server,
    .digest, .http, .api and .portal (~17 KB and ~200 qstrs on x64) stay out of the heap
    while no connection is open (release)."""
    if st.server is None:
        import gc

        gc.collect()  # the stack's long-lived objects packed low (docs/memory.md)
        from han.server import for_layer

        for_layer(st)
    return st.server


def _connection(st, r, w, ip):
    """The coroutine for a HAN connection: the request stack is loaded at once (so the
    server counts the connection before the next accept) unless a WAN session or
    payload build holds the heap (ctx.hold); then it waits for that first."""
    if st.server is None and not st.ctx.hold("han"):
        return _after_wan(st, r, w, ip)
    return server(st).connection(r, w, ip)


async def _after_wan(st, r, w, ip):
    await st.ctx.take("han", _TAKE_MS)
    if st.server is not None:  # another connection loaded it meanwhile: one hold
        st.ctx.give("han")
    await server(st).connection(r, w, ip)


def tls_context(st):
    """ssl factory of the listener: the server context, made on the first connection and
    kept when the request stack is released: it is one ~3 KB piece of mbedTLS state, and
    late in a day a fragmented heap may have no such run left (docs/memory.md)."""
    if st.context is None:
        st.context = tlsutil.server_context(tlsutil.read(st.pki + "/han.der"),
                                            tlsutil.read(st.pki + "/han.key"))
    return st.context, None


def release(st):
    """Unload the request stack when its last connection has closed (called by it): the
    sessions, nonces, failed-login counters, figures and self-test time stay in st.state
    (plain data) and go back into the next stack, so nothing a client sees changes."""
    srv = st.server
    if srv is None or srv.open:
        return
    import han

    st.state = han.server.state(st)
    st.server = st.api = st.portal = None
    for m in ("server", "digest", "http", "api", "portal"):
        unload("han." + m, True)  # only the layer loads them (texts.unload)
    st.ctx.give("han")


def listen(ctx, st):
    """Open the HTTPS (and CLS) listeners through the firewall; publish the endpoints."""
    if st.sock is None:
        ports = [st.port] if st.port else [20000 + int.from_bytes(os.urandom(2), "big") % 30000
                                           for _ in range(8)]
        err = None
        for port in ports:
            st.fw.allow("han", "in", "han-https", "*", port)
            try:
                # waiting clients queue in the backlog while max_conns are busy
                st.sock = st.fw.listen("han", "han-https", st.host, port,
                                       st.cfg.get("backlog", 16))
                st.port = port
                break
            except OSError as e:
                st.fw.revoke("han-https", "*", port)
                err = e
        if st.sock is None:
            raise err
    ctx.hal.endpoints["han"] = "https://%s:%d" % (st.host, st.port)
    if st.cls is not None:
        st.cls.listen()
        ctx.hal.endpoints["cls"] = "%s:%d" % (st.host, st.cls.pairs[0]["port"])


def status(st):
    # while the stack is not loaded: its figures from st.state (han.server.state)
    k = st.state or (0, 0, 0, ())
    d = st.server.status() if st.server else {"open": 0, "peak_open": k[2], "requests": k[0],
                                               "errors": k[1],
                                               "sessions": len(k[3]) - k[3].count(None)}
    d["url"] = "https://%s:%s" % (st.host, st.port)
    d["certificate_sha256"] = st.fingerprint
    if st.cls is not None:
        d["cls"] = st.cls.status()
    o = st.outputs or getattr(st.ctx, "outputs", None)
    if o is not None:
        d["outputs"] = o.state
    elif getattr(st.ctx.hal, "outputs", None):
        # no driver: nothing to restore at boot and nothing switched since, so all off
        # (the driver's state, without loading drivers.outputs for a look at it)
        d["outputs"] = {n: 0 for n in ("OUT1", "OUT2", "OUT3", "RELAY")}
    return d


def _busy(st, p):
    """All connections in use (the accept loop waits)? Then also tell the server whether a
    client waits in the listen backlog (p: a poll of the listening socket), so that an idle
    keep-alive connection makes room for it (han.server.HanServer.wait_request)."""
    s = st.server
    if s is None or not s.busy():
        return False
    s.waiting = False
    for _ in p.ipoll(0):  # ipoll: no list per call (this runs every 10 ms while busy)
        s.waiting = True
    return True


async def serve(ctx, st):
    """Serve the listeners until cancelled (also used by tests with a fake ctx)."""
    import select

    listen(ctx, st)
    sock = st.sock
    p = select.poll()
    p.register(sock, select.POLLIN)
    tasks = [firewall.serve(sock, lambda r, w, ip: _connection(st, r, w, ip),
                            st.tls or (lambda: tls_context(st)),
                            busy=lambda: _busy(st, p), log=ctx.log)]
    if st.cls is not None:
        tasks.append(st.cls.run())
    tasks += [c.run() for c in st.control]
    try:
        await asyncio.gather(*tasks)
    finally:
        st.sock = None


async def outputs_task(ctx, st):
    outputs = getattr(ctx, "outputs", None)
    while True:
        if st is not None:
            st.clock()  # keeps the monotonic clock inside the ticks_ms wrap
        if outputs is not None and outputs.schedule:
            outputs.schedule_tick(ctx.now())
        await ctx.sleep(30)
