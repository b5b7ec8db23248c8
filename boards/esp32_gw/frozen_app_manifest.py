# Frozen manifest for a MicroPython firmware for esp32_gw with the APPLICATION frozen in.
# Build (MicroPython >= 1.25 source tree, ESP-IDF environment loaded):
#   make -C ports/esp32 BOARD=ESP32_GENERIC_S3 \
#        FROZEN_MANIFEST=$GW/boards/esp32_gw/frozen_app_manifest.py
# Why: imported from the ROMFS image, each module leaves its qstrs (pool slots), its
# qstr and constant tables, its constants and the raw code of nested functions on the
# heap; frozen, all of that is in flash. `gwtool bench` (area heap32) puts that at about
# half of the application's import heap on 32 bit (heap32_frozen_over_romfs), which
# is what the 128 KiB heap of this board needs for the simulated day (docs/memory.md).
# The cost: the application is then updated as a whole firmware image. With no ROMFS
# image on the board, boot.py finds no /rom and the frozen application runs; an image
# deployed to the ROMFS partition (`gwtool deploy`) comes first on sys.path and runs
# instead, from ROMFS, with the heap cost above.
include("$(PORT_DIR)/boards/manifest.py")
freeze("../../frozen", ("boot.py", "main.py"))
include("manifest.py")  # the same modules as the ROMFS image: application, board, hal
