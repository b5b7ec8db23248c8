"""Board: esp32_gw, reference hardware (see README.md beside this file).

ESP32-S3 (xtensawin, 512 KiB SRAM; the application gets a 128 KiB MicroPython heap budget,
the rest goes to mbedTLS, Wi-Fi-less networking and the ROMFS-in-flash image).
"""
NAME = "esp32_gw"
ARCH = "xtensawin"
HEAP_BYTES = 131072
# gc.threshold: collect every GC_THRESHOLD bytes allocated (see boards/unix/board.py)
GC_THRESHOLD = 8192  # the unix board's 16 KiB in 32-bit objects
DATA_DIR = "/data"
WAN_VARIANT = "M"  # -M: LTE Cat-1 modem; build esp32_gw with WAN_VARIANT = "E" for W5500

PINS = {
    "RS485_UART": 1, "RS485_TX": 17, "RS485_RX": 18, "RS485_DE": 8,
    "RADIO_SPI": 2, "RADIO_SCK": 12, "RADIO_MOSI": 11, "RADIO_MISO": 13, "RADIO_CS": 10,
    "RADIO_GDO0": 9, "RADIO_GDO2": 14,
    "I2C_SDA": 4, "I2C_SCL": 5,  # ATECC608B @0x60, RV-3028-C7 RTC @0x52
    "LED_PWR": 38, "LED_TLS": 39, "LED_LMC": 40, "LED_WMT": 41, "LED_RSSI": 42,
    "OUT1": 45, "OUT2": 46, "OUT3": 47, "RELAY_SET": 48, "RELAY_RESET": 21,
    "MODEM_UART": 2, "MODEM_TX": 43, "MODEM_RX": 44, "MODEM_PWRKEY": 2, "MODEM_RESET": 1,
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
    if WAN_VARIANT == "M":  # LTE Cat-1 module: UART2, PWRKEY and RESET via transistors
        hal.modem_uart = McuUart(p["MODEM_UART"], 115200, p["MODEM_TX"], p["MODEM_RX"], 2048)
        hal.modem_pwrkey = Pin("MODEM_PWRKEY", p["MODEM_PWRKEY"])
        hal.modem_reset = Pin("MODEM_RESET", p["MODEM_RESET"])
    try:
        from machine import WDT

        hal.watchdog = WDT(timeout=30000)
    except ImportError:
        pass
    return hal
