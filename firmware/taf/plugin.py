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
    return _Mod(ns, origin)


def load_file(path, verify=None):
    with open(path) as f:
        return load_source(f.read(), path, verify)
