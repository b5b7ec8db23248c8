"""RS485 transceiver (e.g. TI THVD1450, MAX3485) with a combined DE/nRE pin.

Half duplex: drive DE high only while our bytes are on the wire, then release the bus
so the meter can answer. The UART is injected (hal stream); the DE pin too.
"""
import asyncio


class Rs485:
    def __init__(self, uart, de, baudrate=921600):
        self.uart = uart
        self.de = de
        self.baudrate = baudrate
        uart.set_baudrate(baudrate)
        de.value(0)

    async def send(self, buf):
        """Transmit buf with DE asserted; return when the last stop bit has left."""
        self.de.value(1)
        try:
            self.uart.write(buf)
            txdone = getattr(self.uart, "txdone", None)
            if txdone:
                while not txdone():
                    await asyncio.sleep_ms(0)
        finally:
            self.de.value(0)

    # stream protocol so asyncio.StreamReader works on the receive side
    def read(self, n=-1):
        return self.uart.read(n)

    def readinto(self, buf):
        return self.uart.readinto(buf)

    def write(self, buf):
        return self.uart.write(buf)

    def ioctl(self, req, arg):
        return self.uart.ioctl(req, arg)
