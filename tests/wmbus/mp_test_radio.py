# CC1101 driver against the register-level emulation; phy packet-length trick; receiver.
# heapsize: 1M
import asyncio

from drivers.cc1101 import CC1101, RadioError
from hal.unix.cc1101_emu import Cc1101Emu
from hotalloc import StepClock
from mptest import eq, raises, vectors
from refimpl import with_crc_a
from wmbus import WmbusError, phy, three_of_six
from wmbus.crc import crc

# OMS example, profile A, frame A with CRCs (vector 20)
OMS = bytes.fromhex(vectors("wmbus_telegrams.jsonl")[20]["hex"])


def t1_chips(frame):
    return b"\x55\x55\x54\x3d" + three_of_six.encode(frame)


def c1_chips(frame, b=False):
    return b"\x55\x55\x55\x55\x54\x3d" + (b"\x54\x3d" if b else b"\x54\xcd") + frame


def _radio(step=40):
    emu = Cc1101Emu(None, 12500, StepClock(step))
    r = CC1101(emu.spi, emu.cs, emu.gdo0, emu.gdo2)
    r.reset("T1C1")
    return emu, r


def _rx(r):
    return asyncio.run(asyncio.wait_for(r.receive(phy.packet_len, 1, 200), 5))


def test_registers_written_and_part_checked():
    emu, r = _radio()
    eq(emu.regs[0x04], 0x54)
    eq(emu.regs[0x05], 0x3D)
    eq(bytes(emu.regs[0x0D:0x10]), b"\x21\x6b\xd1")
    eq(emu.regs[0x15], 0x50)
    eq(emu.state, 0x0D)  # RX
    r.reset("C1")
    eq(emu.regs[0x15], 0x47)


def test_no_chip_raises():
    class Dead:
        def write_readinto(self, o, i):
            for k in range(len(i)):
                i[k] = 0xFF

    class Pin:
        def value(self, v=None):
            return 1

    with raises(RadioError):
        CC1101(Dead(), Pin()).reset()


def test_t1_packet_through_driver_and_phy():
    emu, r = _radio()
    emu.inject(t1_chips(OMS), -70)
    buf, mode, rssi = _rx(r)
    eq(mode, phy.MODE_T1)
    eq(rssi, -70)
    frame, fmt = phy.to_frame(buf, len(buf), mode)
    eq((bytes(frame), fmt), (OMS, "A"))


def test_c1_frame_a_and_b():
    emu, r = _radio()
    emu.inject(c1_chips(OMS), -80)
    buf, mode, rssi = _rx(r)
    eq(phy.to_frame(buf, len(buf), mode), (OMS, "A"))
    fb = bytearray(b"\x14\x44\xae\x0c\x78\x56\x34\x12\x01\x07\x8c\x20\x27\x78\x0b\x13\x43\x65"
                   b"\x87")
    c = crc(fb)
    fb += bytes((c >> 8, c & 0xFF))
    emu.inject(c1_chips(fb, True), -90)
    buf, mode, rssi = _rx(r)
    eq(phy.to_frame(buf, len(buf), mode), (bytes(fb), "B"))
    eq(rssi, -90)


def test_long_packet_uses_fixed_length_switch():
    # L = 255 T1 frame: 290 bytes -> 435 chip bytes, more than PKTLEN's 8 bits
    f = bytearray(range(256))
    f[0] = 255
    from wmbus.frame import len_a

    withcrc = with_crc_a(f)
    eq(len(withcrc), len_a(255))
    emu, r = _radio()
    emu.inject(t1_chips(withcrc) + b"\xaa" * 40, -60)  # trailing noise is not read
    buf, mode, rssi = _rx(r)
    eq(len(buf), 435)
    eq(phy.to_frame(buf, len(buf), mode)[0], bytes(withcrc))
    eq(emu.stats["fixed_end"], 1)  # the driver switched to fixed length: the chip stopped


def test_noise_and_bad_start_are_skipped():
    emu, r = _radio()
    emu.inject(b"\x12\x34\x56" * 20, -100)  # no sync word
    emu.inject(b"\x55\x54\x3d\xff\xff\xff\xff", -100)  # sync then invalid 3-of-6
    emu.inject(t1_chips(OMS), -70)
    buf, mode, rssi = _rx(r)
    eq(phy.to_frame(buf, len(buf), mode)[0], OMS)
    eq(emu.stats["no_sync"], 1)
    eq(r.stats["bad_start"], 1)


def test_fifo_overflow_recovery():
    emu, r = _radio()

    async def slow_reader():
        # stall the event loop: the emulated FIFO overflows behind the driver's back
        emu.inject(t1_chips(OMS), -70)
        emu.clock.step = 20000  # 20 ms per transaction -> 250 bytes arrive
        task = asyncio.create_task(r.receive(phy.packet_len, 1, 200))
        while r.stats["overflows"] == 0:
            await asyncio.sleep_ms(1)
        emu.clock.step = 40
        emu.inject(t1_chips(OMS), -71)
        return await asyncio.wait_for(task, 5)

    buf, mode, rssi = asyncio.run(slow_reader())
    eq(r.stats["overflows"], 1)
    eq(emu.stats["overflows"], 1)
    eq(phy.to_frame(buf, len(buf), mode)[0], OMS)
    eq(rssi, -71)


def test_truncated_burst_times_out_and_recovers():
    emu, r = _radio()
    emu.inject(t1_chips(OMS)[:40], -70)
    emu.inject(t1_chips(OMS), -72)
    buf, mode, rssi = _rx(r)
    eq(r.stats["timeouts"], 1)
    eq(emu.stats["truncated"], 1)
    eq(rssi, -72)
    eq(phy.to_frame(buf, len(buf), mode)[0], OMS)


def test_random_bursts_never_break_the_driver():
    import os
    import random

    random.seed(5)
    emu, r = _radio()
    for i in range(40):
        junk = os.urandom(3 + i * 7 % 120)
        head = (b"\x55\x54\x3d", b"\x54\x3d\x54\xcd", b"\x54\x3d\x54\x3d", b"")[i % 4]
        emu.inject(head + junk, -100)
        if i % 8 == 7:  # let the driver chew through the queue (bounded: some are lost)
            emu.inject(t1_chips(OMS), -60 - i)
            for _ in range(10):  # junk that looks like a packet is delivered too (the
                buf, mode, rssi = _rx(r)  # frame CRCs reject it one layer up)
                try:
                    if phy.to_frame(buf, len(buf), mode)[0] == OMS:
                        break
                except WmbusError:
                    pass
            else:
                raise AssertionError("good telegram lost")
            eq(rssi, -60 - i)
    assert r.stats["bad_start"] + r.stats["timeouts"] + emu.stats["no_sync"] > 10
