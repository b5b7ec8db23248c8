"""A UART on the virtual board: a pseudo-terminal opened by path, raw mode, non-blocking.

Behaves as a MicroPython stream (read/readinto/write/ioctl), so `asyncio.StreamReader`
and the LMN drivers use it exactly like `machine.UART` on a board.
"""
import termios

_VTIME = const(5)  # Linux c_cc indices
_VMIN = const(6)


def raw_nonblocking(fd):
    """Terminal set-up for the virtual board's ptys (and the console, boards/unix).

    MicroPython's stream read(n) keeps reading until it has n bytes or a read returns 0.
    With VMIN=0/VTIME=0 a tty read returns at once with what is there, so after asyncio's
    poll says "readable", read(n) returns the bytes available instead of blocking the
    whole event loop until n arrive: the behaviour of machine.UART on a board.
    """
    termios.setraw(fd)
    attr = termios.tcgetattr(fd)
    attr[6][_VMIN] = 0
    attr[6][_VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attr)


class PtyUart:
    def __init__(self, path, baudrate=9600):
        self.path = path
        self.baudrate = baudrate
        self.f = open(path, "r+b")
        self.fd = self.f.fileno()
        raw_nonblocking(self.fd)  # no echo, no line discipline, reads never block

    def set_baudrate(self, b):
        # A pty has no line rate; timing is modelled by the peers. Kept for the interface.
        self.baudrate = b

    def read(self, n=-1):
        return self.f.read(n if n > 0 else 4096)

    def readinto(self, buf):
        return self.f.readinto(buf)

    def write(self, buf):
        return self.f.write(buf)

    def ioctl(self, req, arg):
        return self.f.ioctl(req, arg) if hasattr(self.f, "ioctl") else 0

    def fileno(self):
        return self.fd

    def close(self):
        self.f.close()
