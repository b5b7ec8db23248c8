"""Network of the virtual board: the host's sockets on loopback, link always up."""
import socket


class HostNet:
    getaddrinfo = staticmethod(socket.getaddrinfo)
    socket = socket.socket
    link = None  # set by the WAN-link layer (issue on WAN link); None = always up
