"""Meter key store: /data/keys/meters.json = {"<meter id>": "<32 hex AES key>"}.

Meter ids are "MAN-ID" (e.g. "KAM-12345678"); a bare "12345678" entry matches any
manufacturer. A value of "" or null registers an unencrypted meter. Keys are held as
bytes and never printed, logged or put in diag: repr() shows only the count.
"""
import json

PATH = "/data/keys/meters.json"


def norm(meter):
    """Canonical meter id: manufacturer upper case, id lower-case hex."""
    if "-" in meter:
        man, i = meter.split("-", 1)
        return man.upper() + "-" + i.lower()
    return meter.lower()


class KeyStore:
    def __init__(self, path=PATH):
        self.path = path
        self._k = {}
        self.error = None
        self.reload()

    def reload(self):
        self._k = {}
        self.error = None
        try:
            with open(self.path) as f:
                d = json.load(f)
        except OSError:
            return  # no key file: no meters
        except ValueError:
            self.error = "meters.json is not valid JSON"
            return
        if not isinstance(d, dict):
            self.error = "meters.json is not an object"
            return
        for m, k in d.items():
            try:
                kb = bytes.fromhex(k) if k else b""
            except (ValueError, TypeError):
                kb = None
            if kb is None or len(kb) not in (0, 16):
                self.error = "bad key for one meter"  # which one is not said: no hints
                continue
            self._k[norm(m)] = kb

    def _find(self, meter):
        meter = norm(meter)
        k = self._k.get(meter)
        if k is None and "-" in meter:
            k = self._k.get(meter.split("-", 1)[1])
        return k

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
        return len(self._k)

    def __repr__(self):
        return "<KeyStore %d meters>" % len(self._k)
