"""Elliptic curves over prime fields in pure MicroPython big integers.

Curves: NIST P-256 (secp256r1, FIPS 186-4 D.1.2.3) and brainpoolP256r1 (RFC 5639 3.4).
Points in Jacobian coordinates (X, Y, Z), infinity has Z == 0; P-256 doubles with a = -3.

Scalar multiplication (k reduced mod n; k' = k or n - k, whichever is odd, and the result
negated for n - k, so k' < 2^256 is odd and has the signed binary form sum b_i 2^i with
every b_i = +-1, its digits negated for n - k; digits are read from k' as bytes, never as
big-int shifts):
- P-256 k*G: a fixed-base comb (8 teeth, 32 bits apart; the 128 affine points of
  crypto.p256g, one bytes literal in ROM made by host_tools/gwtool/gen_p256g.py):
  32 doublings + 32 mixed additions (add() with Z2 = 1); ~0.26 MB allocated instead of the ladder's ~2.1 MB
  (unix port, x64).
- k*Q and brainpool k*G: signed odd 4-bit windows (digits +-1..+-15, the 8 odd multiples
  made per call, affine after one batch inversion): 253 doublings + 64 mixed additions.
- Verification (u1*G + u2*Q, public scalars): one chain of doublings for both, the comb
  columns added in its last 32 steps (brainpool: two windows); ~1.3 MB (Shamir: 1.8 MB).
Every scalar of a curve takes the same sequence of doublings and additions (no zero digit,
no early exit, no branch on a secret bit). Not constant-time: big-integer arithmetic in
MicroPython takes value-dependent time, the table entry and the sign are picked by secret
digits (memory access pattern), and the exceptional-case branches of the addition (equal
or opposite points, infinity) are taken for a few special scalars only. This is
"constant-time where the language allows", as before.
"""
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("not an uncompressed point|point not on |private key out of range"
           "|shared point at infinity")

_TOP = 1 << 256  # scalars are recoded below this (both curves have 256-bit orders)


class EccError(ValueError):
    pass


def bitlen(n):
    """Number of bits of abs(n) (MicroPython ints have no bit_length)."""
    return len(bin(n)) - (3 if n < 0 else 2) if n else 0


