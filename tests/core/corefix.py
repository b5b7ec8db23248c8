# Helpers for the core's MicroPython tests: a fresh littlefs2 file system on a block-
# device file (as the unix board's /data), a fake clock, and a Core on top.
import os

import vfs
from hal.unix.blockdev import FileBlockDev
from mptest import tmpdir

_n = [0]


def fresh_fs(blocks=256, name=None):
    """Mount a new littlefs2 image; returns the mount point."""
    _n[0] += 1
    name = name or "core%d_%d" % (os.getpid() if hasattr(os, "getpid") else 0, _n[0])
    img = tmpdir() + "/" + name + ".lfs2"
    try:
        os.remove(img)
    except OSError:
        pass
    return mount(img, blocks, fresh=True)


def mount(img, blocks=256, fresh=False, mnt=None):
    bdev = FileBlockDev(img, 4096, blocks)
    if fresh:
        vfs.VfsLfs2.mkfs(bdev)
    mnt = mnt or "/m" + img.replace("/", "_").replace(".", "_")
    try:
        vfs.umount(mnt)
    except OSError:
        pass
    vfs.mount(vfs.VfsLfs2(bdev), mnt)
    return mnt


class Clock:
    def __init__(self, t=1767225600):
        self.t = t

    def __call__(self):
        return self.t


def core(mnt, clock, config=None):
    from core.core import Core

    config = dict(config or {})
    config.setdefault("core", {"tafs": ["TAF1", "TAF2", "TAF6", "TAF7"]})
    return Core(mnt + "/store", clock, config=config)
