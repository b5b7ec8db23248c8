"""Decode one wM-Bus telegram: data link layer, ELL, AFL, TPL, security, application layer.

    t = decode(frame_bytes, keys, fmt="auto")   # dict, see below; raises WmbusError

Layers (EN 13757-4/-7, OMS Vol. 2 4.x):
- DLL: L C M(2, LE, 3 letters of 5 bits) A(ID 4 bytes LE BCD, version, device type).
- ELL (CI 0x8C..0x8F): CC ACC [M A] [SN(4) payload-CRC(2)]. SN bits 29-31 = encryption
  (1 = AES-128-CTR, IV = M ‖ A ‖ CC&~0x12 ‖ SN ‖ 0000 ‖ block counter, decryption starts
  at the payload CRC, which is CRC-16/EN-13757 stored least significant byte first).
- AFL (CI 0x90): AFLL FCL(2) [MCL] [KI(2)] [MCR(4)] [MAC] [ML(2)]; FCL bit 14 = more
  fragments, 13 MCL present, 12 ML, 11 MCR, 10 MAC, 9 KI; MCL bits 0-3 = auth type
  (5/6/7 = AES-CMAC truncated to 8/12/16 bytes). Fragment id (bits 0-7) counts from 1;
  fragmented messages are reassembled when the caller passes a `frags` dict (state).
- TPL: 0x7A short (ACC ST CW), 0x72 long (ID M ver type ACC ST CW), 0x78 none;
  CW bits 8-12 = security mode, bits 4-7 = number of encrypted 16-byte blocks.
- Security (keys per meter id "MAN-ID"): mode 5 AES-CBC, IV = M ‖ A ‖ ACC×8 (TPL long
  header's M/A when present), plaintext starts 2F2F; mode 7 CFE byte after CW,
  Kenc/Kmac = CMAC(K, 00/01 ‖ MCR LE ‖ ID LE ‖ 07×7), AFL MAC = CMAC(Kmac, MCL ‖ [KI] ‖
  MCR ‖ [ML] ‖ TPL CI..end) checked before AES-CBC (IV 0); mode 10 AES-CCM: 2-byte CW
  extension, counter(4, LE), ciphertext ‖ 8-byte tag, nonce = M ‖ ID ‖ ver ‖ type ‖ 00 ‖
  counter BE, AAD = TPL CI..CW extension, keys as mode 7.
See ../shared/vectors/README.md for the vectors these layouts were checked against.

Result dict: manufacturer, id, meter ("MAN-ID"), version, device_type, c_field, ci,
access_number, status, security_mode (TPL), ell_encrypted (ELL AES-CTR), crc_ok, mac_ok, counter (AFL MCR or CCM counter,
else None), frame_format, records (wmbus.apl.parse), apl_error (text, only when the tail
of the application layer could not be parsed: kept as an "undecoded" raw record),
apl_hex (the plaintext application layer, with keep_apl=True).
"""
from texts import msg
from wmbus import WmbusError
from wmbus import apl
from wmbus.crc import crc
from wmbus.frame import strip

# error texts, msg(_E, i) (one string constant: RAM)
_E = const(("no key for meter"  # 0
      "|key is not 16 bytes"  # 1
      "|no CI field"  # 2
      "|second AFL"  # 3
      "|unsupported security mode %d"  # 4
      "|compact frame (CI 0x79) needs the full frame first"  # 5
      "|unsupported CI 0x%02x"  # 6
      "|decryption failed (ELL payload CRC)"  # 7
      "|unsupported ELL encryption %d"  # 8
      "|fragmented message (no reassembly state)"  # 9
      "|MAC without message control"  # 10
      "|unsupported authentication type %d"  # 11
      "|AFLL does not match its fields"  # 12
      "|fragment %d out of order"  # 13
      "|fragmented message too long"  # 14
      "|encrypted length %d blocks does not fit"  # 15
      "|decryption failed (no 2F2F)"  # 16
      "|mode 7 needs an AFL with counter and MAC"  # 17
      "|decryption failed (AFL MAC mismatch)"  # 18
      "|decryption failed (CCM tag mismatch)"))  # 19


def manufacturer(m):
    return "%c%c%c" % (((m >> 10) & 31) + 64, ((m >> 5) & 31) + 64, (m & 31) + 64)


def _need(buf, p, n, layer):
    if p + n > len(buf):
        raise WmbusError(layer, "truncated", p)


def _key(keys, meter):
    if keys is None:
        k = None
    elif callable(keys):
        k = keys(meter)
    else:
        k = keys.get(meter)
    if k is None:
        raise WmbusError("key", msg(_E, 0), meter=meter)  # no key for meter
    if len(k) != 16:
        raise WmbusError("key", msg(_E, 1), meter=meter)  # key is not 16 bytes
    return k


