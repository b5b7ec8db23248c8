"""GPIO pins of the virtual board: remember their level and report changes.

A listener (the LED/output model, diag) can subscribe to see every change; real boards
use machine.Pin through hal.mcu.gpio with the same `value()` interface.
"""


class Pin:
    _v = 0  # class defaults until a pin changes (RAM: ~12 pins on the board)
    on_change = None
    changes = 0

    def __init__(self, name, value=0, on_change=None):
        self.name = name
        if value:
            self._v = 1 if value else 0
        if on_change:
            self.on_change = on_change

    def value(self, v=None):
        if v is None:
            return self._v
        v = 1 if v else 0
        if v != self._v:
            self._v = v
            self.changes += 1
            if self.on_change:
                self.on_change(self.name, v)
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)
