# DER codec and ECC/ECDSA known-answer tests, inside MicroPython.
# heapsize: 256K
import hashlib

from crypto import der, ecc, ecdsa, kdf
from mptest import eq, raises


def test_der_integer_encodings():
    # X.690 8.3 examples: minimal two's complement
    eq(der.integer(0), b"\x02\x01\x00")
    eq(der.integer(127), b"\x02\x01\x7f")
    eq(der.integer(128), b"\x02\x02\x00\x80")
    eq(der.integer(256), b"\x02\x02\x01\x00")
    eq(der.integer(-128), b"\x02\x01\x80")
    eq(der.integer(-129), b"\x02\x02\xff\x7f")
    for n in (0, 1, 127, 128, 255, 256, -1, -128, -129, 2 ** 255 + 17, -(2 ** 70)):
        b = der.integer(n)
        _, s, e = der.whole(b, 0x02)
        eq(der.to_int(b, s, e), n)


def test_der_oid_and_lengths():
    eq(der.oid("1.2.840.10045.2.1"), bytes.fromhex("06072a8648ce3d0201"))
    eq(der.oid("2.16.840.1.101.3.4.1.2"), bytes.fromhex("0609608648016503040102"))
    b = der.oid("1.3.36.3.3.2.8.1.1.7")
    _, s, e = der.whole(b)
    eq(der.to_oid(b, s, e), "1.3.36.3.3.2.8.1.1.7")
    long = der.octets(b"x" * 300)
    eq(long[:4], b"\x04\x82\x01\x2c")
    _, s, e = der.whole(long, 0x04)
    eq(e - s, 300)


def test_der_set_of_sorted_and_time():
    eq(der.set_of(b"\x02\x01\x05", b"\x02\x01\x01"), b"\x31\x06\x02\x01\x01\x02\x01\x05")
    t = 1767225600  # 2026-01-01T00:00:00Z
    b = der.utctime(t)
    eq(b, b"\x17\x0d260101000000Z")
    _, s, e = der.whole(b)
    eq(der.to_time(b, s, e, 0x17), t)


def test_der_rejects_bad_input():
    for bad in (b"", b"\x30", b"\x30\x80\x00\x00", b"\x04\x81\x05abcde", b"\x04\x03ab",
                b"\x1f\x01\x00", b"\x04\x85\x01\x00\x00\x00\x00", b"\x02\x02\x00\x05"):
        with raises(der.DerError):
            t, s, e = der.whole(bad)
            if t == 0x02:
                der.to_int(bad, s, e)
    with raises(der.DerError):
        der.whole(b"\x05\x00\x00")
    # fuzz: only DerError escapes
    import os
    base = der.seq(der.integer(5), der.oid("1.2.3.4"), der.octets(b"abc"), der.utctime(0))
    for i in range(300):
        b = bytearray(base)
        r = os.urandom(3)
        b[r[0] % len(b)] = r[1]
        b = bytes(b[:len(b) - (r[2] % 3)])
        try:
            _, s, e = der.whole(b, 0x30)
            for t, s1, e1, h in der.items(b, s, e):
                if t == 0x02:
                    der.to_int(b, s1, e1)
                elif t == 0x06:
                    der.to_oid(b, s1, e1)
        except der.DerError:
            pass


def test_hmac_rfc4231_case2():
    eq(kdf.hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex(),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_curves_generator_order():
    for c in (ecc.P256, ecc.BP256R1):
        assert c.on_curve(c.g[0], c.g[1])
        eq(c.mul(c.n - 1), (c.g[0], (-c.g[1]) % c.p))
        eq(c.affine(c.add(c.g, c.double(c.g))), c.mul(3))


def test_rfc6979_p256_sha256():
    # RFC 6979 A.2.5
    c = ecc.P256
    d = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721
    pub = c.public(d)
    eq(pub[1:33].hex(), "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6")
    cases = (
        (b"sample", "a6e3c57dd01abe90086538398355dd4c3b17aa873382b0f24d6129493d8aad60",
         "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
         "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"),
        (b"test", "d16b6ae827f17175e040871a1c7ec3500192c4c92677336ec2537acaee0008e0",
         "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367",
         "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083"),
    )
    for msg, k, r, s in cases:
        h = hashlib.sha256(msg).digest()
        eq(next(ecdsa.rfc6979_k(c, d, h)), int(k, 16))
        sig = ecdsa.sign(c, d, h)
        eq(sig, (int(r, 16), int(s, 16)))
        assert ecdsa.verify(c, pub, h, *sig)
        assert not ecdsa.verify(c, pub, h, sig[0], sig[1] ^ 1)
        assert not ecdsa.verify(c, pub, hashlib.sha256(b"x").digest(), *sig)
        eq(ecdsa.sig_from_der(ecdsa.sig_der(*sig)), sig)


def test_brainpool_sign_verify_ecdh():
    c = ecc.BP256R1
    d1, d2 = 0x1234567890ABCDEF, 0x0FEDCBA987654321 << 100
    p1, p2 = c.public(d1), c.public(d2)
    eq(ecc.ecdh(c, d1, p2), ecc.ecdh(c, d2, p1))
    h = hashlib.sha256(b"brainpool").digest()
    r, s = ecdsa.sign(c, d1, h)
    assert ecdsa.verify(c, p1, h, r, s)
    assert not ecdsa.verify(c, p2, h, r, s)


def test_point_validation():
    c = ecc.P256
    good = c.public(7)
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with raises(ecc.EccError):
        c.decode(bad)
    with raises(ecc.EccError):
        ecc.ecdh(c, 5, bad)
    assert not ecdsa.verify(c, bad, bytes(32), 1, 1)
