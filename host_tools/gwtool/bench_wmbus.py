"""wM-Bus figures for `gwtool bench`, measured inside the MicroPython unix port.

run(quick) -> {
  "three_of_six_viper_over_python": viper decode vs a plain-Python table decoder (>= 10),
  "wmbus_3of6_viper_kB_s"; "wmbus_crc_en13757_MB_s": viper CRC-16/EN-13757 throughput,
  "aes_ecb_kB_s", "aes_ccm_kB_s", "ccm_over_ecb": CCM (encrypt + tag) vs bulk cryptolib
      ECB on the same 16 KiB (target >= 0.4, physical limit 0.5),
  "aes_viper_ecb_kB_s": the viper AES fallback,
  "wmbus_telegram_us_mode5_4rec", "..._mode7_afl", "..._ccm": chips -> OBIS readings per
      telegram (3-of-6, CRC check, security, DIF/VIF, OBIS mapping), microseconds }
Timings are the best of 5 runs (the host is shared; the minimum is the cost).
"""
import json

from . import mpy
from . import wmbus_encode as enc

_CODE = r"""
import time, json, sys
from wmbus import three_of_six as t36, phy, obis
from wmbus.crc import crc
from wmbus.telegram import decode
from crypto.aes import AES, ViperAES
from crypto.ccm import CCM
N = %(n)d
args = json.loads(sys.stdin.read())  # not argv: the unix port dies on argv >= 256 chars

def plain_decode(chips, out, n):
    # plain-Python table decoder: the same algorithm as the viper one
    tab = t36._DEC
    i = 0
    s = 0
    while i < n:
        w = (chips[s] << 16) | (chips[s + 1] << 8) | chips[s + 2]
        a = tab[(w >> 18) & 63]; b = tab[(w >> 12) & 63]
        c = tab[(w >> 6) & 63]; d = tab[w & 63]
        if (a | b | c | d) & 0xF0:
            raise ValueError
        out[i] = (a << 4) | b
        out[i + 1] = (c << 4) | d
        i += 2
        s += 3
    return out

def us(f, reps):
    best = None
    for _ in range(5):  # best of 5: the host is shared, the minimum is the cost
        t = time.ticks_us()
        for _ in range(reps):
            f()
        d = time.ticks_diff(time.ticks_us(), t) / reps
        best = d if best is None or d < best else best
    return best

data = bytes((i * 7 + 3) & 0xFF for i in range(256))
chips = t36.encode(data)
out = bytearray(256)
tv = us(lambda: t36.decode_into(chips, 0, out, 256), N)
tp = us(lambda: plain_decode(chips, out, 256), max(1, N // 10))
r = {"three_of_six_viper_over_python": round(tp / tv, 1), "wmbus_3of6_viper_kB_s": round(256 / tv * 1000, 1)}
buf = bytearray(4096)
r["wmbus_crc_en13757_MB_s"] = round(4096 / us(lambda: crc(buf), max(1, N // 10)), 2)
key = bytes(range(16))
a = AES(key)
SZ = 16384
blk = bytearray(SZ)
dst = bytearray(SZ)
te = us(lambda: a.encrypt(blk, dst), N // 5)
ccm = CCM(a, 8)
nonce = bytes(13)
ct = bytearray(SZ + 8)
tc = us(lambda: ccm.encrypt(nonce, b"", blk, ct), N // 5)
va = ViperAES(key)
tvi = us(lambda: va.encrypt(blk, dst), max(1, N // 50))
r["aes_ecb_kB_s"] = round(SZ / te * 1000, 1)
r["aes_ccm_kB_s"] = round(SZ / tc * 1000, 1)
r["ccm_over_ecb"] = round(te / tc, 2)
r["aes_viper_ecb_kB_s"] = round(SZ / tvi * 1000, 1)
for name, (hexchips, keyhex) in args.items():
    ch = bytes.fromhex(hexchips)
    k = bytes.fromhex(keyhex)
    body = memoryview(ch)[4:]
    def one():
        n, mode = phy.packet_len(body)
        fr, fmt = phy.to_frame(body, n, mode)
        t = decode(fr, lambda m: k, fmt)
        obis.channels(t["device_type"], t["records"])
    one()
    r["wmbus_telegram_us_" + name] = round(us(one, max(1, N // 4)), 1)
print(json.dumps(r))
"""


def _telegrams():
    key = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    recs = (enc.record("volume", 123456, -3) + enc.record("volume", 120000, -3, storage=1)
            + enc.datetime_f(2025, 11, 24, 16, 30) + enc.record("flow", 12, -3, size=2))
    out = {}
    for name, mode in (("mode5_4rec", 5), ("mode7_afl", 7), ("ccm", 10)):
        f = enc.telegram("KAM", "12345678", 1, 7, recs, mode=mode, key=key, acc=5, counter=77)
        out[name] = (enc.air_t1(f).hex(), key.hex())
    return out


def run(quick):
    code = _CODE % {"n": 50 if quick else 500}
    out = mpy.run(code, input=json.dumps(_telegrams()), heapsize="1M", timeout=300)
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(run(True), indent=1))
