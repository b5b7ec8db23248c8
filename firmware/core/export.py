"""Export of the core's lists as JSON lines (headless `gwtool sim`, README "Simulation
exports (schema)"): DIR/oml.jsonl, taf1/2/6/7.jsonl, logs/<name>.jsonl. Times are
ISO 8601 UTC strings ("2026-01-01T00:15:00Z"); `*_s` keys keep the UTC seconds."""
import gc
import json
import os

from taf.cal import civil_from_days


def iso(t):
    if t is None:
        return None
    t = int(t)
    y, m, d = civil_from_days(t // 86400)
    s = t % 86400
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, s // 3600, s // 60 % 60, s % 60)


def _row(d):
    o = dict(d)
    for k in ("capture_time", "target_time", "time"):
        if k in o:
            o[k + "_s"] = o[k]
            o[k] = iso(o[k])
    return o


def _mkdir(p):
    try:
        os.mkdir(p)
    except OSError:
        pass


def export(core, out):
    """Write every list to the directory `out`; returns {file: lines} (a file that ran
    out of memory is listed under "errors", the others are still written)."""
    _mkdir(out)
    _mkdir(out + "/logs")
    counts = {}
    errors = []
    core.store.cache = None
    gc.collect()
    try:
        with open(out + "/oml.jsonl", "w") as f:
            n = 0
            for (meter, obis), lst in core.oml.chans.items():
                for _, d in _oml_rows(core, meter, obis):
                    json.dump(_row(d), f)
                    f.write("\n")
                    n += 1
                gc.collect()
            counts["oml.jsonl"] = n
    except MemoryError:
        errors.append("oml.jsonl")
    for name in ("TAF1", "TAF2", "TAF6", "TAF7"):
        gc.collect()
        try:
            counts[name.lower() + ".jsonl"] = _taf(core, out, name)
        except MemoryError:
            errors.append(name.lower() + ".jsonl")
    for name, log in core.logs.items():
        gc.collect()
        try:
            n = 0
            with open(out + "/logs/" + name + ".jsonl", "w") as f:
                for e in log.entries():
                    json.dump(_row(e), f)
                    f.write("\n")
                    n += 1
            counts["logs/" + name + ".jsonl"] = n
        except MemoryError:
            errors.append("logs/" + name + ".jsonl")
    if errors:
        counts["errors"] = errors
    return counts


def _taf(core, out, name):
    fn = name.lower() + ".jsonl"
    lst = core.taf.lists.get(name)
    n = 0
    with open(out + "/" + fn, "w") as f:
        if lst is not None:
            for _, p in lst.records():
                json.dump(_row(json.loads(p)), f)
                f.write("\n")
                n += 1
        if name == "TAF2":  # the registers as they stand now (kind "current")
            st = core.taf.state("TAF2") or {}
            for key, c in st.items():
                meter, obis = key.rsplit(" ", 1)  # an OBIS code has no space
                last = core.oml.last(meter, obis) or {}  # scaler, unit, status (schema)
                for reg, v in sorted(c["registers"].items()):
                    json.dump(_row({
                        "meter": meter, "obis": obis, "capture_time": c["last_time"],
                        "target_time": c["last_time"], "raw": v,
                        "scaler": last.get("scaler", 0), "unit": last.get("unit"),
                        "status": last.get("status"), "register": reg,
                        "kind": "current", "first_raw": c["first_raw"],
                        "last_raw": c["last_raw"], "taf": "TAF2"}), f)
                    f.write("\n")
                    n += 1
    return n


def _oml_rows(core, meter, obis):
    from core.oml import unpack

    lst = core.oml.chans[(meter, obis)]
    for seq, p in lst.records():
        yield seq, unpack(meter, obis, p)
