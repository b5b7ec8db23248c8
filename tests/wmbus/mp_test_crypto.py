# AES (cryptolib wrapper and viper fallback), CTR, CMAC, CCM against published vectors.
# heapsize: 1M
import os

from crypto import aes, xor
from crypto.aes import CryptolibAES, ViperAES
from crypto.ccm import CCM, CcmError
from crypto.cmac import cmac
from crypto.ctr import crypt
from mptest import eq, raises
from refimpl import counters_ref, xor_into_ref

H = bytes.fromhex


def test_backend_chosen_at_import():
    eq(aes.BACKEND, "cryptolib")  # the unix port has cryptolib
    eq(aes.AES, CryptolibAES)


def test_fips197_c1_both_backends():
    k = bytes(range(16))
    pt = H("00112233445566778899aabbccddeeff")
    for cls in (CryptolibAES, ViperAES):
        a = cls(k)
        c = bytearray(16)
        a.encrypt(pt, c)
        eq(c.hex(), "69c4e0d86a7b0430d8cdb78070b4c55a", cls.__name__)
        p = bytearray(16)
        a.decrypt(c, p)
        eq(bytes(p), pt)


def test_viper_aes_equals_cryptolib_random():
    for n in range(20):
        k = os.urandom(16)
        iv = os.urandom(16)
        m = os.urandom(16 * (1 + n % 5))
        v, c = ViperAES(k), CryptolibAES(k)
        for op in ("encrypt", "decrypt"):
            a, b = bytearray(len(m)), bytearray(len(m))
            getattr(v, op)(m, a)
            getattr(c, op)(m, b)
            eq(a, b, op)
        for op in ("cbc_encrypt", "cbc_decrypt"):
            a, b = bytearray(m), bytearray(m)
            getattr(v, op)(iv, a, a)  # in place
            getattr(c, op)(iv, m, b)
            eq(a, b, op)


def test_aes_rejects_bad_lengths():
    for cls in (CryptolibAES, ViperAES):
        with raises(ValueError):
            cls(bytes(15))
        with raises(ValueError):
            cls(bytes(16)).encrypt(bytes(15), bytearray(15))


