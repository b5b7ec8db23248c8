"""Shared part of `gwtool decode sml|hdlc`: input parsing and the MicroPython run."""
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

import click

from . import mpy

SCRIPT = Path(__file__).with_name("lmn_mp_decode.py")


def read_input(arg):
    """HEX (spaces/colons allowed), @FILE (binary, or hex text), or - for stdin (hex)."""
    if arg == "-":
        text = sys.stdin.read()
    elif arg.startswith("@"):
        data = Path(arg[1:]).read_bytes()
        try:
            text = data.decode("ascii")
            if not re.fullmatch(r"[0-9a-fA-F\s:]*", text):
                return data
        except UnicodeDecodeError:
            return data
    else:
        text = arg
    text = re.sub(r"[\s:]", "", text)
    if len(text) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", text):
        raise click.BadParameter("not hex (use @FILE for binary files)")
    return bytes.fromhex(text)


def value(raw, scaler):
    """raw * 10**scaler as a JSON number: exact int when scaler >= 0."""
    if raw is None:
        return None
    if not scaler or scaler >= 0:
        return raw * 10 ** (scaler or 0)
    return float(Decimal(raw).scaleb(scaler))


def decode(kind, data):
    """Run the firmware decoder; return (document, exit_status)."""
    out = mpy.run(script=SCRIPT, args=[kind], input=data.hex(), check=False, timeout=60,
                  heapsize="2M")
    try:
        doc = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        doc = {"errors": [{"offset": -1, "reason": "decoder failed"}]}
        return doc, 2
    if kind == "sml":
        for v in doc.get("values", []):
            v["value"] = value(v.get("raw"), v.get("scaler"))
        ok = bool(doc.get("files"))
    else:
        ok = bool(doc.get("frames"))
    return doc, 0 if ok else 2


def main(kind, data, as_json):
    try:
        buf = read_input(data)
    except (click.BadParameter, OSError) as e:
        click.echo(json.dumps({"errors": [{"offset": -1, "reason": str(e)}]}))
        sys.exit(2)
    doc, status = decode(kind, buf)
    click.echo(json.dumps(doc) if as_json else json.dumps(doc, indent=1))
    sys.exit(status)
