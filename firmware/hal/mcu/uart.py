"""UART on ESP32/RP2040: machine.UART is already a stream; add set_baudrate()."""
from machine import UART


class McuUart:
    def __init__(self, id, baudrate, tx, rx, rxbuf=2048):
        self.id = id
        self.kw = dict(baudrate=baudrate, tx=tx, rx=rx, rxbuf=rxbuf)
        self.u = UART(id, **self.kw)
        self.baudrate = baudrate

    def set_baudrate(self, b):
        self.baudrate = b
        self.u.init(baudrate=b)

    def read(self, n=-1):
        return self.u.read(n) if n > 0 else self.u.read()

    def readinto(self, buf):
        return self.u.readinto(buf)

    def write(self, buf):
        return self.u.write(buf)

    def ioctl(self, req, arg):
        return self.u.ioctl(req, arg)

    def txdone(self):
        return self.u.txdone()
