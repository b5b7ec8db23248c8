# Garbage per operation on the wM-Bus receive path (micropython.mem_total() deltas,
# tests/support/hotalloc.py; numbers in docs/wmbus.md). Each bound is below what the code
# allocated before the hot-path cut (in brackets), so it fails on that code.
# heapsize: 1M
from hotalloc import per_call, radio
from mptest import eq


def test_spi_transfers_allocate_nothing():
    emu, r = radio()
    # the emulator's socket pump runs every emulated ms: its frame came from the heap
    # (192 B, every 25th transfer here) [7 B per transfer on average]
    eq(per_call(lambda: r._xfer(2), 500), 0)
    eq(per_call(lambda: r.read_status(0x35), 500), 0)
    eq(per_call(r.rx_bytes, 500), 0)
    dst = bytearray(64)
    assert per_call(lambda: r.read_fifo(dst, 0, 32), 100) <= 64  # one view [167 B]


def test_socket_pump_allocates_nothing_without_air_traffic():
    from hal.unix.cc1101_emu import Cc1101Emu

    emu = Cc1101Emu("127.0.0.1:0")
    assert emu.srv is not None, emu.error
    try:
        eq(per_call(emu._pump, 100), 0)  # [~270 B: heap frame + accept()'s OSError]
    finally:
        emu.srv.close()


def test_packet_receive_bytes():
    from hotalloc import per_packet

    per = per_packet(20)
    print("bytes per packet", per)
    # what is left: asyncio's sleeps between polls (~144 B each), the coroutine, one view
    # per FIFO read [2940 B]
    assert per <= 1300, per


def _bcd_ref(buf, p, nbytes):  # apl._bcd as it was (a for loop, more locals)
    from wmbus import WmbusError

    v = 0
    neg = False
    for i in range(p + nbytes - 1, p - 1, -1):
        b = buf[i]
        hi = b >> 4
        lo = b & 15
        if i == p + nbytes - 1 and hi == 15:
            neg = True
            hi = 0
        if hi > 9 or lo > 9:
            raise WmbusError("apl", "bad BCD digit", i)
        v = v * 100 + hi * 10 + lo
    return -v if neg else v


def test_bcd_equals_reference_and_allocates_nothing():
    import os

    from wmbus import WmbusError, apl

    def run(f, b, n):
        try:
            return f(b, 1, n)
        except WmbusError as e:
            return ("err", e.offset)

    for _ in range(2000):
        n = os.urandom(1)[0] % 7
        b = bytearray(os.urandom(n + 2))
        if os.urandom(1)[0] & 1:  # mostly valid digits, sometimes a sign nibble
            for i in range(len(b)):
                b[i] = (b[i] >> 4) % 10 << 4 | (b[i] & 15) % 10
            if n and os.urandom(1)[0] & 1:
                b[n] |= 0xF0
        eq(run(apl._bcd, b, n), run(_bcd_ref, b, n), (bytes(b), n))
    b = b"\x00\x12\x34\x56\xf7"
    eq(apl._bcd(b, 1, 4), -7563412)
    eq(per_call(lambda: apl._bcd(b, 1, 4), 100), 0)  # [168 B: a heap frame]


def test_idle_fillers_allocate_nothing_per_byte():
    from wmbus import apl

    b = b"\x2f" * 64 + b"\x04\x13\x01\x00\x00\x00" + b"\x2f" * 64
    eq(len(apl.parse(b)), 1)
    # one record (its dict, name, value) and the list; a filler byte was a _record call
    # with a ~450 B heap frame [~58 KB]
    assert per_call(lambda: apl.parse(b), 20) <= 1200


def test_telegram_chips_to_records_bytes():
    from hotalloc import per_telegram

    m5 = per_telegram(20, 5)
    m7 = per_telegram(21, 5)
    print("bytes per telegram: mode 5", m5, "mode 7", m7)
    # what is left: the decoder's dicts and strings (one dict per record, the telegram
    # dict, meter id), AES key schedules and CMAC (crypto), asyncio's sleeps [18.2/25.1 KB]
    assert m5 <= 11500, m5
    assert m7 <= 18000, m7


def test_frame_strip_bytes():
    from mptest import vectors
    from wmbus import frame

    f = bytes.fromhex(vectors("wmbus_telegrams.jsonl")[20]["hex"])
    eq(frame.strip(f)[1:], (True, "A"))
    n = per_call(lambda: frame.strip(f), 50)
    print("frame.strip bytes", n)
    # the frame without CRCs, one slice per block, the result tuple, strip's own frame
    # (no tuple of candidate formats, _strip_a within the on-stack frame size) [1098 B]
    assert n <= 700, n
