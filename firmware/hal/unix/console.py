"""Console streams of the virtual board: the process's stdin/stdout (a pty from gwtool)."""
import sys


def streams():
    from hal.unix.tty import raw_nonblocking

    raw_nonblocking(0)
    return sys.stdin.buffer, sys.stdout.buffer
