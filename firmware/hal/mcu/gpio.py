"""GPIO on ESP32/RP2040: a named machine.Pin with the hal pin interface."""
from machine import Pin as _Pin


class Pin:
    def __init__(self, name, gpio, value=0, on_change=None):
        self.name = name
        self.p = _Pin(gpio, _Pin.OUT, value=value)
        self.on_change = on_change
        self.changes = 0

    def value(self, v=None):
        if v is None:
            return self.p.value()
        v = 1 if v else 0
        if v != self.p.value():
            self.p.value(v)
            self.changes += 1
            if self.on_change:
                self.on_change(self.name, v)
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)
