"""Elliptic curves over prime fields in pure MicroPython big integers.

Curves: NIST P-256 (secp256r1, FIPS 186-4 D.1.2.3) and brainpoolP256r1 (RFC 5639 3.4).
Points in Jacobian coordinates (X, Y, Z), infinity has Z == 0. Scalar multiplication by a
secret uses a Montgomery ladder over a fixed number of bits (the scalar is padded with the
group order so its length never depends on its value); big-integer arithmetic in
MicroPython is not constant-time, so this is "constant-time where the language allows":
no secret-dependent control flow in the ladder beyond what the integer library does.
Public-only operations (verification) use Shamir's trick.
"""


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

    # ---- Jacobian arithmetic ----------------------------------------------------------
    def double(self, P):
        X, Y, Z = P
        if Z == 0 or Y == 0:
            return (1, 1, 0)
        p = self.p
        YY = Y * Y % p
        S = 4 * X * YY % p
        ZZ = Z * Z % p
        M = (3 * X * X + self.a * ZZ * ZZ) % p
        X3 = (M * M - 2 * S) % p
        Y3 = (M * (S - X3) - 8 * YY * YY) % p
        Z3 = 2 * Y * Z % p
        return (X3, Y3, Z3)

    def add(self, P, Q):
        if P[2] == 0:
            return Q
        if Q[2] == 0:
            return P
        p = self.p
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
            return self.double(P) if R == 0 else (1, 1, 0)
        HH = H * H % p
        HHH = H * HH % p
        V = U1 * HH % p
        X3 = (R * R - HHH - 2 * V) % p
        Y3 = (R * (V - X3) - S1 * HHH) % p
        Z3 = H * Z1 * Z2 % p
        return (X3, Y3, Z3)

    def affine(self, P):
        """(x, y) or None for infinity."""
        if P[2] == 0:
            return None
        p = self.p
        zi = pow(P[2], p - 2, p)
        zi2 = zi * zi % p
        return (P[0] * zi2 % p, P[1] * zi2 * zi % p)

    def mul(self, k, P=None):
        """k * P (P affine (x, y) or Jacobian; default the generator) -> affine or None."""
        if P is None:
            P = self.g
        elif len(P) == 2:
            P = (P[0], P[1], 1)
        n = self.n
        k %= n
        # fixed length: k + n or k + 2n has exactly nbits + 1 bits
        k2 = k + n
        if bitlen(k2) <= self.nbits:
            k2 += n
        R0 = (1, 1, 0)
        R1 = P
        i = self.nbits
        while i >= 0:
            if (k2 >> i) & 1:
                R0 = self.add(R0, R1)
                R1 = self.double(R1)
            else:
                R1 = self.add(R0, R1)
                R0 = self.double(R0)
            i -= 1
        return self.affine(R0)

    def mul_add(self, u1, u2, Q):
        """u1 * G + u2 * Q for public scalars (Shamir's trick) -> affine or None."""
        G = self.g
        Qj = (Q[0], Q[1], 1)
        GQ = self.add(G, Qj)
        R = (1, 1, 0)
        i = max(bitlen(u1), bitlen(u2)) - 1
        while i >= 0:
            R = self.double(R)
            b = ((u1 >> i) & 1) | (((u2 >> i) & 1) << 1)
            if b == 1:
                R = self.add(R, G)
            elif b == 2:
                R = self.add(R, Qj)
            elif b == 3:
                R = self.add(R, GQ)
            i -= 1
        return self.affine(R)

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
            raise EccError("not an uncompressed point")
        x = int.from_bytes(b[1:1 + n], "big")
        y = int.from_bytes(b[1 + n:], "big")
        if not self.on_curve(x, y):
            raise EccError("point not on " + self.name)
        return (x, y)

    def public(self, d):
        if not 0 < d < self.n:
            raise EccError("private key out of range")
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
        raise EccError("shared point at infinity")
    return R[0].to_bytes(curve.size, "big")
