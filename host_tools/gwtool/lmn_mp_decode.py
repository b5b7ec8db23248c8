# MicroPython side of `gwtool decode sml|hdlc`: runs in the unix port with firmware/ on
# the path, reads hex on stdin, prints one JSON document. Never a traceback: every
# exception becomes an error entry (exit status 2 when nothing was decodable).
import binascii
import json
import sys


def hx(b):
    return binascii.hexlify(b).decode()


def jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return hx(v)
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def wire_offset(buf, s, p):
    """The offset in buf of byte p of the unescaped payload of the frame starting at s:
    the payload starts after the 8-byte start sequence, and each escaped escape (8 bytes
    on a 4-byte boundary) is 4 bytes of payload."""
    esc = b"\x1b\x1b\x1b\x1b"
    i, q = s + 8, 0
    while q + 4 <= p and i + 8 <= len(buf):
        i += 8 if buf[i:i + 4] == esc and buf[i + 4:i + 8] == esc else 4
        q += 4
    return i + (p - q)


def decode_sml(buf):
    from lmn import sml

    files, values, errors = [], [], []
    pos = 0
    while pos < len(buf):
        try:
            r = sml.frame(buf, pos)
        except sml.SmlError as e:
            errors.append({"offset": e.offset, "reason": e.reason})
            pos = max(pos, e.offset) + 1
            continue
        if r is None:
            rest = buf.find(b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01", pos)
            if rest >= 0:
                errors.append({"offset": rest, "reason": "incomplete frame"})
            break
        s, end, payload, kind = r
        f = {"offset": s, "length": end - s, "crc_ok": kind is not None, "crc": kind,
             "messages": []}
        try:
            msgs = sml.messages(payload, kind is not None and kind.startswith("kermit"))
            for m in msgs:
                d = {"body": m["body"], "tag": m["tag"], "crc_ok": m["crc_ok"],
                     "transaction_id": jsonable(m["transaction_id"]),
                     "group": m["group"], "abort_on_error": m["abort_on_error"]}
                for k, v in m["fields"].items():
                    if k != "val_list" and k != "period_list":
                        d[k] = jsonable(v)
                f["messages"].append(d)
            for v in sml.readings(msgs):
                e = {"obis": v["obis"], "raw": v["raw"], "scaler": v["scaler"],
                     "unit": v["unit"], "server_id": jsonable(v["server_id"]),
                     "status": v["status"], "val_time": v["val_time"]}
                if "octets" in v:
                    e["octets"] = hx(v["octets"])
                values.append(e)
        except sml.SmlError as e:
            errors.append({"offset": wire_offset(buf, s, e.offset), "reason": e.reason})
            f["error"] = e.reason
        files.append(f)
        pos = end
    if not files and not errors and buf:
        errors.append({"offset": 0, "reason": "no SML transport frame"})
    return {"files": files, "values": values, "errors": errors}, bool(files)


def decode_hdlc(buf):
    from lmn import hdlc

    frames, errors = [], []
    pos = 0
    end = len(buf)
    while True:
        i = buf.find(b"\x7e", pos)
        if i < 0:
            break
        try:
            r = hdlc.decode_at(buf, i, end)
        except hdlc.HdlcError as e:
            r = None
            if e.reason == "bad FCS":
                errors.append({"offset": e.offset, "reason": e.reason})
                try:
                    r = hdlc.decode_at(buf, i, end, False)
                except hdlc.HdlcError:
                    r = None
            if r is None:
                if e.reason != "not a frame format type 3" or i == 0:
                    errors.append({"offset": e.offset, "reason": e.reason})
                pos = i + 1
                continue
        if r is None:
            if end - i >= 3 and buf[i + 1] != 0x7E:
                errors.append({"offset": i, "reason": "incomplete frame"})
            pos = i + 1
            continue
        f, nxt = r
        frames.append({"offset": i, "format": f.format, "segmented": f.segmented,
                       "length": f.length, "dest": f.dest, "src": f.src,
                       "control": f.kind, "control_byte": f.control(), "ns": f.ns,
                       "nr": f.nr, "pf": f.pf, "hcs_ok": f.hcs_ok, "fcs_ok": f.fcs_ok,
                       "info": hx(f.info)})
        if f.kind in ("SNRM", "UA") and f.info:
            try:
                frames[-1]["parameters"] = hdlc.parameters(f.info)
            except hdlc.HdlcError:
                pass
        pos = nxt if f.fcs_ok else i + 1
    if not frames and not errors:
        errors.append({"offset": 0, "reason": "no HDLC frame"})
    return {"frames": frames, "errors": errors}, bool(frames)


def main():
    kind = sys.argv[1]
    ok = False
    try:
        text = sys.stdin.read().strip().replace(" ", "").replace("\n", "")
        buf = binascii.unhexlify(text)
        if kind == "sml":
            out, ok = decode_sml(buf)
        else:
            out, ok = decode_hdlc(buf)
    except Exception as e:  # noqa: BLE001 - never a traceback for the operator
        out = {"errors": [{"offset": -1, "reason": f"{type(e).__name__}: {e}"}]}
    print(json.dumps(out))
    sys.exit(0 if ok else 2)


main()
