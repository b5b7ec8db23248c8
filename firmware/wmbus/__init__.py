"""Wireless M-Bus (EN 13757-4/-7, OMS Vol. 2) receive path.

Modules: crc (CRC-16 EN 13757), three_of_six (T-mode chip coding), frame (formats A/B),
telegram (DLL, ELL, AFL, TPL, security), apl (DIF/VIF records, normalisation),
keys (meter key store), service (radio task -> readings). Only WmbusError escapes.
"""


class WmbusError(Exception):
    """Bad wM-Bus input; `.layer` names the layer ("3of6", "frame", "dll", "ell", "afl",
    "tpl", "apl", "key", "mac", "decrypt"), `.offset` the byte offset when known."""

    def __init__(self, layer, reason, offset=-1, meter=None):
        super().__init__("%s: %s%s" % (layer, reason, "" if offset < 0 else " at %d" % offset))
        self.layer = layer
        self.reason = reason
        self.offset = offset
        self.meter = meter