def test_ctr_sp800_38a_f51():
    k = H("2b7e151628aed2a6abf7158809cf4f3c")
    iv = H("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    p = H("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    c = crypt(aes.AES(k), iv, p)
    eq(c.hex(), "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff")
    eq(crypt(ViperAES(k), iv, c), bytearray(p))


def test_xor_counters_equal_reference():
    for n in (1, 2, 5):
        for width in (1, 2, 4, 16):
            b = bytearray(os.urandom(16))
            b[15] = 0xFE
            b1, b2 = bytearray(b), bytearray(b)
            o1, o2 = bytearray(16 * n), bytearray(16 * n)
            xor.counters(o1, b1, n, width)
            counters_ref(o2, b2, n, width)
            eq(o1, o2)
            eq(b1, b2)
    a, b = os.urandom(40), os.urandom(40)
    d1, d2 = bytearray(40), bytearray(40)
    xor.xor_into(d1, 3, a, 1, b, 2, 30)
    xor_into_ref(d2, 3, a, 1, b, 2, 30)
    eq(d1, d2)
    eq(xor.equal(a, a, 40), 1)
    eq(xor.equal(a, b, 40), 0)


def test_cmac_rfc4493():
    k = H("2b7e151628aed2a6abf7158809cf4f3c")
    m = H("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
          "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
    eq(cmac(k, b"").hex(), "bb1d6929e95937287fa37d129b756746")
    eq(cmac(k, m[:16]).hex(), "070a16b46b4d4144f79bdd9dd04a287c")
    eq(cmac(k, m[:40]).hex(), "dfa66747de9ae63030ca32611497c827")
    eq(cmac(k, m).hex(), "51f0bebf7e3b9d92fc49741779363cfe")
    eq(cmac(ViperAES(k), m[:40]).hex(), "dfa66747de9ae63030ca32611497c827")


def test_oms_annex_n_kdf_and_mac():
    # OMS Vol. 2 Annex N (as in ../shared/vectors/README.md): key 00..0F, MCR B30A0000,
    # ID 78563412 -> Kenc/Kmac
    from wmbus.telegram import _kdf

    kenc, kmac = _kdf(bytes(range(16)), H("B30A0000"), H("78563412"))
    eq(kenc.hex(), "eccf39d475d730b8284fdfdc1995d52f")
    eq(kmac.hex(), "c9cd19ff5a9aad5a6bbda13bd2c4c7ad")


CCM_VECTORS = (
    # RFC 3610 packet vectors #1-#3 (8-byte header as AAD), SP 800-38C C.1-C.3
    ("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF", "00000003020100A0A1A2A3A4A5", "0001020304050607",
     "08090A0B0C0D0E0F101112131415161718191A1B1C1D1E", 8,
     "588C979A61C663D2F066D0C2C0F989806D5F6B61DAC38417E8D12CFDF926E0"),
    ("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF", "00000004030201A0A1A2A3A4A5", "0001020304050607",
     "08090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", 8,
     "72C91A36E135F8CF291CA894085C87E3CC15C439C9E43A3BA091D56E10400916"),
    ("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF", "00000005040302A0A1A2A3A4A5", "0001020304050607",
     "08090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20", 8,
     "51B1E5F44A197D1DA46B0F8E2D282AE871E838BB64DA8596574ADAA76FBD9FB0C5"),
    ("404142434445464748494a4b4c4d4e4f", "10111213141516", "0001020304050607", "20212223", 4,
     "7162015b4dac255d"),
    ("404142434445464748494a4b4c4d4e4f", "1011121314151617",
     "000102030405060708090a0b0c0d0e0f", "202122232425262728292a2b2c2d2e2f", 6,
     "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd"),
    ("404142434445464748494a4b4c4d4e4f", "101112131415161718191a1b",
     "000102030405060708090a0b0c0d0e0f10111213",
     "202122232425262728292a2b2c2d2e2f3031323334353637", 8,
     "e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951"),
)


def test_ccm_rfc3610_and_sp800_38c():
    for k, n, a, p, tl, c in CCM_VECTORS:
        for cls in (CryptolibAES, ViperAES):
            ccm = CCM(cls(H(k)), tl)
            out = ccm.encrypt(H(n), H(a), H(p))
            eq(out.hex(), c.lower())
            eq(ccm.decrypt(H(n), H(a), out), bytearray(H(p)))


def test_ccm_rejects_tampering():
    k, n, a, p, tl, c = CCM_VECTORS[0]
    ccm = CCM(H(k), tl)
    good = bytearray(H(c))
    for i in (0, len(good) - 1):
        bad = bytearray(good)
        bad[i] ^= 1
        with raises(CcmError):
            ccm.decrypt(H(n), H(a), bad)
    with raises(CcmError):
        ccm.decrypt(H(n), H(a) + b"x", good)
    with raises(CcmError):
        ccm.decrypt(H(n), H(a), good[:3])


def test_xor_word_path_equals_reference():
    for n in (64, 67, 200, 1027):
        for offs in ((0, 0, 0), (4, 16, 8), (1, 0, 3), (0, 16, 16)):
            a = bytearray(os.urandom(n + 20))
            b = bytearray(os.urandom(n + 20))
            d1 = bytearray(n + 20)
            d2 = bytearray(n + 20)
            xor.xor_into(d1, offs[0], a, offs[1], b, offs[2], n)
            xor_into_ref(d2, offs[0], a, offs[1], b, offs[2], n)
            eq(d1, d2, (n, offs))
    a = bytearray(os.urandom(100))
    xor.xor_into(a, 0, a, 0, a, 0, 100)  # aliasing: x ^ x
    eq(a, bytearray(100))


def test_ccm_payload_types_and_out_buffer():
    k, n, a, p, tl, c = CCM_VECTORS[2]
    ccm = CCM(H(k), tl)
    for payload in (H(p), bytearray(H(p)), memoryview(H(p))):
        eq(ccm.encrypt(H(n), H(a), payload).hex(), c.lower())
    out = bytearray(len(H(c)))
    ccm.encrypt(H(n), H(a), bytearray(H(p)), out)
    eq(out.hex(), c.lower())
    big = os.urandom(5000)  # multi-block, word-wise paths, grown scratch buffers
    ct = ccm.encrypt(H(n), H(a), big)
    eq(bytes(CCM(ViperAES(H(k)), tl).decrypt(H(n), H(a), ct)), big)


def test_viper_fallback_without_cryptolib():
    import sys

    saved = sys.modules.get("cryptolib")
    sys.modules["cryptolib"] = None  # a board built without cryptolib
    try:
        del sys.modules["crypto.aes"]
        import crypto.aes as fresh

        eq(fresh.BACKEND, "viper")
        eq(fresh.AES.__name__, "ViperAES")
        c = bytearray(16)
        fresh.AES(bytes(range(16))).encrypt(H("00112233445566778899aabbccddeeff"), c)
        eq(c.hex(), "69c4e0d86a7b0430d8cdb78070b4c55a")
    finally:
        if saved is None:
            del sys.modules["cryptolib"]
        else:
            sys.modules["cryptolib"] = saved
        del sys.modules["crypto.aes"]
        import crypto.aes as again

        eq(again.BACKEND, "cryptolib")
