"""Wireless M-Bus air simulator: meters that transmit 3-of-6/NRZ chip streams.

The virtual board's CC1101 model listens on its "radio" address; `Air` connects and sends
bursts `len(2, BE) ‖ rssi(1, signed dBm) ‖ chips` (see firmware/hal/unix/cc1101_emu.py).
Telegrams are built by the independent encoder gwtool.wmbus_encode (pycryptodome).
Impairments: `noise(chips, ber)` flips random bits, `truncate(chips, n)`, `collide(a, b,
at)` overlays a second transmission starting at byte `at` (the stronger one wins the
overlapped chips, the first is corrupted from there on). `replay_lines()` reads captured
telegrams, one hex telegram per line, as wmbusmeters ("telegram=|HEX|") and rtl-wmbus
("T1;1;1;2019-..;97;;;0x2e44...") print them, with or without data-link CRCs.
"""
import random
import socket
import struct
import time

from . import wmbus_encode as enc

# kind -> (device type, quantity, exponent, units per hour)
KINDS = {
    "water": (0x07, "volume", -3, 0.02),
    "warm_water": (0x06, "volume", -3, 0.01),
    "heat": (0x04, "energy", 3, 1.5),  # kWh steps
    "gas": (0x03, "volume", -2, 0.4),
    "electricity": (0x02, "energy", 0, 350.0),
    "hca": (0x08, None, 0, 0.5),
}


class Meter:
    def __init__(self, man, ident, kind, mode=0, key=None, interval=30.0, link="T1",
                 long_tpl=False, start_value=1000, version=0x01, rssi=-70):
        self.man, self.ident, self.kind = man, ident, kind
        self.dev_type, self.quantity, self.exponent, self.per_h = KINDS[kind]
        self.mode, self.key, self.interval, self.link = mode, key, interval, link
        self.long_tpl, self.version, self.rssi = long_tpl, version, rssi
        self.value = start_value
        self.acc = random.randrange(256)
        self.counter = random.randrange(1, 1 << 20)
        self.next_t = None
        self.t_last = None

    @property
    def meter_id(self):
        return f"{self.man}-{self.ident}"

    def raw_value(self, now):
        if self.t_last is not None:
            self.value += max(0.0, now - self.t_last) / 3600 * self.per_h
        self.t_last = now
        return int(self.value)

    def apl(self, now):
        raw = self.raw_value(now)
        if self.quantity is None:  # HCA: DIF 0B (BCD6) VIF 6E
            return b"\x0b\x6e" + bytes.fromhex(f"{raw:06d}")[::-1]
        recs = enc.record(self.quantity, raw, self.exponent, size=4)
        recs += enc.record(self.quantity, raw // 2, self.exponent, storage=1, size=4)
        t = time.gmtime(now)
        recs += enc.datetime_f(t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min)
        if self.kind == "heat":
            recs += enc.record("flow_temperature", 654, -1, size=2)
        return recs

    def frame(self, now):
        """Next link-layer frame (no CRCs); advances access number and counter."""
        self.acc = (self.acc + 1) & 0xFF
        self.counter += 1
        return enc.telegram(self.man, self.ident, self.version, self.dev_type, self.apl(now),
                            mode=self.mode, key=self.key, acc=self.acc,
                            long_tpl=self.long_tpl, counter=self.counter)

    def chips(self, now):
        f = self.frame(now)
        if self.link == "T1":
            return enc.air_t1(f)
        return enc.air_c1(f, "B" if self.link == "C1B" else "A")


def default_meters():
    """A small neighbourhood: several media, manufacturers, modes and link modes."""
    return [
        Meter("KAM", "12345678", "water", 5, bytes.fromhex("000102030405060708090A0B0C0D0E0F"),
              interval=20, link="T1"),
        Meter("ELS", "23456789", "gas", 7, bytes.fromhex("11223344556677889900AABBCCDDEEFF"),
              interval=30, link="C1A", long_tpl=True),
        Meter("DME", "34567890", "heat", 10, bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C"),
              interval=30, link="C1B"),
        Meter("EMH", "45678901", "electricity", 0, None, interval=15, link="T1"),
        Meter("QDS", "56789012", "hca", 5, bytes.fromhex("A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"),
              interval=60, link="T1"),
        Meter("ZRI", "99999999", "water", 0, None, interval=45, link="T1"),  # not provisioned
    ]


def keys_of(meters, skip_last=True):
    """Key store content for the provisioned meters ("" = unencrypted)."""
    ms = meters[:-1] if skip_last else meters
    return {m.meter_id: (m.key.hex() if m.key else "") for m in ms}


def noise(chips, ber, rng=random):
    b = bytearray(chips)
    for i in range(len(b) * 8):
        if rng.random() < ber:
            b[i // 8] ^= 0x80 >> (i % 8)
    return bytes(b)


def truncate(chips, n):
    return chips[:n]


def collide(a, b, at):
    """b starts `at` bytes into a: from there a's chips are garbled, b survives."""
    out = bytearray(a[:at])
    for i in range(at, len(a)):
        out.append(a[i] ^ b[i - at] if i - at < len(b) else a[i])
    out += b[max(0, len(a) - at):] if len(a) - at < len(b) else b""
    return bytes(out)


def replay_lines(lines):
    """Captured telegrams -> link-layer frames with format A CRCs (for T1 air)."""
    from .decode_wmbus import clean_hex

    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = bytes.fromhex(clean_hex(line))
        if len(f) == f[0] + 1:
            f = enc.add_crc_a(f)
        out.append(f)
    return out


def frame_chips(frame_with_crc):
    return enc.PREAMBLE_T + enc.SYNC + enc.three_of_six(frame_with_crc)


class Air:
    """A TCP client to the board's radio model."""

    def __init__(self, addr, timeout=10):
        host, port = addr.rsplit(":", 1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((host, int(port)), 1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sent = 0

    def send(self, chips, rssi=-70):
        self.sock.sendall(struct.pack(">HB", len(chips), rssi & 0xFF) + chips)
        self.sent += 1

    def close(self):
        self.sock.close()
