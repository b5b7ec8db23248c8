"""Independent wireless M-Bus encoder (CPython, pycryptodome), for tests and the air simulator.

Written from the standards, sharing no code with the firmware decoder, so a round trip
through both is a real check: EN 13757-3 records (DIF/DIFE/VIF), EN 13757-4 data link
layer with frame format A/B CRCs and 3-of-6 chips, EN 13757-7 / OMS Vol. 2 security
(mode 5 AES-CBC, mode 7 AFL + CMAC + KDF-A, mode 10 AES-CCM, ELL AES-CTR).
"""
import struct

from Crypto.Cipher import AES
from Crypto.Hash import CMAC

# quantity -> (VIF base, exponent of n=0, n range, first extension byte or None)
VIFS = {
    "energy": (0x00, -3, 8), "volume": (0x10, -6, 8), "power": (0x28, -3, 8),
    "flow": (0x38, -6, 8), "flow_temperature": (0x58, -3, 4),
    "return_temperature": (0x5C, -3, 4), "external_temperature": (0x64, -3, 4),
}
INT_DIF = {1: 0x01, 2: 0x02, 3: 0x03, 4: 0x04, 6: 0x06, 8: 0x07}
BCD_DIF = {1: 0x09, 2: 0x0A, 3: 0x0B, 4: 0x0C, 6: 0x0E}
FUNCS = ("instantaneous", "maximum", "minimum", "error")
T36 = (0x16, 0x0D, 0x0E, 0x0B, 0x1C, 0x19, 0x1A, 0x13, 0x2C, 0x25, 0x26, 0x23, 0x34, 0x31,
       0x32, 0x29)


def crc16_en13757(data):
    c = 0
    for b in data:
        c ^= b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x3D65) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c ^ 0xFFFF


