"""RTC of the virtual board: host UTC clock plus an offset the gateway can set."""
import time


class Rtc:
    def __init__(self):
        self.offset_ms = 0

    def now_ms(self):
        return time.time_ns() // 1000000 + self.offset_ms

    def now(self):
        return self.now_ms() // 1000

    def set(self, seconds):
        self.offset_ms = int(seconds * 1000) - time.time_ns() // 1000000
