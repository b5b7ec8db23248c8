"""TAF module files (taf/engine.py "Module files"): read, verify, execute, check the
declared interface. Loaded on first use."""
from taf.engine import TafError, _Mod


def load_source(src, origin="<file>", verify=None):
    if verify is not None:
        verify(src)
    ns = {"__name__": origin, "TafError": TafError}  # modules raise TafError per field
    try:
        exec(src, ns)
    except Exception as e:  # noqa: BLE001 - any error in a module file refuses it
        raise TafError("%s: %s: %s" % (origin, type(e).__name__, e))
    mod = _Mod(ns, origin)
    # what the engine relies on, beyond _Mod's presence checks (built-ins are trusted):
    # the name is a list directory "taf-<name>" (letters, digits, "_": no "../"), the
    # inputs are OBIS prefixes, the capacity a record count, the default a profile
    bad = None
    for ch in mod.NAME:
        if not (ch.isalpha() or ch.isdigit() or ch == "_"):
            bad = "NAME"
    if not all(isinstance(p, str) for p in mod.INPUTS):
        bad = "INPUTS"
    if not isinstance(mod.CAPACITY, int) or mod.CAPACITY < 1:
        bad = "CAPACITY"
    if not isinstance(mod.DEFAULT, dict):
        bad = "DEFAULT"
    if bad:
        raise TafError("%s: %s missing or invalid" % (origin, bad))
    return mod


def load_file(path, verify=None):
    with open(path) as f:
        return load_source(f.read(), path, verify)
