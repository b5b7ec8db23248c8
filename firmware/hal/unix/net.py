"""Network of the virtual board: the host's sockets on loopback, link always up, and its
Ethernet NIC (HostNic: the host's network, always with carrier; `carrier = False` from the
REPL or a test models an unplugged cable for wan.link_eth). One module (RAM per module)."""
import socket


class HostNet:
    getaddrinfo = staticmethod(socket.getaddrinfo)
    socket = socket.socket
    link = None  # set by the WAN-link layer (issue on WAN link); None = always up


class HostNic:
    def __init__(self):
        self._active = True
        self.carrier = True

    def active(self, v=None):
        if v is None:
            return self._active
        self._active = bool(v)
        return None

    def isconnected(self):
        return self._active and self.carrier

    def ifconfig(self, cfg=None):
        if cfg is None:
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        return None
