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


def msg(table, i):
    """Message i of a "|"-separated table: a decoder module keeps its error texts in one
    string constant (each distinct literal of >= 10 characters is a ~42-byte heap object
    while the module is loaded, x64; docs/memory.md)."""
    p = 0
    while i:
        p = table.find("|", p) + 1
        i -= 1
    e = table.find("|", p)
    return table[p:] if e < 0 else table[p:e]