def _kdf(key, counter_le, id_le):
    """OMS Vol. 2 9.5 / EN 13757-7 KDF-A: Kenc (D=00) and Kmac (D=01)."""
    from crypto.cmac import CMAC

    c = CMAC(key)
    m = bytearray(16)
    m[1:5] = counter_le
    m[5:9] = id_le
    for i in range(9, 16):
        m[i] = 0x07
    kenc = c.mac(m)
    m[0] = 1
    return kenc, c.mac(m)


def decode(frame, keys=None, fmt="auto", keep_apl=False, frags=None):
    buf, crc_ok, fmt = strip(frame, fmt)
    n = len(buf)
    # every key a decoded telegram has, at once: one table of the final size (adding them
    # one by one grew it three times, ~0.5 KB of garbage per telegram)
    t = {"frame_format": fmt, "crc_ok": crc_ok, "mac_ok": None, "c_field": buf[1],
         "security_mode": 0, "access_number": None, "status": None, "counter": None,
         "manufacturer": None, "id": None, "version": None, "device_type": None,
         "meter": None, "ci": None, "records": None}
    dll_m = buf[2:4]
    dll_a = buf[4:10]
    _ident(t, buf, 2)
    t["ci"] = ci = buf[10] if n > 10 else None
    if ci is None:
        t["records"] = []
        return t
    p = 10
    afl = None
    while True:
        if p >= n:
            raise WmbusError("tpl", msg(_E, 2), p)  # no CI field
        ci = buf[p]
        if 0x8C <= ci <= 0x8F:
            buf, p = _ell(t, buf, p, dll_m, dll_a, keys)
            n = len(buf)
        elif ci == 0x90:
            if afl is not None:
                raise WmbusError("afl", msg(_E, 3), p)  # second AFL
            prev = frags.get(t["meter"]) if frags is not None else None
            afl, q = _afl(buf, p, frags is not None, prev and prev["afl"].get("mcl"))
            fid = afl["fcl"] & 0xFF
            if fid and (fid > 1 or afl["fcl"] & 0x4000):
                buf, q, afl = _fragment(t, buf, p, q, afl, frags)
                if buf is None:  # more fragments to come
                    t["records"] = []
                    t["incomplete"] = fid
                    return t
            p = q
        else:
            break
    t["ci"] = ci
    m = dll_m
    a = dll_a
    tpl = p
    if ci == 0x72:
        _need(buf, p, 13, "tpl")
        m = buf[p + 5:p + 7]
        a = bytes(buf[p + 1:p + 5]) + bytes(buf[p + 7:p + 9])
        _ident(t, bytes(m) + a, 0)
        p += 8
    if ci in (0x72, 0x7A):
        p += 1
        _need(buf, p, 4, "tpl")
        t["access_number"] = acc = buf[p]
        t["status"] = buf[p + 1]
        cw = buf[p + 2] | (buf[p + 3] << 8)
        p += 4
        mode = (cw >> 8) & 0x1F
        t["security_mode"] = mode
        if mode == 0:
            pass
        elif mode == 5:
            buf = _mode5(t, buf, p, cw, m, a, acc, keys)
        elif mode == 7:
            buf, p = _mode7(t, buf, p, tpl, cw, afl, keys)
        elif mode == 10:
            buf, p = _mode10(t, buf, p, tpl, keys)
        else:
            raise WmbusError("tpl", msg(_E, 4) % mode, tpl)  # unsupported security mode %d
        t["records"] = _apl(t, buf, p, keep_apl)
    elif ci == 0x78:
        t["records"] = _apl(t, buf, p + 1, keep_apl)
    elif 0xA0 <= ci <= 0xB7:
        t["records"] = [{"storage": 0, "tariff": 0, "subunit": 0, "function": "instantaneous",
                         "quantity": "manufacturer_specific", "unit": "", "value": None,
                         "raw": bytes(buf[p + 1:]).hex(), "exponent": 0}]
    elif ci == 0x79:
        raise WmbusError("tpl", msg(_E, 5), p)
    else:
        raise WmbusError("tpl", msg(_E, 6) % ci, p)  # unsupported CI 0x%02x
    return t


def _apl(t, buf, p, keep):
    if keep:
        t["apl_hex"] = bytes(buf[p:]).hex()
    err = []
    recs = apl.parse(buf, p, -1, err)
    if err:
        t["apl_error"] = str(err[0])
    return recs


