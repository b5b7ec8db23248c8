"""Board: rp2040_gw, reference hardware (see README.md beside this file).

RP2040 (armv6m, 264 KiB SRAM; 192 KiB MicroPython heap budget), W5500 Ethernet (-E).
"""
NAME = "rp2040_gw"
ARCH = "armv6m"
HEAP_BYTES = 196608
# gc.threshold: collect every GC_THRESHOLD bytes allocated (see boards/unix/board.py)
GC_THRESHOLD = 8192  # the unix board's 16 KiB in 32-bit objects
DATA_DIR = "/data"
WAN_VARIANT = "E"  # -E: WIZnet W5500 on SPI0

PINS = {
    "RS485_UART": 0, "RS485_TX": 0, "RS485_RX": 1, "RS485_DE": 2,
    "RADIO_SPI": 1, "RADIO_SCK": 10, "RADIO_MOSI": 11, "RADIO_MISO": 12, "RADIO_CS": 13,
    "RADIO_GDO0": 14, "RADIO_GDO2": 15,
    "I2C_SDA": 26, "I2C_SCL": 27,  # ATECC608B @0x60, RV-3028-C7 RTC @0x52
    "LED_PWR": 3, "LED_TLS": 4, "LED_LMC": 5, "LED_WMT": 6, "LED_RSSI": 7,
    "OUT1": 8, "OUT2": 9, "OUT3": 28, "RELAY_SET": 22, "RELAY_RESET": 21,
    "ETH_SPI": 0, "ETH_SCK": 18, "ETH_MOSI": 19, "ETH_MISO": 16, "ETH_CS": 17, "ETH_RST": 20,
}


def make_hal():
    from hal import Hal
    from hal.mcu.gpio import Pin
    from hal.mcu.rtc import Rtc
    from hal.mcu.uart import McuUart
    from hal.mcu.net import McuNet
    from hal.mcu import console
    from drivers.rs485 import Rs485

    p = PINS
    hal = Hal(rtc=Rtc(), net=McuNet(), console=console.streams())
    hal.leds = {n: Pin(n, p["LED_" + n]) for n in ("PWR", "TLS", "LMC", "WMT", "RSSI")}
    hal.outputs = {n: Pin(n, p[n]) for n in ("OUT1", "OUT2", "OUT3", "RELAY_SET", "RELAY_RESET")}
    uart = McuUart(p["RS485_UART"], 921600, p["RS485_TX"], p["RS485_RX"], 4096)
    hal.rs485 = Rs485(uart, Pin("RS485_DE", p["RS485_DE"]), 921600)
    if WAN_VARIANT == "E":  # WIZnet W5500 on SPI0 (network.WIZNET5K)
        try:
            from machine import SPI, Pin as MPin
            from drivers.eth import w5500

            spi = SPI(p["ETH_SPI"], 20000000, sck=MPin(p["ETH_SCK"]), mosi=MPin(p["ETH_MOSI"]),
                      miso=MPin(p["ETH_MISO"]))
            hal.eth = w5500(spi, MPin(p["ETH_CS"], MPin.OUT), MPin(p["ETH_RST"], MPin.OUT))
        except (ImportError, AttributeError, OSError):
            hal.eth = None  # firmware without WIZNET5K: the link reports "no Ethernet"
    try:
        from machine import WDT

        hal.watchdog = WDT(timeout=8000)
    except ImportError:
        pass
    return hal
