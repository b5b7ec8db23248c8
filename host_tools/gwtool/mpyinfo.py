"""Read the raw-code tree of a .mpy v6 file: which functions are bytecode, native, viper.

Used by the build to prove that every `@micropython.viper` function really compiled to
machine code for the board's architecture (mpy-cross would otherwise be free to fail a
board silently in the future). Format: py/persistentcode.c of MicroPython 1.2x.
"""
from pathlib import Path

KIND_NAMES = {2: "bytecode", 3: "native", 4: "viper", 5: "asm"}
ARCH_NAMES = {0: None, 1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m",
              6: "armv7em", 7: "armv7emsp", 8: "armv7emdp", 9: "xtensa", 10: "xtensawin",
              11: "rv32imc", 12: "rv64imc"}
_VIPERRELOC, _VIPERRODATA, _VIPERBSS = 0x10, 0x20, 0x40


class MpyFormatError(Exception):
    pass


class _Reader:
    def __init__(self, data):
        self.d = data
        self.i = 0

    def byte(self):
        if self.i >= len(self.d):
            raise MpyFormatError("truncated .mpy")
        b = self.d[self.i]
        self.i += 1
        return b

    def bytes(self, n):
        if self.i + n > len(self.d):
            raise MpyFormatError("truncated .mpy")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def uint(self):
        v = 0
        while True:
            b = self.byte()
            v = (v << 7) | (b & 0x7F)
            if not b & 0x80:
                return v


def _qstr(r):
    ln = r.uint()
    if ln & 1:
        return None
    s = r.bytes(ln >> 1).decode()
    r.byte()
    return s


def _obj(r, sizes=None):
    t = r.byte()
    if t <= 4:
        return
    if t == 10:
        for _ in range(r.uint()):
            _obj(r, sizes)
        return
    ln = r.uint()
    r.bytes(ln)
    if t in (5, 6):
        r.byte()
        if sizes is not None:  # a str or bytes constant: its text, with the NUL
            sizes.append(ln + 1)


def _raw_code(r, out, sizes=None, top=False):
    kind_len = r.uint()
    kind = (kind_len & 3) + 2
    has_children = (kind_len >> 2) & 1
    r.bytes(kind_len >> 3)
    out.append(KIND_NAMES[kind])
    if kind == 2 and sizes is not None and not top:  # the module's own code is garbage
        sizes.append(kind_len >> 3)  # once the import has run it
    if kind == 3:
        r.uint()
    elif kind in (4, 5):
        flags = r.uint()
        if kind == 4:
            rodata = r.uint() if flags & _VIPERRODATA else 0
            if flags & _VIPERBSS:
                r.uint()
            if rodata:
                r.bytes(rodata)
            if flags & _VIPERRELOC:
                while True:
                    op = r.byte()
                    if op == 0xFF:
                        break
                    if op & 1:
                        r.uint()
                    op >>= 1
                    if op <= 5 and op & 1:
                        r.uint()
        else:
            r.uint()
            r.uint()
    if has_children:
        for _ in range(r.uint()):
            _raw_code(r, out, sizes)


def inspect(path_or_bytes):
    """Return {"arch": name|None, "kinds": {"bytecode": n, "viper": n, ...}, "ram_only":
    [bytes, ...]}. ram_only: the byte data that loading the file from RAM puts on the heap
    and loading it from a ROMFS image leaves in the image, one entry per allocation (each
    bytecode function's code but the module's own, each str or bytes constant's text); qstr
    text is not in it."""
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray)) else Path(
        path_or_bytes).read_bytes()
    r = _Reader(data)
    hdr = r.bytes(4)
    if hdr[0] != ord("M") or hdr[1] != 6:
        raise MpyFormatError("not a .mpy v6 file")
    arch = ARCH_NAMES.get(hdr[2] >> 2, "unknown")
    n_qstr, n_obj = r.uint(), r.uint()
    for _ in range(n_qstr):
        _qstr(r)
    sizes = []
    for _ in range(n_obj):
        _obj(r, sizes)
    kinds = []
    _raw_code(r, kinds, sizes, top=True)
    if r.i != len(data):
        raise MpyFormatError(f"{len(data) - r.i} trailing bytes after raw code")
    counts = {}
    for k in kinds:
        counts[k] = counts.get(k, 0) + 1
    return {"arch": arch, "kinds": counts, "ram_only": sizes}
