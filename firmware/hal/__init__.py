"""Hardware abstraction: the driver interfaces the application uses.

The application never imports `machine`. A board module (`board.py`, one per board)
builds a `Hal` holding objects that satisfy these interfaces; `hal.unix` implements them
on the virtual board (pty, socket, file backed), `hal.mcu` on ESP32/RP2040 via `machine`.

Interfaces (duck-typed; the unix and mcu classes are the reference):
- stream (UART): read/readinto/write/ioctl as a MicroPython stream, so `asyncio.StreamReader`
  works on it; `set_baudrate(b)`. RS485 direction control lives in drivers.rs485.
- pin: `value([v])` for LEDs, outputs, DE/RE and chip selects.
- spi: `write(buf)`, `readinto(buf, write_byte)`, `write_readinto(out, in)`; chip select
  is a pin the driver toggles.
- i2c: `writeto(addr, buf)`, `readfrom_into(addr, buf)` (secure element).
- rtc: `now()` UTC seconds (int), `now_ms()`, `set(seconds)`.
- blockdev: littlefs2 extended block protocol (readblocks/writeblocks/ioctl with offset).
- net: `socket(...)`, `getaddrinfo(...)`, `link` (WAN link object, issue on WAN link).
- watchdog: `feed()`.
"""


class Hal:
    """Bag of the board's hardware objects; absent parts are None."""

    # absent parts: class defaults (None), only what a board sets is per instance
    rs485 = None  # drivers.rs485.Rs485 (stream with DE/RE control)
    sml_uart = None  # optional optical/SML push UART
    radio_spi = None  # SPI bus + CS for the sub-GHz radio
    radio = None  # radio driver (drivers.cc1101.CC1101) built by the board
    se = None  # secure element / security module
    rtc = None
    net = None
    modem_uart = None
    watchdog = None
    console = None  # (reader stream, writer stream) for the REPL task
    trace = None  # optional file-like for a human-readable trace (virtual board)

    def __init__(self, **parts):
        self.leds = {}  # name -> pin: PWR, TLS, LMC, WMT, RSSI
        self.outputs = {}  # name -> pin: OUT1..OUT3, RELAY (bistable: set/reset pins)
        self.endpoints = {}  # virtual board: what it listens on (radio, han, cls ...)
        for k, v in parts.items():
            setattr(self, k, v)
