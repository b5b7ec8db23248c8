# Bytes allocated per operation on the receive hot paths (micropython.mem_total() deltas,
# garbage included): CC1101 SPI transfer / status read / FIFO read through the register
# emulator, one wM-Bus telegram from chips to records (modes 5 and 7), one SML file and
# one SML value, one HDLC frame. Used by the guard tests (tests/wmbus, tests/lmn) and run
# as a script for the numbers in docs/wmbus.md and docs/lmn.md:
#   MICROPYPATH=firmware:tests/support GW_VECTORS=../shared/vectors \
#       .venv/bin/micropython tests/support/hotalloc.py
import gc

import micropython

from mptest import vectors


def per_call(f, n=20):
    """Bytes allocated per f() call, averaged over n calls after one warm-up call."""
    f()
    gc.collect()
    i = n
    a = micropython.mem_total()
    while i:
        f()
        i -= 1
    return (micropython.mem_total() - a) // n


class StepClock:
    """Each call advances `step` us: deterministic byte arrival per SPI transaction."""

    def __init__(self, step=40):
        self.t = 0
        self.step = step

    def __call__(self):
        self.t += self.step
        return self.t


def radio(step=40):
    """(emulator, driver) in RX; each SPI transaction advances the chip's clock by `step`
    us (200: ~8 bytes arrive per poll of three transactions)."""
    from drivers.cc1101 import CC1101
    from hal.unix.cc1101_emu import Cc1101Emu

    emu = Cc1101Emu(None, 12500, StepClock(step))
    r = CC1101(emu.spi, emu.cs, emu.gdo0, emu.gdo2)
    r.reset("T1C1")
    return emu, r


async def per_await(f, n=10):
    """per_call for a coroutine function, awaited inside the running event loop."""
    await f()
    gc.collect()
    i = n
    a = micropython.mem_total()
    while i:
        await f()
        i -= 1
    return (micropython.mem_total() - a) // n


def per_packet(index, n=5):
    """Bytes per T1 packet (vector `index`) from chips to the driver's packet view."""
    import asyncio

    from wmbus import phy

    emu, r = radio(200)
    chips = _chips_t1(bytes.fromhex(vectors("wmbus_telegrams.jsonl")[index]["hex"]))

    async def rcv():
        emu.inject(chips, -60)
        buf, mode, rssi = await r.receive(phy.packet_len, 2, 200)
        assert len(buf) == len(chips) - 4

    async def main():
        return await per_await(rcv, n)

    return asyncio.run(main())


def per_telegram(index, n=10):
    """Bytes per T1 telegram (vector `index`) from chips to records; asserts readings."""
    import asyncio

    f = telegram_rig(index)

    async def main():
        assert await f() > 0
        return await per_await(f, n)

    return asyncio.run(main())


class Ctx:
    """The receiver's ctx with no memory of its own (only counts)."""

    def __init__(self):
        self.n = 0

    def log(self, level, event, msg, detail=None):
        pass

    def ingest(self, meter, ob, raw, scaler, unit, t, status=None, via="lmn"):
        self.n += 1

    def meter_seen(self, meter, via, **info):
        pass

    def led(self, name, v):
        pass

    def now(self):
        return 1700000000


def _chips_t1(frame):
    from wmbus import three_of_six

    return b"\x55\x55\x54\x3d" + bytes(three_of_six.encode(frame))


def telegram_rig(index):
    """-> async f() receiving one T1 telegram (vector `index`) from chips to records; f
    returns the number of readings. A fresh access number/counter each time (no replay drop)."""
    import json

    from wmbus import phy
    from wmbus.keys import KeyStore
    from wmbus.receiver import Receiver

    v = vectors("wmbus_telegrams.jsonl")[index]
    frame = bytes.fromhex(v["hex"])
    emu, r = radio(200)
    chips = _chips_t1(frame)
    p = "/tmp/hotalloc_keys.json"
    from wmbus.telegram import decode

    t = decode(frame, lambda m: bytes.fromhex(v["key"]))
    with open(p, "w") as f:
        json.dump({t["meter"]: v["key"]}, f)
    rx = Receiver(Ctx(), KeyStore(p))
    plen = phy.packet_len

    async def f():
        rx.last.clear()  # the same telegram again: not a replay for this probe
        emu.inject(chips, -60)
        buf, mode, rssi = await r.receive(plen, 2, 200)
        frm, fmt = phy.to_frame(buf, len(buf), mode)
        return rx.handle(frm, fmt, rssi, "T1")

    return f


def sml_files():
    import binascii

    return [binascii.unhexlify(d["hex"]) for d in vectors("sml_telegrams.jsonl")]


def sml_values(files):
    """Number of SML values (TL-coded items, lists included) in the files' messages."""
    from lmn import sml

    n = 0
    for b in files:
        s, e, payload, kind = sml.frame(b)
        p = 0
        while p < len(payload):
            if payload[p] == 0:
                p += 1
                continue
            n += 1
            b = payload[p]
            ln = b & 15
            k = 1
            while b & 0x80:
                b = payload[p + k]
                ln = (ln << 4) | (b & 15)
                k += 1
            p += k if payload[p] >> 4 & 7 == 7 else ln  # a list: into its elements
    return n


def hdlc_frames():
    from lmn import hdlc

    info = bytes(range(200))
    return [hdlc.encode(b"\x03", b"\x21", 0x10, info), hdlc.encode(b"\x21", b"\x03", 0x73),
            hdlc.encode(b"\x00\x03", b"\x21", 0x32, info[:40], True)]


class _Out(list):
    def __setitem__(self, k, v):
        self.append((k, v))


def report():
    """-> [(operation, bytes allocated per operation)]."""
    out = _Out()
    emu, r = radio()
    out["cc1101 SPI transfer (2 bytes)"] = per_call(lambda: r._xfer(2), 200)
    out["cc1101 status read"] = per_call(lambda: r.read_status(0x35), 200)
    out["cc1101 rx_bytes (errata double read)"] = per_call(r.rx_bytes, 200)
    dst = bytearray(64)
    out["cc1101 FIFO read (32 bytes)"] = per_call(lambda: r.read_fifo(dst, 0, 32), 200)
    from hal.unix.cc1101_emu import Cc1101Emu

    e2 = Cc1101Emu("127.0.0.1:0")  # listening, nobody connected
    if e2.srv is not None:
        out["emulator socket pump (per emulated ms)"] = per_call(e2._pump, 100)
        e2.srv.close()
    out["T1 packet received (driver + emulator)"] = per_packet(20)
    for idx, name in ((20, "mode 5"), (21, "mode 7")):
        out["wM-Bus T1 telegram chips->records, " + name] = per_telegram(idx)
    from lmn import hdlc, sml

    files = sml_files()
    nv = sml_values(files)

    def dec():
        for b in files:
            sml.readings(sml.decode(b)[1])

    per = per_call(dec, 5)
    out["SML file decode + readings (mean of %d)" % len(files)] = per // len(files)
    out["SML per value (%d values)" % nv] = per // nv
    frames = hdlc_frames()
    sc = hdlc.Scanner()
    stream = b"".join(frames)

    def scan():
        sc.feed(stream)

    out["HDLC frame (Scanner.feed, mean of %d)" % len(frames)] = per_call(scan, 50) // len(
        frames)
    return out


if __name__ == "__main__":
    for k, v in report():
        print("%8d  %s" % (v, k))
