# Garbage per operation on the wM-Bus receive path (micropython.mem_total() deltas,
# tests/support/hotalloc.py; numbers in docs/wmbus.md). Each bound is below what the code
# allocated before the hot-path cut (in brackets), so it fails on that code.
# heapsize: 1M
import asyncio

from hotalloc import per_await, per_call, radio, _chips_t1
from mptest import eq, vectors
from wmbus import phy


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
    v = vectors("wmbus_telegrams.jsonl")[20]
    emu, r = radio(200)
    chips = _chips_t1(bytes.fromhex(v["hex"]))

    async def rcv():
        emu.inject(chips, -60)
        buf, mode, rssi = await r.receive(phy.packet_len, 2, 200)
        eq(len(buf), len(chips) - 4)

    async def main():
        return await per_await(rcv, 5)

    per = asyncio.run(main())
    print("bytes per packet", per)
    # what is left: asyncio's sleeps between polls (~144 B each), the coroutine, one view
    # per FIFO read [2940 B]
    assert per <= 1300, per
