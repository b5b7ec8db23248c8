"""RAM helpers every layer shares, in the one small module that is always loaded (a
module of their own would cost a module object and its path qstrs; docs/memory.md):

- msg(): message tables. A module keeps its error and log texts in one "|"-separated
  string constant and looks them up by number, because each distinct string literal of
  >= 10 characters is a ~42-byte heap object while its module is loaded (x64).
- unload(): drops a module loaded for one use (WAN sessions, HAN request stack and
  pages, SML encoder, firewall self-test) so its objects leave the heap.
"""


def msg(table, i):
    """Message i (0-based) of a "|"-separated table (a trailing "|" is optional)."""
    p = 0
    while i:
        p = table.find("|", p) + 1
        i -= 1
    e = table.find("|", p)
    return table[p:] if e < 0 else table[p:e]


def unload(name):
    """Drop the module `name` ("pkg.mod") loaded for one use, with its package's reference
    to it (the package attribute would keep it alive). Only for modules nothing else keeps
    a reference to (their objects are transient)."""
    import sys

    if sys.modules.pop(name, None) is not None:
        pkg, _, sub = name.rpartition(".")
        try:
            delattr(sys.modules[pkg], sub)
        except (KeyError, AttributeError):
            pass
