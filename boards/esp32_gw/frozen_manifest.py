# Frozen manifest for a custom MicroPython firmware for esp32_gw (ESP32-S3).
# Build (MicroPython >= 1.25 source tree, ESP-IDF environment loaded):
#   make -C ports/esp32 BOARD=ESP32_GENERIC_S3 \
#        FROZEN_MANIFEST=$GW/boards/esp32_gw/frozen_manifest.py
# The port's own frozen modules (_boot.py, flashbdev, inisetup, asyncio, ...) stay; this
# project adds its boot.py and main.py, which MicroPython prefers over files of the same
# name on the filesystem. The application itself is NOT frozen: it ships as the ROMFS
# image (`gwtool deploy`), so it can be updated without reflashing MicroPython.
include("$(PORT_DIR)/boards/manifest.py")
freeze("../../frozen", ("boot.py", "main.py"))
