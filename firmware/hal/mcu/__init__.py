"""ESP32/RP2040 implementations of the hal interfaces on top of `machine`."""
