"""Security module interface (the PP-0077 role of the gateway's secure element).

Contract (docs/contracts.md, ctx.secmod):
  sign(digest32) -> (r, s)          ECDSA with the gateway's private key
  verify(pub, digest32, r, s)       -> bool, any public key on the module's curve
  ecdh(peer_pub) -> bytes           shared secret x-coordinate (SEC1 3.3.1)
  public_key() -> bytes             65-byte uncompressed point of the gateway key
  random(n) -> bytes
  meter_key(meter_id) -> bytes|None AES key of a meter (never logged)

Two implementations: SoftSecMod (key as a 32-byte scalar on /data, pure MicroPython ECC,
used on the unix board) and drivers.atecc608.Atecc608SecMod (key inside the chip).
"""
import json
import os
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("digest length|key out of range")



class SecModError(Exception):
    pass


def _random(n):
    return os.urandom(n)


class _MeterKeys:
    def __init__(self, path):
        self.path = path
        self._keys = None

    def get(self, meter_id):
        if self._keys is None:
            try:
                with open(self.path) as f:
                    self._keys = json.load(f)
            except (OSError, ValueError):
                self._keys = {}
        h = self._keys.get(meter_id)
        if not h:
            return None
        try:
            return bytes.fromhex(h)
        except ValueError:
            return None

    def reload(self):
        self._keys = None


class SoftSecMod:
    """Software security module: private scalar in a file (or given), big-integer ECC.

    Without a key (fresh board, key file absent) the module exists but sign/ecdh/
    public_key raise SecModError until `generate()` (provisioning) or a key file
    arrives (`load()`); `create=True` generates one at once."""

    def __init__(self, key=None, key_path=None, curve="P-256", meter_keys_path=None,
                 create=False):
        # a name, looked up per use (curve): the ECC modules are loaded lazily and dropped
        # between payloads (wan.service), which a kept curve object would prevent (RAM)
        self._curve = curve
        self._checked = False  # the key checked against the curve's order
        self.key_path = key_path
        self._d = None
        self._pub = None
        self._meters = _MeterKeys(meter_keys_path) if meter_keys_path else None
        if key is not None:
            self._set(key)
        elif key_path:
            if not self.load() and create:
                self.generate()

    def _set(self, key):
        if isinstance(key, (bytes, bytearray)):
            if len(key) != 32:
                raise SecModError("key length")
            key = int.from_bytes(key, "big")
        if not 0 < key:  # the upper bound, the curve's order, is checked on first use
            raise SecModError(msg(_T, 1))
        self._d = key
        self._pub = None
        self._checked = False

    def load(self):
        """(Re)read the key file; False when there is none."""
        try:
            with open(self.key_path, "rb") as f:
                self._set(f.read())
            return True
        except OSError:
            return False

    def _key(self):
        if self._d is None and not (self.key_path and self.load()):
            raise SecModError("no key")
        if not self._checked:
            self.curve  # noqa: B018 - range check against the curve order
        return self._d

    @property
    def curve(self):
        from crypto import ecc

        c = ecc.curve(self._curve)
        if c is None:
            raise KeyError(self._curve)
        if not self._checked and self._d is not None:
            if not self._d < c.n:
                raise SecModError(msg(_T, 1))
            self._checked = True
        return c

    def generate(self):
        """Create a new private key (in the key file when there is one); returns the
        public point."""
        while True:
            k = _random(32)
            if 0 < int.from_bytes(k, "big") < self.curve.n:
                break
        if self.key_path:
            d = self.key_path.rsplit("/", 1)[0]
            cur = ""
            for part in d.strip("/").split("/"):
                cur += "/" + part
                try:
                    os.mkdir(cur)
                except OSError:
                    pass
            tmp = self.key_path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(k)
            os.rename(tmp, self.key_path)
        self._set(k)
        return self.public_key()

    def public_key(self):
        if self._pub is None:
            self._pub = self.curve.public(self._key())
        return self._pub

    def sign(self, digest32):
        if len(digest32) != 32:
            raise SecModError(msg(_T, 0))
        from crypto import ecdsa

        return ecdsa.sign(self.curve, self._key(), digest32)

    def verify(self, pub, digest32, r, s):
        from crypto import ecdsa

        return ecdsa.verify(self.curve, pub, digest32, r, s)

    def ecdh(self, peer_pub):
        from crypto import ecc

        try:
            return ecc.ecdh(self.curve, self._key(), peer_pub)
        except ValueError as e:
            raise SecModError("ecdh: %s" % e)

    def random(self, n):
        return _random(n)

    def meter_key(self, meter_id):
        return self._meters.get(meter_id) if self._meters else None

    def private_key_der(self):
        """RFC 5915 ECPrivateKey DER, for MicroPython's tls (mbedTLS) load_cert_chain.

        Only the software module can do this: with a secure element TLS client auth needs
        an mbedTLS build with the ECDSA-alt hook (see docs/wan.md)."""
        from crypto import der

        c = self.curve
        return der.seq(der.integer(1), der.octets(self._key().to_bytes(c.size, "big")),
                       der.ctx(0, der.oid(c.oid)), der.ctx(1, der.bits(self.public_key())))
