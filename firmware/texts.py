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


def unload(name, wipe=False):
    """Drop the module `name` ("pkg.mod") loaded for one use, with its package's reference
    to it (the package attribute would keep it alive). Only for modules nothing else keeps
    a reference to (their objects are transient).

    wipe: also empty its globals, for a module that only its own user ever loads (the HAN
    request stack). MicroPython's collector is conservative: a stale word in the event
    loop's frame can keep a finished coroutine of the module alive for a while, and the
    coroutine's function keeps the module's globals, i.e. every class, function and
    import of it (seen: the ~16 KB HAN stack alive in a payload build after its release,
    docs/memory.md). Wiped, only the module object and that function stay until then."""
    import sys

    mod = sys.modules.pop(name, None)
    if mod is not None:
        if wipe:
            mod.__dict__.clear()
        pkg, _, sub = name.rpartition(".")
        try:
            delattr(sys.modules[pkg], sub)
        except (KeyError, AttributeError):
            pass
