"""LMN benchmarks for `gwtool bench`, measured inside the MicroPython unix port.

run(quick) -> dict of named figures:
- crc_viper_mb_s, crc32_c_mb_s, crc_ratio: viper CRC-16/X.25 vs MicroPython's own C
  binascii.crc32 on the same 64 KiB buffer in the same process (target ratio >= 0.9).
- hdlc_scan_cpu_pct: CPU time to scan + FCS-check one second of a 921.6 kbit/s stream
  (92,160 bytes of back-to-back 128-byte-info I-frames fed in 256-byte reads), as a
  share of one core (target < 5 %); hdlc_frames_s.
- sml_frames_s: real EMH frame (316 bytes) transport + parse + readings per second.
- fuzz_cases, fuzz_cases_s: mutated/random SML and HDLC inputs through the parsers
  (100k per parser unless quick); only SmlError/HdlcError may escape.
"""
import json

from . import mpy
from .paths import ROOT, VECTORS

CODE = r"""
import time, binascii, json, gc
from lmn import crc, hdlc, sml
QUICK = %(quick)d
out = {}
buf = bytearray(65536)
for i in range(65536):
    buf[i] = (i * 31 + 7) & 255
reps = 4 if QUICK else 32
crc.x25(buf); binascii.crc32(buf)
best_v = best_c = 1 << 30
for _ in range(3):
    t = time.ticks_us()
    for _ in range(reps):
        crc.x25(buf)
    best_v = min(best_v, time.ticks_diff(time.ticks_us(), t))
    t = time.ticks_us()
    for _ in range(reps):
        binascii.crc32(buf)
    best_c = min(best_c, time.ticks_diff(time.ticks_us(), t))
mb = reps * 65536 / 1e6
out["crc_viper_mb_s"] = round(mb / (best_v / 1e6), 1)
out["crc32_c_mb_s"] = round(mb / (best_c / 1e6), 1)
out["crc_ratio"] = round(best_c / best_v, 2)

# one second of 921.6 kbit/s 8N1 = 92160 bytes of frames
fr = hdlc.encode(b"\x21", b"\x02\x23", 0x10, bytes(range(128)))
stream = bytes(fr) * (92160 // len(fr))
sc = hdlc.Scanner()
n = 0
gc.collect()
t = time.ticks_us()
mv = memoryview(stream)
for i in range(0, len(stream), 256):
    n += len(sc.feed(mv[i:i + 256]))
dt = time.ticks_diff(time.ticks_us(), t)
out["hdlc_frames_s"] = round(n / (dt / 1e6))
out["hdlc_scan_cpu_pct"] = round(100 * dt / 1e6 * 92160 / len(stream), 2)
out["hdlc_frames_checked"] = n

emh = binascii.unhexlify(EMH)
k = 50 if QUICK else 500
t = time.ticks_us()
for _ in range(k):
    kind, msgs = sml.decode(emh)
    sml.readings(msgs)
out["sml_frames_s"] = round(k / (time.ticks_diff(time.ticks_us(), t) / 1e6))

import lmnfuzz
nf = 2000 if QUICK else 100000
t = time.ticks_us()
r = lmnfuzz.run(nf)
dt = time.ticks_diff(time.ticks_us(), t)
out["fuzz_cases"] = r["sml"] + r["hdlc"]
out["fuzz_cases_s"] = round(out["fuzz_cases"] / (dt / 1e6))
out["fuzz_sml_errors"] = r["sml_errors"]
print(json.dumps(out))
"""


def run(quick: bool = True) -> dict:
    emh = json.loads((VECTORS / "sml_telegrams.jsonl").read_text().splitlines()[0])["hex"]
    code = CODE % {"quick": int(quick)}
    code = code.replace("EMH", repr(emh))
    out = mpy.run(code, path=[ROOT / "tests" / "lmn"], heapsize="1M",
                  env={"GW_VECTORS": str(VECTORS)}, timeout=60 if quick else 900)
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    import sys

    print(json.dumps(run("--full" not in sys.argv), indent=1))
