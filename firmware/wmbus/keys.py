"""Meter key store: /data/keys/meters.json = {"<meter id>": "<32 hex AES key>"}.

Meter ids are "MAN-ID" (e.g. "KAM-12345678"); a bare "12345678" entry matches any
manufacturer. A value of "" or null registers an unencrypted meter. Keys are held as
bytes and never printed, logged or put in diag: repr() shows only the count.

RAM: the usual ids (3 letters + 8 hex digits, or a bare 8 hex digits) are packed into
one bytes table of 7-byte records (id 4 bytes, manufacturer code 2 bytes with bit 15
set, 0 for a bare id, has-key flag) searched with find(), and the keys into one bytes
of 16 bytes per record: ~23 B per meter instead of ~130 B as a dict of str -> bytes
(x64). Other ids (never sent by a meter, but allowed in the file) go to a small dict.
"""
import json

from texts import msg

PATH = "/data/keys/meters.json"
# load errors, msg(_E, i) (one string constant: RAM, see texts.py)
_E = const("meters.json is not valid JSON|meters.json is not an object|bad key for one meter")


def norm(meter):
    """Canonical meter id: manufacturer upper case, id lower-case hex."""
    if "-" in meter:
        man, i = meter.split("-", 1)
        return man.upper() + "-" + i.lower()
    return meter.lower()


def _pack(m, out):
    """Normalised id -> its 6-byte record key in out; False if it has no packed form."""
    c = 0
    if "-" in m:
        man, m = m.split("-", 1)
        if len(man) != 3:
            return False
        for ch in man:
            v = ord(ch) - 64
            if not 0 <= v < 32:
                return False
            c = (c << 5) | v
        c |= 0x8000
    if len(m) != 8:
        return False
    for ch in m:
        if ch not in "0123456789abcdef":
            return False
    out[0:4] = bytes.fromhex(m)
    out[4] = c >> 8
    out[5] = c & 0xFF
    return True


class KeyStore:
    def __init__(self, path=PATH):
        self.path = path
        self._n = bytearray(6)  # lookup needle (reused)
        self.reload()

    def reload(self):
        self._ids = b""  # 7-byte records: id, manufacturer code, has key
        self._keys = b""  # 16 bytes per record (zeros without a key)
        self._odd = None  # other ids -> key bytes (b"" = unencrypted)
        self.error = None
        try:
            with open(self.path) as f:
                d = json.load(f)
        except OSError:
            return  # no key file: no meters
        except ValueError:
            self.error = msg(_E, 0)
            return
        if not isinstance(d, dict):
            self.error = msg(_E, 1)
            return
        ids = bytearray()
        keys = bytearray()
        for m, k in d.items():
            try:
                kb = bytes.fromhex(k) if k else b""
            except (ValueError, TypeError):
                kb = None
            if kb is None or len(kb) not in (0, 16):
                self.error = msg(_E, 2)  # which one is not said: no hints
                continue
            m = norm(m)
            if not _pack(m, self._n):
                if self._odd is None:
                    self._odd = {}
                self._odd[m] = kb
                continue
            j = self._rec(ids)
            if j < 0:
                j = len(ids) // 7
                ids.extend(self._n)
                ids.append(0)
                keys.extend(bytes(16))
            ids[7 * j + 6] = 1 if kb else 0
            if kb:
                keys[16 * j:16 * j + 16] = kb
        self._ids = bytes(ids)
        self._keys = bytes(keys)

    def _rec(self, ids):
        """Index of the record of the id packed in self._n, or -1."""
        i = ids.find(self._n)
        while i >= 0 and i % 7:
            i = ids.find(self._n, i + 1)
        return i // 7 if i >= 0 else -1

    def _find(self, meter):
        """Key bytes (b"" = unencrypted) of the meter, else of its bare id, or None."""
        m = norm(meter)
        bare = "-" in m
        while True:
            if _pack(m, self._n):
                j = self._rec(self._ids)
                if j >= 0:
                    return self._keys[16 * j:16 * j + 16] if self._ids[7 * j + 6] else b""
            elif self._odd and m in self._odd:
                return self._odd[m]
            if not bare:
                return None
            bare = False
            m = m.split("-", 1)[1]

    def known(self, meter):
        return self._find(meter) is not None

    def get(self, meter):
        """AES key (16 bytes) of the meter, or None (unknown or unencrypted)."""
        k = self._find(meter)
        return k if k else None

    def put(self, meter, key_hex):
        """Add/replace a key and persist the file (atomically)."""
        import os

        try:
            with open(self.path) as f:
                d = json.load(f)
        except (OSError, ValueError):
            d = {}
        d[meter] = key_hex
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f)
        os.rename(tmp, self.path)
        self.reload()

    def __len__(self):
        return len(self._ids) // 7 + (len(self._odd) if self._odd else 0)

    def __repr__(self):
        return "<KeyStore %d meters>" % len(self)
