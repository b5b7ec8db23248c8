# Scalar multiplication of crypto.ecc (P-256 fixed-base comb, signed windows) against the
# Montgomery ladder it replaced (kept here, verbatim formulas, as the reference), plus the
# allocation guard (bytes allocated per P-256 k*G, micropython.mem_total).
# heapsize: 256K
import os

import micropython
from crypto import ecc, ecdsa
from mptest import eq


# ---- reference: the ladder and formulas crypto.ecc used before the comb --------------------
def _double(c, P):
    X, Y, Z = P
    if Z == 0 or Y == 0:
        return (1, 1, 0)
    p = c.p
    YY = Y * Y % p
    S = 4 * X * YY % p
    ZZ = Z * Z % p
    M = (3 * X * X + c.a * ZZ * ZZ) % p
    X3 = (M * M - 2 * S) % p
    return (X3, (M * (S - X3) - 8 * YY * YY) % p, 2 * Y * Z % p)


def _add(c, P, Q):
    if P[2] == 0:
        return Q
    if Q[2] == 0:
        return P
    p = c.p
    X1, Y1, Z1 = P
    X2, Y2, Z2 = Q
    Z1Z1 = Z1 * Z1 % p
    Z2Z2 = Z2 * Z2 % p
    U1 = X1 * Z2Z2 % p
    U2 = X2 * Z1Z1 % p
    S1 = Y1 * Z2 * Z2Z2 % p
    S2 = Y2 * Z1 * Z1Z1 % p
    H = (U2 - U1) % p
    R = (S2 - S1) % p
    if H == 0:
        return _double(c, P) if R == 0 else (1, 1, 0)
    HH = H * H % p
    HHH = H * HH % p
    V = U1 * HH % p
    X3 = (R * R - HHH - 2 * V) % p
    return (X3, (R * (V - X3) - S1 * HHH) % p, H * Z1 * Z2 % p)


def ladder(c, k, P=None):
    P = c.g if P is None else (P[0], P[1], 1)
    n = c.n
    k %= n
    k2 = k + n
    if ecc.bitlen(k2) <= c.nbits:
        k2 += n
    R0, R1 = (1, 1, 0), P
    i = c.nbits
    while i >= 0:
        if (k2 >> i) & 1:
            R0, R1 = _add(c, R0, R1), _double(c, R1)
        else:
            R1, R0 = _add(c, R0, R1), _double(c, R0)
        i -= 1
    return c.affine(R0)


def _rand():
    return int.from_bytes(os.urandom(32), "big")


def _edges(n):
    """1, 2, n-1, n-2, around 2^k and the comb's 32-bit tooth boundaries, long zero and
    one runs, n and beyond (reduced mod n)."""
    out = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, n - 1, n - 2, n - 3, n, n + 1, 2 * n - 1,
           (n - 1) // 2, (n + 1) // 2, 0xFFFFFFFF, (1 << 256) - 1, (1 << 255) | 1]
    for b in (31, 32, 33, 63, 64, 128, 224, 225, 254, 255):
        out += [1 << b, (1 << b) - 1, (1 << b) + 1, n - (1 << b)]
    out += [(1 << 255) | (1 << 32), 0x8000000000000000000000000000000000000000000000000000000000000001,
            int("F" * 8 + "0" * 48 + "F" * 8, 16), int("1" + "0" * 62 + "1", 16)]
    return out


def test_double_add_mixed_agree_with_reference():
    for c in (ecc.P256, ecc.BP256R1):
        P = c.g
        for _ in range(6):
            Q = _double(c, _add(c, P, c.g))
            eq(c.double(Q), _double(c, Q))
            eq(c.affine(c.add(P, Q)), c.affine(_add(c, P, Q)))
            a = c.affine(Q)
            eq(c.affine(c.add(P, (a[0], a[1], 1))), c.affine(_add(c, P, Q)))
            P = Q
        # exceptional cases: P + P, P + (-P), infinity + Q
        a = c.affine(P)
        eq(c.affine(c.add(P, (a[0], a[1], 1))), c.affine(_double(c, P)))
        eq(c.add(P, (a[0], c.p - a[1], 1))[2], 0)
        eq(c.add((1, 1, 0), (a[0], a[1], 1)), (a[0], a[1], 1))


def test_p256_comb_matches_ladder():
    c = ecc.P256
    ks = _edges(c.n) + [_rand() for _ in range(40)]
    ks += [_rand() >> (8 * (_rand() % 31)) for _ in range(10)]  # short scalars
    for k in ks:
        eq(c.mul(k), ladder(c, k), hex(k))
    eq(c.mul(0), None)
    eq(c.mul(c.n), None)
    eq(c.mul(1), (c.g[0], c.g[1]))


def test_window_matches_ladder_both_curves():
    for c in (ecc.P256, ecc.BP256R1):
        Q = ladder(c, _rand())
        for k in _edges(c.n)[::3] + [_rand() for _ in range(12)]:
            eq(c.mul(k, Q), ladder(c, k, Q), c.name + " " + hex(k))
        # Jacobian input with Z != 1 is the same point
        J = c.double(c.add(c.g, c.g))
        eq(c.mul(5, J), c.mul(20))
        # brainpool generator goes through the window too
        if c is ecc.BP256R1:
            for k in (1, 2, c.n - 1, _rand(), _rand()):
                eq(c.mul(k), ladder(c, k))


def _jac(a):
    return (a[0], a[1], 1) if a else (1, 1, 0)


def test_mul_add_matches_ladder():
    for c in (ecc.P256, ecc.BP256R1):
        Q = ladder(c, _rand())
        for u1, u2 in ((1, 1), (0, 5), (5, 0), (c.n - 1, 1), (_rand(), _rand()),
                       (_rand(), _rand()), (2, c.n - 2)):
            want = c.affine(_add(c, _jac(ladder(c, u1)), _jac(ladder(c, u2, Q))))
            eq(c.mul_add(u1, u2, Q), want, c.name)
        # u1 G + u2 G == infinity when u1 + u2 = n
        eq(c.mul_add(3, c.n - 3, c.g[:2]), None)


def _alloc(f):
    a = micropython.mem_total()
    f()
    return micropython.mem_total() - a


def test_allocation_guard_p256():
    # Bytes allocated per P-256 operation on the unix port (64-bit, 32-bit mpz digits). The
    # ladder allocated ~2.1 MB per k*G, k*Q and signature; the bounds below fail for it.
    c = ecc.P256
    ks = [_rand() for _ in range(3)] + [c.n - 1]
    Q = c.mul(_rand())
    kg = max(_alloc(lambda k=k: c.mul(k)) for k in ks)
    kq = max(_alloc(lambda k=k: c.mul(k, Q)) for k in ks[:2])
    sg = max(_alloc(lambda k=k: ecdsa.sign(c, k, bytes(32))) for k in ks[:2])
    old_kg = _alloc(lambda: ladder(c, ks[0]))
    old_kq = _alloc(lambda: ladder(c, ks[0], Q))
    assert kg < 320_000, kg
    assert sg < 380_000, sg
    assert kq < 1_300_000, kq
    pub = c.public(ks[0])
    sig = ecdsa.sign(c, ks[0], bytes(32))
    vf = _alloc(lambda: ecdsa.verify(c, pub, bytes(32), *sig))
    assert vf < 1_500_000, vf  # Shamir's trick with the old formulas: ~1.8 MB
    # the guards would fail on the ladder (same formulas as the old crypto.ecc)
    assert old_kg > 5 * 320_000, old_kg
    assert old_kq > 1_300_000, old_kq