def _ident(t, buf, p):
    _need(buf, p, 8, "dll")
    t["manufacturer"] = manufacturer(buf[p] | (buf[p + 1] << 8))
    t["id"] = "%02x%02x%02x%02x" % (buf[p + 5], buf[p + 4], buf[p + 3], buf[p + 2])
    t["version"] = buf[p + 6]
    t["device_type"] = buf[p + 7]
    t["meter"] = t["manufacturer"] + "-" + t["id"]


def _ell(t, buf, p, m, a, keys):
    ci = buf[p]
    hl = (2, 8, 10, 16)[ci - 0x8C]
    _need(buf, p + 1, hl, "ell")
    cc = buf[p + 1]
    t["access_number"] = buf[p + 2]
    q = p + 3
    if ci in (0x8E, 0x8F):
        m = buf[q:q + 2]
        a = buf[q + 2:q + 8]
        q += 8
    if ci in (0x8D, 0x8F):
        sn = buf[q:q + 4]
        enc = sn[3] >> 5
        q += 4
        if enc == 1:
            from crypto.aes import AES
            from crypto.ctr import crypt

            key = _key(keys, t["meter"])
            iv = bytearray(16)
            iv[0:2] = m
            iv[2:8] = a
            iv[8] = cc & ~0x12 & 0xFF
            iv[9:13] = sn
            plain = crypt(AES(key), iv, memoryview(buf)[q:], 1)
            if len(plain) < 2 or plain[0] | (plain[1] << 8) != crc(plain, 2):
                raise WmbusError("decrypt", msg(_E, 7), q,  # decryption failed (ELL payload CRC)
                                 t["meter"])
            t["ell_encrypted"] = True
            t["mac_ok"] = True  # the payload CRC under the encryption verified
            buf = bytearray(buf[:q]) + plain
        elif enc:
            raise WmbusError("ell", msg(_E, 8) % enc, q)  # unsupported ELL encryption %d
        q += 2  # payload CRC (checked above when encrypted)
    return buf, q


def _afl(buf, p, reassemble=False, prev_mcl=None):
    _need(buf, p, 4, "afl")
    afll = buf[p + 1]
    end = p + 2 + afll
    _need(buf, p, 2 + afll, "afl")
    fcl = buf[p + 2] | (buf[p + 3] << 8)
    if not reassemble and (fcl & 0x4000 or (fcl & 0xFF) > 1):
        raise WmbusError("afl", msg(_E, 9), p)  # fragmented message (no reassembly state)
    q = p + 4
    afl = {"fcl": fcl, "mcl": None, "ki": None, "mcr": None, "mac": None, "ml": None}
    for bit, name, size in ((0x2000, "mcl", 1), (0x0200, "ki", 2), (0x0800, "mcr", 4)):
        if fcl & bit:
            afl[name] = buf[q:q + size]
            q += size
    if fcl & 0x0400:
        mcl = afl["mcl"] or prev_mcl  # a later fragment: MCL came with an earlier one
        if mcl is None:
            raise WmbusError("afl", msg(_E, 10), p)  # MAC without message control
        at = mcl[0] & 15
        size = {5: 8, 6: 12, 7: 16}.get(at)
        if size is None:
            raise WmbusError("afl", msg(_E, 11) % at, p)  # unsupported authentication type %d
        afl["mac"] = buf[q:q + size]
        q += size
    if fcl & 0x1000:
        afl["ml"] = buf[q:q + 2]
        q += 2
    if q != end:
        raise WmbusError("afl", msg(_E, 12), p)  # AFLL does not match its fields
    return afl, end


_FRAGS = const(8)  # meters with a message in reassembly
_FRAG_BYTES = const(2048)  # longest reassembled message


def _fragment(t, buf, p, q, afl, frags):
    """AFL reassembly (EN 13757-7): fragment ids count from 1, "more fragments" is clear
    on the last one; the payloads after each AFL are concatenated in order, the AFL fields
    (MCL, KI, MCR, MAC, ML) are taken from whichever fragment carries them, and the whole
    message is then processed as one (MAC over the reassembled TPL..end). Per meter; a
    missing or repeated fragment discards the message. -> (buf, p, afl) or (None, ..)."""
    fid = afl["fcl"] & 0xFF
    meter = t["meter"]
    e = frags.get(meter)
    if fid == 1:
        if len(frags) >= _FRAGS and e is None:
            frags.pop(next(iter(frags)))
        e = frags[meter] = {"next": 1, "head": bytes(buf[:p]), "data": bytearray(),
                            "afl": {}}
    elif e is None or e["next"] != fid:
        frags.pop(meter, None)
        raise WmbusError("afl", msg(_E, 13) % fid, p)  # fragment %d out of order
    e["next"] = fid + 1
    e["data"].extend(memoryview(buf)[q:])
    if len(e["data"]) > _FRAG_BYTES:
        del frags[meter]
        raise WmbusError("afl", msg(_E, 14), p)  # fragmented message too long
    for k, v in afl.items():
        if v is not None and k != "fcl":
            e["afl"].setdefault(k, v)
    if afl["fcl"] & 0x4000:
        return None, q, afl
    del frags[meter]
    merged = {"fcl": afl["fcl"], "mcl": None, "ki": None, "mcr": None, "mac": None,
              "ml": None}
    merged.update(e["afl"])
    out = bytearray(e["head"])
    out.extend(e["data"])
    t["fragments"] = fid
    return out, len(e["head"]), merged


