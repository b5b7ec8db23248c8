"""Terminal set-up for the virtual board's ptys.

MicroPython's stream read(n) keeps reading until it has n bytes or a read returns 0.
With VMIN=0/VTIME=0 a tty read returns at once with what is there, so after
asyncio's poll says "readable", read(n) returns the bytes available instead of blocking
the whole event loop until n arrive: the behaviour of machine.UART on a board.
"""
import termios

_VTIME = const(5)  # Linux c_cc indices
_VMIN = const(6)


def raw_nonblocking(fd):
    termios.setraw(fd)
    attr = termios.tcgetattr(fd)
    attr[6][_VMIN] = 0
    attr[6][_VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attr)
