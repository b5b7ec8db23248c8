"""The virtual board's Ethernet NIC: the host's network, always with carrier.

`carrier = False` (from the REPL or a test) models an unplugged cable for wan.link_eth.
"""


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
