"""RTC on ESP32/RP2040: machine.RTC kept in UTC; epoch handled by time.time()."""
import time
from machine import RTC


class Rtc:
    def __init__(self):
        self.r = RTC()

    def now(self):
        return time.time()

    def now_ms(self):
        return time.time() * 1000 + time.ticks_ms() % 1000

    def set(self, seconds):
        t = time.gmtime(int(seconds))
        self.r.datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))