def record(quantity, raw, exponent, storage=0, tariff=0, subunit=0, function="instantaneous",
           size=4, bcd=False):
    """One DIF/DIFE/VIF/data record."""
    base, e0, nrange = VIFS[quantity]
    n = exponent - e0
    if not 0 <= n < nrange:
        raise ValueError(f"exponent {exponent} not encodable for {quantity}")
    dif = (BCD_DIF if bcd else INT_DIF)[size] | (FUNCS.index(function) << 4)
    dif |= (storage & 1) << 6
    difes = []
    s, t, u = storage >> 1, tariff, subunit
    while s or t or u:
        difes.append((s & 15) | ((t & 3) << 4) | ((u & 1) << 6))
        s, t, u = s >> 4, t >> 2, u >> 1
    if difes:
        dif |= 0x80
        for i in range(len(difes) - 1):
            difes[i] |= 0x80
    if bcd:
        digits = f"{abs(raw):0{2 * size}d}"
        if len(digits) > 2 * size:
            raise ValueError("BCD overflow")
        data = bytes.fromhex(digits)[::-1]
        if raw < 0:
            data = data[:-1] + bytes((data[-1] | 0xF0,))
    else:
        data = (raw & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return bytes([dif, *difes, base + n]) + data


def datetime_f(y, mo, d, h, mi):
    """Type F (CP32) time point record payload: DIF 04 VIF 6D."""
    yy = y - 2000
    b = bytes((mi & 0x3F, h & 0x1F, (d & 0x1F) | ((yy & 7) << 5), (mo & 15) | ((yy >> 3) << 4)))
    return b"\x04\x6d" + b


def man_code(m):
    return ((ord(m[0]) - 64) << 10) | ((ord(m[1]) - 64) << 5) | (ord(m[2]) - 64)


def address(man, ident, version, dev_type):
    """M(2) ‖ A(6) as on the air: ident is 8 decimal/hex digits, stored LE BCD."""
    return struct.pack("<H", man_code(man)) + bytes.fromhex(ident)[::-1] + bytes((version,
                                                                                   dev_type))


def _kdf(key, counter, ident_le):
    out = []
    for d in (0, 1):
        c = CMAC.new(key, ciphermod=AES)
        c.update(bytes((d,)) + struct.pack("<I", counter) + ident_le + b"\x07" * 7)
        out.append(c.digest())
    return out


def telegram(man, ident, version, dev_type, apl, mode=0, key=None, acc=1, status=0,
             c_field=0x44, long_tpl=False, counter=1, ell=False, ell_ctr=False, sn=0x1234):
    """Link-layer frame (no CRCs, L = len - 1) carrying `apl` (records bytes)."""
    ma = address(man, ident, version, dev_type)
    id_le = ma[2:6]
    body = b""
    if mode in (5, 7):
        plain = b"\x2f\x2f" + apl
        pad = (-len(plain)) % 16
        plain += b"\x2f" * pad
        nblocks = len(plain) // 16
        cw = (mode << 8) | (nblocks << 4)
    elif mode == 10:
        cw = 0x0A00 | 0xFF
        plain = apl
    else:
        cw = 0
        plain = apl
    if long_tpl:
        tpl = b"\x72" + id_le + ma[0:2] + ma[6:8] + bytes((acc, status)) + struct.pack("<H", cw)
    else:
        tpl = b"\x7a" + bytes((acc, status)) + struct.pack("<H", cw)
    afl = b""
    if mode == 5:
        iv = ma[0:2] + ma[2:8] + bytes((acc,)) * 8
        body = tpl + AES.new(key, AES.MODE_CBC, iv).encrypt(plain)
    elif mode == 7:
        kenc, kmac = _kdf(key, counter, id_le)
        tpl += b"\x10"  # CFE: KDF-A
        body = tpl + AES.new(kenc, AES.MODE_CBC, bytes(16)).encrypt(plain)
        mcl, mcr = b"\x25", struct.pack("<I", counter)
        c = CMAC.new(kmac, ciphermod=AES)
        c.update(mcl + mcr + body)
        mac = c.digest()[:8]
        afl = b"\x90\x0f" + struct.pack("<H", 0x2C00) + mcl + mcr + mac
    elif mode == 10:
        kenc, _ = _kdf(key, counter, id_le)
        tpl += b"\x10\x01"
        nonce = ma[0:2] + id_le + ma[6:8] + b"\x00" + struct.pack(">I", counter)
        ccm = AES.new(kenc, AES.MODE_CCM, nonce=nonce, mac_len=8)
        ccm.update(tpl)
        ct, tag = ccm.encrypt_and_digest(plain)
        body = tpl + struct.pack("<I", counter) + ct + tag
    else:
        body = tpl + plain
    body = afl + body
    if ell or ell_ctr:
        cc = 0x20
        if ell_ctr:
            snb = struct.pack("<I", (sn & 0x1FFFFFFF) | (1 << 29))
            pay = struct.pack("<H", crc16_en13757(body)) + body
            iv = ma[0:2] + ma[2:8] + bytes((cc & ~0x12 & 0xFF,)) + snb + b"\x00\x00\x00"
            ct = AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(pay)
            body = b"\x8d" + bytes((cc, acc)) + snb + ct
        else:
            body = b"\x8c" + bytes((cc, acc)) + body
    frame = bytes((0, c_field)) + ma + body
    return bytes((len(frame) - 1,)) + frame[1:]


def add_crc_a(frame):
    out, p, blk = b"", 0, 10
    while p < len(frame):
        b = frame[p:p + blk]
        out += b + struct.pack(">H", crc16_en13757(b))
        p += blk
        blk = 16
    return out


def add_crc_b(frame):
    n = len(frame)
    if n <= 126:
        f = bytes((n + 1,)) + frame[1:]
        return f + struct.pack(">H", crc16_en13757(f))
    f = bytes((n + 3,)) + frame[1:]
    return (f[:126] + struct.pack(">H", crc16_en13757(f[:126])) + f[126:]
            + struct.pack(">H", crc16_en13757(f[126:])))


def three_of_six(data):
    """Bytes -> 3-of-6 chips (EN 13757-4 table 10), postamble fill 0101 on odd length."""
    bits = "".join(f"{T36[b >> 4]:06b}{T36[b & 15]:06b}" for b in data)
    if len(bits) % 8:
        bits += "0101"
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


PREAMBLE_T = bytes.fromhex("5555")
SYNC = bytes.fromhex("543d")


def air_t1(frame):
    """Chips of a T1 transmission: preamble, sync word 0x543D, 3-of-6 coded format A."""
    return PREAMBLE_T + SYNC + three_of_six(add_crc_a(frame))


def air_c1(frame, fmt="A"):
    """Chips of a C1 transmission: preamble, 0x543D, 0x54CD (A) / 0x543D (B), NRZ bytes."""
    if fmt == "A":
        return PREAMBLE_T * 2 + SYNC + b"\x54\xcd" + add_crc_a(frame)
    return PREAMBLE_T * 2 + SYNC + b"\x54\x3d" + add_crc_b(frame)


def fragmented(man, ident, version, dev_type, apl, key, counter=1, acc=1, pieces=3,
               c_field=0x44):
    """A mode-7 message split into AFL fragments (EN 13757-7): ids 1..n, "more fragments"
    on all but the last, MCL/MCR/MAC/ML in the first fragment, the MAC over the whole
    message (MCL ‖ MCR ‖ ML ‖ TPL..end). Returns the link-layer frames (no CRCs)."""
    ma = address(man, ident, version, dev_type)
    kenc, kmac = _kdf(key, counter, ma[2:6])
    plain = b"\x2f\x2f" + apl
    plain += b"\x2f" * ((-len(plain)) % 16)
    cw = (7 << 8) | ((len(plain) // 16) << 4)
    body = (b"\x7a" + bytes((acc, 0)) + struct.pack("<H", cw) + b"\x10"
            + AES.new(kenc, AES.MODE_CBC, bytes(16)).encrypt(plain))
    mcl, mcr, ml = b"\x25", struct.pack("<I", counter), struct.pack("<H", len(body))
    c = CMAC.new(kmac, ciphermod=AES)
    c.update(mcl + mcr + ml + body)
    mac = c.digest()[:8]
    step = -(-len(body) // pieces)
    chunks = [body[i:i + step] for i in range(0, len(body), step)]
    frames = []
    for i, chunk in enumerate(chunks):
        fcl = (i + 1) | (0x4000 if i < len(chunks) - 1 else 0)
        fields = b""
        if i == 0:
            fcl |= 0x2000 | 0x1000 | 0x0800 | 0x0400
            fields = mcl + mcr + mac + ml
        afl = b"\x90" + bytes((2 + len(fields),)) + struct.pack("<H", fcl) + fields
        frame = bytes((0, c_field)) + ma + afl + chunk
        frames.append(bytes((len(frame) - 1,)) + frame[1:])
    return frames
