"""Pseudo-terminal plumbing for the virtual board.

A `PtyLink` is two pty pairs joined back to back by a relay thread (like socat
`pty,raw pty,raw`): the firmware opens one slave path, a host peer (pyserial, mpremote, a
meter simulator) opens the other. Both ends are raw: no echo, no line discipline, so
every byte, Ctrl-C included, passes through untouched.
"""
import os
import select
import threading
import tty


def open_raw_pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    return master, slave, os.ttyname(slave)


class PtyLink:
    """Two raw ptys bridged: `.a_path` (device side), `.b_path` (host side)."""

    def __init__(self, name="pty", tap=None):
        self.name = name
        self.tap = tap  # optional f(direction, bytes) for capture
        self.a_master, self.a_slave, self.a_path = open_raw_pty()
        self.b_master, self.b_slave, self.b_path = open_raw_pty()
        self._stop = False
        self._t = threading.Thread(target=self._relay, name=name, daemon=True)
        self._t.start()

    def _relay(self):
        fds = {self.a_master: self.b_master, self.b_master: self.a_master}
        while not self._stop:
            try:
                r, _, _ = select.select(list(fds), [], [], 0.2)
            except (OSError, ValueError):
                return
            for fd in r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    # the other side closed its slave for now; keep the link up
                    continue
                if not data:
                    continue
                if self.tap:
                    self.tap("a->b" if fd == self.a_master else "b->a", data)
                try:
                    _write_all(fds[fd], data)
                except OSError:
                    pass

    def close(self):
        self._stop = True
        self._t.join(1)
        for fd in (self.a_master, self.a_slave, self.b_master, self.b_slave):
            try:
                os.close(fd)
            except OSError:
                pass


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
