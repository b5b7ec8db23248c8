"""Message tables: a module keeps its error and log texts in one "|"-separated string
constant and looks them up by number, because each distinct string literal of >= 10
characters is a ~42-byte heap object while its module is loaded (x64; docs/memory.md).
Used by the decoders of both meter paths (lmn.hdlc, lmn.sml, wmbus.*)."""


def msg(table, i):
    """Message i (0-based) of a "|"-separated table (a trailing "|" is optional)."""
    p = 0
    while i:
        p = table.find("|", p) + 1
        i -= 1
    e = table.find("|", p)
    return table[p:] if e < 0 else table[p:e]
