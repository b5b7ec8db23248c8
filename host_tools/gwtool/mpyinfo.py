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


def _obj(r, sizes=None, kept=None):
    t = r.byte()
    if t <= 4:
        return
    if t == 10:
        n = r.uint()
        if kept is not None:
            kept.append((2 + n, 0))  # a tuple: type, length, items
        for _ in range(n):
            _obj(r, sizes, kept)
        return
    ln = r.uint()
    text = r.bytes(ln)
    if t in (5, 6):
        r.byte()
        if sizes is not None:  # a str or bytes constant: its text, with the NUL
            sizes.append(ln + 1)
    if kept is not None:
        if t in (5, 6):  # str, bytes: type, hash, length, data (the data in the image)
            kept.append((4, 0))
        elif t == 7:  # an int: none if it is a small int on the port (INT entry: its bit
            try:  # length; kept_bytes decides)
                kept.append(("int", int(text, 0).bit_length()))
            except ValueError:
                raise MpyFormatError(f"int constant {text!r}") from None
        else:  # float (type, value), complex
            kept.append((2 if t == 8 else 3, 0))


def _class_body(code):
    """True if this bytecode is a class body: after the prelude (py/bc.h) it starts with
    LOAD_NAME __name__, STORE_NAME __module__ (0x11, 0x16 with a qstr operand each), which
    no function and no module body does."""
    try:
        return _starts_class_body(code)
    except IndexError:
        raise MpyFormatError("truncated bytecode") from None


def _starts_class_body(code):
    i = 0
    while code[i] & 0x80:  # the signature
        i += 1
    i += 1
    n_info = n_cell = n = 0
    while True:  # the sizes: xIIIIIIC
        z = code[i]
        i += 1
        n_cell |= (z & 1) << n
        n_info |= ((z & 0x7E) >> 1) << (6 * n)
        n += 1
        if not z & 0x80:
            break
    i += n_info + n_cell
    if i >= len(code) or code[i] != 0x11:
        return False
    i += 1
    while code[i] & 0x80:
        i += 1
    return code[i + 1] == 0x16


def _raw_code(r, out, sizes=None, top=False, kept=None, alive=False):
    """alive: this raw code sits in a child table that outlives the import."""
    kind_len = r.uint()
    kind = (kind_len & 3) + 2
    has_children = (kind_len >> 2) & 1
    code = r.bytes(kind_len >> 3)
    out.append(KIND_NAMES[kind])
    if kind == 2 and sizes is not None and not top:  # the module's own code is garbage
        sizes.append(kind_len >> 3)  # once the import has run it
    body = top or (kind == 2 and _class_body(code))
    if kept is not None and alive:
        kept.append((4, 0))  # mp_raw_code_t: 4 words on x64 and on a 32-bit board
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
        n = r.uint()
        # a child table lives as long as its raw code (kept in a live table) or its
        # function object (a def, method or lambda made at import): only the bodies of
        # the module and of its classes run once and leave theirs behind
        live = alive or not body
        if kept is not None and live:
            kept.append((n, 0))
        for _ in range(n):
            _raw_code(r, out, sizes, kept=kept, alive=live)


def heap_bytes(n, word):
    """n bytes as the heap allocates them: whole GC blocks of 4 words (word: 8 on x64, 4
    on a 32-bit board)."""
    block = 4 * word
    return -(-n // block) * block


def kept_bytes(kept, word):
    """The heap of romfs_kept entries with a word size (8: x64, 4: a 32-bit board) in
    GC blocks of 4 words ((words, bytes) each, or ("int", bits): a constant int, which is
    an object only where it is too big for a small int)."""
    n = 0
    for w, b in kept:
        if w == "int":  # small ints are immediate (2 tag bits, one sign bit)
            if b < 8 * word - 2:
                continue
            n += heap_bytes(3 * word, word) + heap_bytes(b // 16 * 2 + 2, word)  # object;
        else:  # its 16-bit digits
            n += heap_bytes(w * word + b, word)
    return n


def inspect(path_or_bytes):
    """Return {"arch": name|None, "kinds": {"bytecode": n, "viper": n, ...}, "ram_only":
    [bytes, ...]}. ram_only: the byte data that loading the file from RAM puts on the heap
    and loading it from a ROMFS image leaves in the image, one entry per allocation (each
    bytecode function's code but the module's own, each str or bytes constant's text); qstr
    text is not in it. romfs_kept: one entry per allocation that importing the file from a
    ROMFS image keeps on the heap after the import and that a module frozen into the
    firmware keeps in flash: the module's qstr and constant tables, its constant objects,
    and the raw code and child table of every function whose parent outlives the import
    (kept_bytes() sizes them; the qstrs' pool slots are not in it)."""
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
    kept = [(0, 2 * n_qstr)] + ([(n_obj, 0)] if n_obj else [])  # the module's qstr and
    for _ in range(n_obj):  # constant tables (qstr_short_t: 2 bytes; one word per object)
        _obj(r, sizes, kept)
    kinds = []
    _raw_code(r, kinds, sizes, top=True, kept=kept)
    if r.i != len(data):
        raise MpyFormatError(f"{len(data) - r.i} trailing bytes after raw code")
    counts = {}
    for k in kinds:
        counts[k] = counts.get(k, 0) + 1
    return {"arch": arch, "kinds": counts, "ram_only": sizes, "romfs_kept": kept}
