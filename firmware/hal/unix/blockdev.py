"""A block device over a flash image file, for littlefs2 (extended block protocol).

Writes go straight to the file (no cache) so that killing the process at any moment
leaves exactly what a power cut would leave on a NOR flash: every completed write.
"""
import os

_IOCTL_BLOCK_COUNT = const(4)
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_BLOCK_ERASE = const(6)


class FileBlockDev:
    def __init__(self, path, block_size, block_count):
        self.block_size = block_size
        self.block_count = block_count
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
        self.f.seek(n * self.block_size + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        if off is None:
            off = 0
        self.f.seek(n * self.block_size + off)
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.block_count
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_BLOCK_ERASE:
            return 0
        return None