def _mode5(t, buf, p, cw, m, a, acc, keys):
    from crypto.aes import AES

    nb = (cw >> 4) & 15
    if nb == 0 or p + 16 * nb > len(buf):
        raise WmbusError("tpl", msg(_E, 15) % nb, p)  # encrypted length %d blocks does not fit
    key = _key(keys, t["meter"])
    iv = bytearray(16)
    iv[0:2] = m
    iv[2:8] = a
    for i in range(8, 16):
        iv[i] = acc
    buf = bytearray(buf)
    mv = memoryview(buf)[p:p + 16 * nb]
    AES(key).cbc_decrypt(iv, mv, mv)
    if buf[p] != 0x2F or buf[p + 1] != 0x2F:
        raise WmbusError("decrypt", msg(_E, 16), p, t["meter"])  # decryption failed (no 2F2F)
    return buf


def _mode7(t, buf, p, tpl, cw, afl, keys):
    from crypto.aes import AES
    from crypto.cmac import CMAC

    if afl is None or afl["mcr"] is None or afl["mac"] is None:
        raise WmbusError("afl", msg(_E, 17), tpl)  # mode 7 needs an AFL with counter and MAC
    _need(buf, p, 1, "tpl")
    p += 1  # configuration field extension (KDF selection, key id)
    nb = (cw >> 4) & 15
    if nb == 0 or p + 16 * nb > len(buf):
        raise WmbusError("tpl", msg(_E, 15) % nb, p)  # encrypted length %d blocks does not fit
    key = _key(keys, t["meter"])
    mcr = afl["mcr"]
    t["counter"] = mcr[0] | (mcr[1] << 8) | (mcr[2] << 16) | (mcr[3] << 24)
    kenc, kmac = _kdf(key, mcr, _id_le(t))
    m = bytearray(afl["mcl"])
    if afl["ki"] is not None:
        m.extend(afl["ki"])
    m.extend(mcr)
    if afl["ml"] is not None:
        m.extend(afl["ml"])
    m.extend(buf[tpl:])
    mac = CMAC(kmac).mac(m)
    from crypto.xor import equal

    if not equal(mac, afl["mac"], len(afl["mac"])):
        raise WmbusError("mac", msg(_E, 18), tpl, t["meter"])
    t["mac_ok"] = True
    buf = bytearray(buf)
    mv = memoryview(buf)[p:p + 16 * nb]
    AES(kenc).cbc_decrypt(bytes(16), mv, mv)
    return buf, p


def _id_le(t):
    i = t["id"]
    return bytes((int(i[6:8], 16), int(i[4:6], 16), int(i[2:4], 16), int(i[0:2], 16)))


def _mode10(t, buf, p, tpl, keys):
    from crypto.ccm import CCM, CcmError

    _need(buf, p, 6 + 8, "tpl")
    p += 2  # configuration field extension
    aad = bytes(buf[tpl:p])
    ctr = buf[p:p + 4]
    t["counter"] = ctr[0] | (ctr[1] << 8) | (ctr[2] << 16) | (ctr[3] << 24)
    p += 4
    key = _key(keys, t["meter"])
    kenc, _ = _kdf(key, ctr, _id_le(t))
    m = t["manufacturer"]
    mm = ((ord(m[0]) - 64) << 10) | ((ord(m[1]) - 64) << 5) | (ord(m[2]) - 64)
    nonce = bytes((mm & 0xFF, mm >> 8)) + _id_le(t) + bytes(
        (t["version"], t["device_type"], 0, ctr[3], ctr[2], ctr[1], ctr[0]))
    try:
        plain = CCM(kenc, 8).decrypt(nonce, aad, memoryview(buf)[p:])
    except CcmError:
        raise WmbusError("decrypt", msg(_E, 19), p, t["meter"])
    t["mac_ok"] = True
    return plain, 0
