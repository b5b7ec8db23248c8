"""HAN benchmark figures for `gwtool bench`: run(quick) -> dict.

The HAN service runs in the MicroPython unix port on the fake core of tests/han (a day
of 15-min readings per consumer); a CPython client (gwtool.han_client, keep-alive, one
TLS session) measures:
  readings_last_rps / readings_day_rps            requests per second, no ingest
  readings_last_rps_ingest / readings_day_rps_ingest   same while 200 readings/s arrive
  handshake_ms             full TLS (P-256) handshake + first request on a new connection
  heap_per_session_bytes   MicroPython heap held by one open, idle HTTPS session
  tls_handshake_heap_bytes heap a TLS server handshake needs beyond the loaded
                           certificate (smallest -X heapsize that completes one, minus
                           the heap in use before it; bisection to 1 KiB). Counts only
                           what mbedTLS takes from the MicroPython heap on this port.
  tls_context_heap_bytes   heap of a server context with its P-256 certificate and key
  tls_session_heap_bytes   heap of one established session (after a collection)
The client runs on the same host: figures are lower bounds for the server.
"""
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import mpy
from .han_client import HanClient
from .paths import ROOT
from .sim_han import han_config

TESTS = ROOT / "tests" / "han"
T0 = 1700000000 - 1700000000 % 900
DAY = {"method": "readings", "usage-point-id": "up-1-1", "channels": [{"channel": "1-0:1.8.0*255"}],
       "fromtime": "2023-11-14T22:00:00Z", "totime": "2023-11-15T22:00:00Z"}
LAST = {"method": "readings", "usage-point-id": "up-1-1", "last-reading": True}


class _Server:
    def __init__(self, workdir, ingest_ms=0, max_conns=8):
        han, self.users, self.fp = han_config(workdir)
        han["max_conns"] = max_conns
        cfg = {"han": han, "pki": str(Path(workdir) / "data-pki"), "now": T0 + 86400,
               "ingest_ms": ingest_ms}
        (Path(workdir) / "data-pki").mkdir(exist_ok=True)
        p = Path(workdir) / "bench.json"
        p.write_text(json.dumps(cfg))
        self.proc = subprocess.Popen(mpy.command(TESTS / "serve_fake.py", "8M", [p]),
                                     env=mpy.env_for([TESTS]), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, cwd=workdir)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError("HAN bench server failed: " + line)
        self.url = f"https://127.0.0.1:{line.split()[1]}"

    def client(self, key="consumer1"):
        u = self.users[key]
        return HanClient(self.url, u["user"], u["password"], fingerprint=self.fp)

    def stop(self):
        self.proc.kill()
        self.proc.wait(5)


def _rps(c, body, n):
    c.call(method=body["method"], **{k: v for k, v in body.items() if k != "method"})
    t = time.perf_counter()
    for _ in range(n):
        c.call(body["method"], **{k: v for k, v in body.items() if k != "method"})
    return round(n / (time.perf_counter() - t), 1)


def _stats(c):
    _st, _r, data = c.request("GET", "/test/stats", use_session=True)
    return json.loads(data)


# what han.tlsutil.server_context does, without importing the firmware from source: the
# compiler's peak for its imports (store.records) was ~65 KB, and the bisection found that
# instead of the handshake's heap
_TLS_SERVER = """
import gc, socket, sys, tls
cert, key = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
gc.collect()
c0 = gc.mem_alloc()
c = tls.SSLContext(tls.PROTOCOL_TLS_SERVER)
c.load_cert_chain(cert, key)
gc.collect()
ctx = gc.mem_alloc() - c0
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(socket.getaddrinfo("127.0.0.1", int(sys.argv[3]))[0][-1])
s.listen(1)
gc.collect()
print("BASE", gc.mem_alloc())
sys.stdout.flush() if hasattr(sys.stdout, "flush") else None
a, _ = s.accept()
t = c.wrap_socket(a, server_side=True)
t.read(5)
gc.collect()
sess = gc.mem_alloc() - c0 - ctx
t.write(b"ok")
t.close()
print("DONE", ctx, sess)
"""


