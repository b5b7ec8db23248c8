# Receive path below the application layer, edge cases: CC1101 model (bursts, RSSI, GDO0,
# errata), driver FIFO service, receiver dedup and key lookup. Each test failed before
# the fix it guards.
# heapsize: 1M
import asyncio
import json

from drivers.cc1101 import CC1101
from hal.unix.cc1101_emu import Cc1101Emu
from hotalloc import StepClock
from mp_test_receiver import Ctx
from mptest import eq, tmpdir, vectors
from refimpl import with_crc_a
from wmbus import phy, three_of_six
from wmbus.keys import KeyStore
from wmbus.receiver import Receiver

VEC = vectors("wmbus_telegrams.jsonl")
OMS = bytes.fromhex(VEC[20]["hex"])  # frame A with CRCs, ELS-12345678, security mode 5


def _frame_a(l_field, fill):
    """A format A frame with CRCs, L = l_field, data bytes `fill`."""
    plain = bytearray([fill] * (l_field + 1))
    plain[0] = l_field
    return with_crc_a(plain)


def _t1(frame, preamble=2):
    return b"\x55" * preamble + b"\x54\x3d" + three_of_six.encode(frame)


def _radio(step=40):
    emu = Cc1101Emu(None, 12500, StepClock(step))
    r = CC1101(emu.spi, emu.cs, emu.gdo0, emu.gdo2)
    r.reset("T1C1")
    return emu, r


def _rx(r, timeout=1):
    buf, mode, rssi = asyncio.run(asyncio.wait_for(r.receive(phy.packet_len, 1, 200), timeout))
    return bytes(phy.to_frame(buf, len(buf), mode)[0]), rssi


def test_back_to_back_telegrams_in_one_burst():
    # two meters' telegrams in one burst, the second after a standard T1 preamble (>= 19
    # chip pairs): the chip is IDLE after the first packet, the driver restarts RX and
    # the second is synced on. The model dropped the rest of the burst.
    a, b = _frame_a(29, 0x11), _frame_a(39, 0x22)
    emu, r = _radio()
    emu.inject(_t1(a) + _t1(b, 8), -70)
    eq(_rx(r), (a, -70))
    eq(_rx(r), (b, -70))
    eq(emu.stats["bursts"], 1)


def test_telegram_after_a_false_sync_in_the_same_burst():
    # noise that contains the sync word (a bad first symbol: the driver restarts RX), then
    # a telegram still in the same transmission
    a = _frame_a(20, 0x33)
    emu, r = _radio()
    emu.inject(b"\x54\x3d\xff\xff\xff" + b"\x00" * 8 + _t1(a, 8), -80)
    eq(_rx(r), (a, -80))
    eq(r.stats["bad_start"], 1)


def test_signal_lost_before_the_length_times_out():
    # sync, then the transmission ends 1..3 bytes in (the length never comes): the driver
    # waited for a 4th byte forever - the radio was deaf from then on
    a = _frame_a(30, 0x66)
    emu, r = _radio()
    for k in (1, 2, 3):
        emu.inject(_t1(a)[:4 + k], -90)
        emu.inject(_t1(a), -70)
        eq(_rx(r, 3), (a, -70))
        eq(r.stats["timeouts"], k)
    eq(emu.stats["truncated"], 3)


def test_rssi_register_saturates():
    # RSSI register = signed byte (dBm + 74) * 2: a meter next to the antenna (-5 dBm) read
    # -133 dBm (wrapped), a very weak one above -138 dBm
    a = _frame_a(9, 0x44)
    emu, r = _radio()
    for dbm, want in ((-5, -11), (-10, -11), (-11, -11), (-138, -138), (-140, -138)):
        emu.inject(_t1(a), dbm)
        eq(_rx(r)[1], want, dbm)


def test_first_read_never_empties_the_fifo_while_receiving():
    # errata SWRZ020: the last byte of the RX FIFO is not read while a packet arrives; the
    # first read took exactly 3 bytes when 3 were there (fast SPI: every packet)
    emu, r = _radio(20)  # (the clock steps per SPI transaction: 4 polls per chip byte)
    for n in (9, 30, 60):
        a = _frame_a(n, n)
        emu.inject(_t1(a), -70)
        eq(_rx(r, 10)[0], a)
    eq(emu.stats["drained"], 0)


def test_gdo0_asserts_at_the_rx_fifo_threshold():
    # IOCFG0 0x00 + FIFOTHR 7: RX FIFO at or above 32 bytes (33 is the TX threshold)
    emu, r = _radio(40)
    emu.inject(_t1(_frame_a(100, 0x55)), -70)
    while emu.flen < 31:  # time passes per SPI transaction (StepClock)
        r.read_status(0x3B)
    while emu.flen < 32:
        eq(emu.gdo0.value(), 0)
        r.read_status(0x3B)
    eq(emu.flen, 32)
    eq(emu.gdo0.value(), 1)


class _Ctx(Ctx):  # mp_test_receiver's, with the logs as (event, message)
    def log(self, level, event, msg, detail=None):
        self.logs.append((event, msg))


def _rx_with(keys):
    p = tmpdir() + "/edges_keys.json"
    with open(p, "w") as f:
        json.dump(keys, f)
    ctx = _Ctx()
    return ctx, Receiver(ctx, KeyStore(p))


def test_telegram_without_access_number_or_counter_is_not_a_replay():
    # CI 0x78 (no TPL header) without ELL: no access number, no counter. Every telegram
    # after the first was dropped as "replayed" (None == None); now a repeat is the same
    # telegram and a new one differs.
    ctx, rx = _rx_with({"GSS-18046178": ""})
    f = bytearray(bytes.fromhex(VEC[13]["hex"]))  # Gran101, single phase, unencrypted
    n = rx.handle(bytes(f), "none")
    assert n > 0
    eq(rx.handle(bytes(f), "none"), 0)  # the same telegram again (a repeater)
    eq(rx.stats["replayed"], 1)
    i = bytes(f).find(b"\x04\x03\x94\x03")  # total energy 0x394 Wh
    f[i + 2] = 0x95  # the next telegram: 0x395 Wh
    eq(rx.handle(bytes(f), "none"), n)
    eq(rx.stats["replayed"], 1)
    assert ("GSS-18046178", "1-0:1.8.0*255", 0x395) in [r[:3] for r in ctx.readings], ctx.readings


def test_listed_meter_without_key_sending_encrypted_is_not_unknown():
    # a meter listed as unencrypted ("") that now sends encrypted: a key problem of a
    # known meter (decrypt failure, logged with its id), not an "unknown meter"
    ctx, rx = _rx_with({"ELS-12345678": ""})
    eq(rx.handle(OMS, "A"), 0)
    eq(rx.handle(OMS, "A"), 0)
    eq(rx.unknown, {})
    eq(rx.stats["unknown"], 0)
    eq(rx.fail, {"ELS-12345678": 2})
    eq(rx.stats["decrypt_failed"], 2)
    eq([e for e, m in ctx.logs], ["wmbus.decrypt"])
    assert "ELS-12345678" in ctx.logs[0][1]
