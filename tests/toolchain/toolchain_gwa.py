"""A minimal TLS server acting as the GWA, for the provisioning tests."""
import socket
import ssl
import threading

from cryptography import x509


class GwaServer:
    """A minimal TLS server acting as the GWA: requires a client certificate from the PKI."""

    def __init__(self, server_pki, client_ca):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(server_pki / "gwa.crt", server_pki / "gwa.key")
        self.ctx.load_verify_locations(client_ca / "chain.crt")
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.peer = None
        self.error = None
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        try:
            c, _ = self.sock.accept()
            c.settimeout(20)
            with self.ctx.wrap_socket(c, server_side=True) as t:
                self.peer = t.getpeercert(binary_form=True)
                line = t.recv(64)
                cn = x509.load_der_x509_certificate(self.peer).subject.rfc4514_string()
                t.sendall(b"PONG " + line.strip() + b" " + cn.encode() + b"\n")
        except (OSError, ssl.SSLError) as e:
            self.error = e
        finally:
            self.sock.close()

    def join(self):
        self.t.join(30)
