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
SLOT = None  # which image runs: "factory" (the built image) or A/B slot "a" / "b"
FW = "/data/fw"


def mount():
    global CONFIG
    with open(os.getenv("GW_VBOARD")) as f:
        CONFIG = json.load(f)
    # the data partition is mounted first (it holds the A/B slots), so the block device
    # comes from the boot loader itself, not from the application image
    bdev = _BlockDev(CONFIG["flash"], CONFIG.get("flash_block_size", 4096),
                     CONFIG["flash_blocks"])
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    vfs.mount(fs, "/data")
    with open(select(), "rb") as f:
        img = f.read()
    vfs.mount(vfs.VfsRom(img), "/rom")
    sys.path.insert(0, "/rom")
    # this file is compiled into the heap (no ROMFS for the boot loader on the unix port):
    # drop the boot-only code once it ran; CONFIG, SLOT and the block device stay (~1.5 KB)
    g = globals()
    for n in ("mount", "select", "_save"):
        g.pop(n, None)


class _BlockDev:
    """littlefs2 extended block protocol over the flash image file (same behaviour as
    hal/unix/blockdev.py: every write goes straight to the file, like NOR flash)."""

    def __init__(self, path, block_size, block_count):
        self.bs = block_size
        self.n = block_count
        try:
            size = os.stat(path)[6]
        except OSError:
            size = -1
        if size != block_size * block_count:
            with open(path, "wb") as f:
                blank = b"\xff" * block_size
                for _ in range(block_count):
                    f.write(blank)
        self.f = open(path, "r+b")

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * self.bs + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        self.f.seek(n * self.bs + (off or 0))
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            return 0
        return None


def _save(st):
    with open(FW + "/boot.json.tmp", "w") as f:
        json.dump(st, f)
    os.rename(FW + "/boot.json.tmp", FW + "/boot.json")


def select():
    """A/B slot selection with trial boot and rollback (firmware update, wan.update).

    /data/fw/boot.json: {"active": "factory"|"a"|"b", "trial": slot|None,
    "trial_boots": n, ...}. A trial slot boots once; if it is still unconfirmed at the
    next boot (the new firmware did not confirm its health), roll back to "active".
    """
    global SLOT
    try:
        with open(FW + "/boot.json") as f:
            st = json.load(f)
    except (OSError, ValueError):
        st = {}
    trial = st.get("trial")
    if trial:
        if st.get("trial_boots", 0) >= 1:
            st["trial"] = None
            st["rolled_back"] = trial
            _save(st)
        else:
            st["trial_boots"] = 1
            _save(st)
            SLOT = trial
            return FW + "/" + trial + ".romfs"
    act = st.get("active")
    if act in ("a", "b"):
        try:
            os.stat(FW + "/" + act + ".romfs")
            SLOT = act
            return FW + "/" + act + ".romfs"
        except OSError:
            pass
    SLOT = "factory"
    return CONFIG["romfs"]
