# Frozen manifest for a custom MicroPython firmware for rp2040_gw (RP2040 + W5500).
# Build (MicroPython >= 1.25 source tree, pico-sdk submodules fetched):
#   make -C ports/rp2 BOARD=W5500_EVB_PICO \
#        FROZEN_MANIFEST=$GW/boards/rp2040_gw/frozen_manifest.py
# W5500_EVB_PICO enables network.WIZNET5K; any RP2040 board with 2 MiB+ flash works if
# the W5500 driver is enabled (MICROPY_PY_NETWORK_WIZNET5K=W5500). The port's frozen
# modules stay; this project adds boot.py and main.py (preferred over filesystem files).
# The application ships as the ROMFS image (`gwtool deploy`), not frozen.
include("$(PORT_DIR)/boards/manifest.py")
freeze("../../frozen", ("boot.py", "main.py"))