class Curve:
    def __init__(self, name, oid, p, a, b, gx, gy, n):
        self.name = name
        self.oid = oid
        self.p = p
        self.a = a % p
        self.b = b
        self.g = (gx, gy, 1)
        self.n = n
        self.nbits = bitlen(n)
        self.size = (bitlen(p) + 7) // 8
        self.a3 = self.a == p - 3

    # ---- Jacobian arithmetic ----------------------------------------------------------
    def double(self, P):
        X, Y, Z = P
        if Z == 0 or Y == 0:
            return (1, 1, 0)
        p = self.p
        YY = Y * Y % p
        ZZ = Z * Z % p
        if self.a3:
            # a = -3: M = 3 X^2 - 3 Z^4 = 3 (X - Z^2)(X + Z^2), one product fewer
            M = 3 * (X - ZZ) * (X + ZZ) % p
        else:
            M = (3 * X * X + self.a * ZZ * ZZ) % p
        S = 4 * X * YY % p
        X3 = (M * M - 2 * S) % p
        return (X3, (M * (S - X3) - 8 * YY * YY) % p, 2 * Y * Z % p)

    def add(self, P, Q):
        """P + Q (Jacobian); Q with Z == 1 (affine, as the comb's points) takes the mixed
        addition, 3 products fewer."""
        if P[2] == 0:
            return Q
        if Q[2] == 0:
            return P
        p = self.p
        X1, Y1, Z1 = P
        X2, Y2, Z2 = Q
        Z1Z1 = Z1 * Z1 % p
        if Z2 == 1:
            U1, S1, Z = X1, Y1, Z1
        else:
            Z2Z2 = Z2 * Z2 % p
            U1 = X1 * Z2Z2 % p
            S1 = Y1 * Z2 * Z2Z2 % p
            Z = Z1 * Z2
        H = (X2 * Z1Z1 - U1) % p
        R = (Y2 * Z1 * Z1Z1 - S1) % p
        if H == 0:
            return self.double(P) if R == 0 else (1, 1, 0)
        HH = H * H % p
        HHH = H * HH % p
        V = U1 * HH % p
        X3 = (R * R - HHH - 2 * V) % p
        return (X3, (R * (V - X3) - S1 * HHH) % p, H * Z % p)

    def affine(self, P):
        """(x, y) or None for infinity."""
        if P[2] == 0:
            return None
        p = self.p
        zi = pow(P[2], p - 2, p)
        zi2 = zi * zi % p
        return (P[0] * zi2 % p, P[1] * zi2 * zi % p)

    # ---- scalar multiplication ---------------------------------------------------------
    def _recode(self, k):
        """k mod n -> (kb, neg): kb = (k' + 2^256) as 33 big-endian bytes, k' odd and
        k' = k (neg 0) or n - k (neg 1), so k * P = (-1)^neg * k' * P. An odd k' < 2^256
        is sum_{i<256} b_i 2^i with b_i = 2 bit(i + 1 of kb) - 1 = +-1: every digit of the
        comb and the windows below is non-zero, so no step adds the point at infinity."""
        n = self.n
        k %= n
        neg = 1 - (k & 1)
        k += neg * (n - 2 * k)
        return (k + _TOP).to_bytes(33, "big"), neg

    def _window(self, kb, neg, T, i):
        """The signed odd digit of weight 2^(i - 1) (b_i+3 .. b_i as 2 v - 15, v = bits
        i .. i+3 of kb) as a point from T = (P, 3P, .., 15P), negated for neg."""
        b = 32 - (i >> 3)
        v = ((kb[b] | (kb[b - 1] << 8)) >> (i & 7)) & 15
        s = v >> 3  # 1: digit positive
        X, Y, Z = T[(v ^ (s - 1)) & 7]
        return (X, (self.p - Y, Y)[s ^ neg], Z)

    def _comb(self, kb, neg, j, table):
        """The comb column j (sum_t b_{j + 32 t} 2^(32 t) G) as a point with Z = 1:
        +-table entry m, m from teeth 1..7 relative to the sign of tooth 0."""
        i = j + 257
        m = 0
        while i > j + 1:
            i -= 32
            m = (m << 1) | (kb[32 - (i >> 3)] >> (i & 7) & 1)
        s = m & 1
        o = (((m >> 1) ^ (s - 1)) & 0x7F) << 6
        y = int.from_bytes(table[o + 32:o + 64], "big")
        return (int.from_bytes(table[o:o + 32], "big"), (self.p - y, y)[s ^ neg], 1)

    def _odd_multiples(self, P):
        """[P, 3P, .., 15P] with Z = 1: the window additions are mixed ones (3 products
        fewer) and the table holds no Z (RAM: a payload build's peak is its ECDH). One
        inversion for all eight (Montgomery's trick)."""
        P = (P[0], P[1], 1)
        D = self.double(P)
        T = [P]
        while len(T) < 8:
            T.append(self.add(T[-1], D))
        p = self.p
        acc = [1]  # acc[i]: product of the Z of T[0..i-1]
        for Q in T:
            acc.append(acc[-1] * Q[2] % p)
        inv = acc[8]
        if inv == 0:  # a multiple at infinity (not on a prime-order curve): as it is
            return T
        inv = pow(inv, p - 2, p)  # 1 / (Z0 .. Z7)
        for i in range(7, -1, -1):
            X, Y, Z = T[i]
            zi = inv * acc[i] % p  # 1 / Zi
            inv = inv * Z % p
            z2 = zi * zi % p
            T[i] = (X * z2 % p, Y * z2 * zi % p, 1)
        return T

    def _mul2(self, k1, k2, Q):
        """k1 * G + k2 * Q (Jacobian), k1 or k2 None for one product. One chain of doublings
        from bit 252 (32 doublings from bit 31 for k1 * G alone on P-256); a window point
        added every 4th bit for k2 (and k1 on brainpool), a comb column every bit below 32
        for k1 on P-256."""
        wins = []
        comb = None
        if k1 is not None:
            kb, neg = self._recode(k1)
            if self.a3 and self.name == "P-256":
                from crypto.p256g import TABLE
                comb = (kb, neg, TABLE)
            else:
                wins.append((kb, neg, self._odd_multiples(self.g)))
        if k2 is not None:
            kb, neg = self._recode(k2)
            wins.append((kb, neg, self._odd_multiples(Q)))
        R = (1, 1, 0)
        i = 252 if wins else 31
        while i >= 0:
            R = self.double(R)
            if not i & 3:
                for kb, neg, T in wins:
                    R = self.add(R, self._window(kb, neg, T, i + 1))
            if comb and i < 32:
                R = self.add(R, self._comb(comb[0], comb[1], i, comb[2]))
            i -= 1
        return R

    def mul(self, k, P=None):
        """k * P (P affine (x, y) or Jacobian; default the generator) -> affine or None."""
        if P is None:
            return self.affine(self._mul2(k, None, None))
        if len(P) == 3 and P[2] != 1:
            P = self.affine(P)
            if P is None:
                return None
        return self.affine(self._mul2(None, k, P))

    def mul_add(self, u1, u2, Q):
        """u1 * G + u2 * Q (public scalars) -> affine or None."""
        return self.affine(self._mul2(u1, u2, Q))

    # ---- points ------------------------------------------------------------------------
    def on_curve(self, x, y):
        p = self.p
        if not (0 <= x < p and 0 <= y < p):
            return False
        return (y * y - (x * x * x + self.a * x + self.b)) % p == 0

    def encode(self, pt):
        """Uncompressed SEC1 point 04 || X || Y."""
        return b"\x04" + pt[0].to_bytes(self.size, "big") + pt[1].to_bytes(self.size, "big")

    def decode(self, b):
        """SEC1 uncompressed point -> (x, y), checked to be on the curve."""
        n = self.size
        if len(b) != 1 + 2 * n or b[0] != 4:
            raise EccError(msg(_T, 0))
        x = int.from_bytes(b[1:1 + n], "big")
        y = int.from_bytes(b[1 + n:], "big")
        if not self.on_curve(x, y):
            raise EccError(msg(_T, 1) + self.name)
        return (x, y)

    def public(self, d):
        if not 0 < d < self.n:
            raise EccError(msg(_T, 2))
        return self.encode(self.mul(d))