def _handshake_ok(workdir, heap_kib, der, key):
    """One MicroPython TLS server handshake at -X heapsize=heap_kib K with a CPython
    client: (completed, heap in use before it, (context heap, session heap) or None)."""
    import socket
    import ssl

    from .vboard import free_port

    port = free_port()
    script = Path(workdir) / "tls_server.py"
    script.write_text(_TLS_SERVER)
    p = subprocess.Popen(mpy.command(script, f"{heap_kib}K", [der, key, port]),
                         env=mpy.env_for(), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        line = p.stdout.readline()
        if not line.startswith("BASE"):
            return False, None, None
        base = int(line.split()[1])
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                    ctx.wrap_socket(raw) as t:
                t.sendall(b"hello")
                ok = t.recv(2) == b"ok"
        except OSError:
            ok = False
        if not ok or p.wait(5) != 0:
            return False, None, None
        done = p.stdout.read().split()
        return True, base, (int(done[1]), int(done[2]))  # heap of the context, the session
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


def _key_der(raw_key_path):
    """The HAN key (a raw P-256 scalar on disk) as SEC1 DER, which mbedTLS parses."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    raw = Path(raw_key_path).read_bytes()
    k = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    out = Path(raw_key_path).with_suffix(".sec1.der")
    out.write_bytes(k.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()))
    return out


def tls_handshake_heap(workdir):
    from .sim_han import make_han_cert

    der, key, _ = make_han_cert(Path(workdir) / "tls")
    key = _key_der(key)
    lo, hi, base = 8, 256, None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok, b, _ = _handshake_ok(workdir, mid, der, key)
        if ok:
            hi, base = mid, b
        else:
            lo = mid
    return hi * 1024 - (base or 0)


def tls_heap_parts(workdir):
    """Heap of a TLS server context with its certificate and key, and of one established
    session (after its handshake and first read), both after a collection: (context,
    session) bytes. On this port mbedTLS takes its memory from the MicroPython heap; on
    the esp32 port it takes it from ESP-IDF's heap, outside the MicroPython budget."""
    from .sim_han import make_han_cert

    der, key, _ = make_han_cert(Path(workdir) / "tlsp")
    ok, _, parts = _handshake_ok(workdir, 1024, der, _key_der(key))
    if not ok:
        raise RuntimeError("TLS handshake at 1 MiB failed")
    return parts


def run(quick=True):
    n = 20 if quick else 200
    out = {}
    with tempfile.TemporaryDirectory() as wd:
        out["tls_handshake_heap_bytes"] = tls_handshake_heap(wd)
        out["tls_context_heap_bytes"], out["tls_session_heap_bytes"] = tls_heap_parts(wd)
        for ingest, suffix in ((0, ""), (5, "_ingest")):
            srv = _Server(wd, ingest)
            try:
                c = srv.client()
                c.discover()
                out["readings_last_rps" + suffix] = _rps(c, LAST, n)
                out["readings_day_rps" + suffix] = _rps(c, DAY, max(5, n // 4))
                if ingest == 0:
                    times = []
                    for _ in range(5 if quick else 20):
                        k = srv.client()
                        k.cookie = c.cookie
                        t = time.perf_counter()
                        k.request("GET", "/test/stats", use_session=True)
                        times.append((time.perf_counter() - t) * 1000)
                        k.close()
                    out["handshake_ms"] = round(statistics.median(times), 1)
                    base = _stats(c)["mem_alloc"]
                    held = []
                    for _ in range(4):
                        k = srv.client()
                        k.cookie = c.cookie
                        k.request("GET", "/test/stats", use_session=True)
                        held.append(k)
                    after = _stats(c)["mem_alloc"]
                    out["heap_per_session_bytes"] = (after - base) // len(held)
                    for k in held:
                        k.close()
                c.close()
            finally:
                srv.stop()
    return out


if __name__ == "__main__":
    print(json.dumps(run("--full" not in sys.argv), indent=1))
