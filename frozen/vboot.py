# vboot: the unix board's stand-in for the ROMFS partition and the flash filesystem.
# GW_VBOARD names a JSON file written by `gwtool vboard`: the ROMFS image path, the
# littlefs2 flash image path and block count, and the emulated peripherals' endpoints.
# The image is read into one heap block (on a device it is memory-mapped flash); the
# vboard adds its size to -X heapsize so the application still sees the board's budget.
import os
import sys
import json
import vfs

CONFIG = None


def mount():
    global CONFIG
    with open(os.getenv("GW_VBOARD")) as f:
        CONFIG = json.load(f)
    with open(CONFIG["romfs"], "rb") as f:
        img = f.read()
    vfs.mount(vfs.VfsRom(img), "/rom")
    sys.path.insert(0, "/rom")
    from hal.unix.blockdev import FileBlockDev

    bdev = FileBlockDev(CONFIG["flash"], CONFIG.get("flash_block_size", 4096),
                        CONFIG["flash_blocks"])
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    vfs.mount(fs, "/data")
