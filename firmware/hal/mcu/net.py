"""Network on a board: the port's socket module; the WAN link object brings it up."""
import socket


class McuNet:
    getaddrinfo = staticmethod(socket.getaddrinfo)
    socket = socket.socket
    link = None