P256 = Curve(
    "P-256", "1.2.840.10045.3.1.7",
    0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    -3,
    0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551)



def _bp():
    # brainpoolP256r1 is made on first use: most gateways never meet it (RAM)
    c = globals().get("_BP")
    if c is None:
        c = globals()["_BP"] = Curve(
            "brainpoolP256r1", "1.3.36.3.3.2.8.1.1.7",
            0xA9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377,
            0x7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9,
            0x26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6,
            0x8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262,
            0x547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997,
            0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7)
    return c


def curve(key):
    """The curve with this name or OID (dotted string), or None."""
    if key in ("P-256", P256.oid):
        return P256
    if key in ("brainpoolP256r1", "1.3.36.3.3.2.8.1.1.7"):
        return _bp()
    return None


def __getattr__(name):
    # BP256R1, CURVES (name -> curve), BY_OID (OID -> curve): made on demand
    if name == "BP256R1":
        return _bp()
    if name == "CURVES":
        return {"P-256": P256, "brainpoolP256r1": _bp()}
    if name == "BY_OID":
        return {P256.oid: P256, _bp().oid: _bp()}
    raise AttributeError(name)


def ecdh(curve, d, peer_point):
    """Shared secret Z = x(d * Q) (SEC1 3.3.1), checked point, as curve.size bytes."""
    Q = curve.decode(peer_point) if isinstance(peer_point, (bytes, bytearray)) else peer_point
    R = curve.mul(d, Q)
    if R is None:
        raise EccError(msg(_T, 3))
    return R[0].to_bytes(curve.size, "big")
