"""AES-128 block cipher: `cryptolib` when the port has it, else a viper implementation.

The backend is chosen once, at import time (`BACKEND` = "cryptolib" | "viper"); both
classes have the same interface and the tests compare them on random inputs:

    a = AES(key16)
    a.encrypt(src, dst)            # ECB, len(src) % 16 == 0; dst may be src
    a.decrypt(src, dst)            # ECB inverse cipher
    a.cbc_encrypt(iv, src, dst)    # dst's last block is the CBC-MAC (used by CMAC, CCM)
    a.cbc_decrypt(iv, src, dst)

Sources: FIPS-197 (cipher, key expansion, appendix C.1 test vector). The viper cipher
lives in crypto.aes_viper and is imported only when needed (no cryptolib, or a caller
asks for `crypto.aes.ViperAES`/`expand_key`): RAM is the scarce resource on the boards.
"""
from micropython import const
from texts import msg

try:
    import cryptolib
except ImportError:  # board built without cryptolib
    cryptolib = None

_ECB = const(1)
_CBC = const(2)
# error texts, msg(_T, i) (one string constant: RAM, see texts.py)
_T = const("AES-128 key must be 16 bytes|AES: length must be a multiple of 16")


class CryptolibAES:
    """AES-128 through the port's C `cryptolib` (ECB/CBC objects are one-direction)."""

    backend = "cryptolib"

    def __init__(self, key):
        if len(key) != 16:
            raise ValueError(msg(_T, 0))
        self.key = bytes(key)
        self._e = cryptolib.aes(self.key, _ECB)
        self._d = None

    def encrypt(self, src, dst):
        if len(src) % 16:
            raise ValueError(msg(_T, 1))
        self._e.encrypt(src, dst)

    def decrypt(self, src, dst):
        if len(src) % 16:
            raise ValueError(msg(_T, 1))
        if self._d is None:
            self._d = cryptolib.aes(self.key, _ECB)
        self._d.decrypt(src, dst)

    def cbc_encrypt(self, iv, src, dst):
        if len(src) % 16:
            raise ValueError(msg(_T, 1))
        cryptolib.aes(self.key, _CBC, bytes(iv)).encrypt(src, dst)

    def cbc_decrypt(self, iv, src, dst):
        if len(src) % 16:
            raise ValueError(msg(_T, 1))
        cryptolib.aes(self.key, _CBC, bytes(iv)).decrypt(src, dst)


def __getattr__(name):
    # the viper backend on demand (tests, bench, ports without cryptolib)
    if name in ("ViperAES", "expand_key"):
        from crypto import aes_viper

        return getattr(aes_viper, name)
    raise AttributeError(name)


if getattr(cryptolib, "aes", None) is not None:
    AES = CryptolibAES
    BACKEND = "cryptolib"
else:
    from crypto.aes_viper import ViperAES as AES  # noqa: F401 - the module's export

    BACKEND = "viper"
