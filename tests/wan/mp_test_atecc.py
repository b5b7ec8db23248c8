# ATECC608B driver against a byte-level fake I2C device; secmod contract on top.
# heapsize: 256K
import hashlib

from crypto import ecc, ecdsa
from drivers.atecc608 import Atecc608, Atecc608SecMod, SeError, crc16, packet
from fake_atecc import FakeI2C
from mptest import eq, raises


def _se(**kw):
    bus = FakeI2C(**kw)
    return bus, Atecc608SecMod(Atecc608(bus, sleep_ms=lambda ms: None))


def test_crc_and_packet_format():
    # CryptoAuthLib: Info command "07 30 00 00 00" has CRC 03 5D
    eq(packet(0x30), bytes.fromhex("07300000000 35d".replace(" ", "")))
    eq(crc16(b"\x04\x11"), 0x4333)


def test_sign_verify_ecdh_random_public():
    bus, sm = _se()
    pub = sm.public_key()
    eq(pub, ecc.P256.public(0x1234567890ABCDEF))
    h = hashlib.sha256(b"payload").digest()
    r, s = sm.sign(h)
    assert ecdsa.verify(ecc.P256, pub, h, r, s)
    assert sm.verify(pub, h, r, s)
    assert not sm.verify(pub, h, r, s ^ 1)
    peer = ecc.P256.public(777)
    eq(sm.ecdh(peer), ecc.ecdh(ecc.P256, 777, pub))
    eq(len(sm.random(40)), 40)
    assert 0x41 in bus.log and 0x45 in bus.log and 0x43 in bus.log


def test_crc_error_is_retried_then_typed_error():
    bus, sm = _se()
    bus.corrupt_next = 1
    eq(len(sm.random(32)), 32)  # one bad response CRC: retried
    bus.corrupt_next = 10
    with raises(SeError):
        sm.random(32)


def test_failed_command_status():
    _, sm = _se()
    with raises(SeError) as e:
        sm.se.command(0x7F, 0, 0, b"", 4)
    eq(e.value.status, 0x03)
