"""`gwtool decode wmbus HEX [--key HEX] [--keys meters.json] [--frame auto|A|B|none] [--json]`

Runs the firmware decoder (firmware/wmbus/telegram.py) inside the MicroPython unix port.
HEX is a link-layer frame starting at L, with or without the data-link CRCs (as
wmbusmeters and rtl-wmbus print them; spaces, "0x" and a leading "telegram=|" are
ignored). Any decoding problem is a JSON object with "error" and exit status 2, e.g.
`{"error": "decryption failed", "layer": "mac", "meter": "ELS-12345678", ...}`; keys
are never printed.
"""
import json
import re
import sys

import click

from . import mpy

_MP = r"""
import sys, json
from wmbus import WmbusError
from wmbus.telegram import decode
# input on stdin: the unix port dies ("FATAL: uncaught NLR") on argv items >= 256 chars
a = json.loads(sys.stdin.read())
frame = bytes.fromhex(a["hex"])
keys = a["keys"]
one = a["key"]
def lookup(m):
    k = one or keys.get(m) or keys.get(m.split("-")[1])
    return bytes.fromhex(k) if k else None
try:
    t = decode(frame, lookup, a["frame"])
    print(json.dumps(t))
except WmbusError as e:
    err = "decryption failed" if e.layer in ("decrypt", "mac") else (
        "no key" if e.layer == "key" else "decode failed")
    print(json.dumps({"error": err, "layer": e.layer, "reason": e.reason,
                      "offset": e.offset, "meter": e.meter}))
"""

FIELDS = ("manufacturer", "id", "version", "device_type", "access_number", "security_mode",
          "crc_ok", "mac_ok", "records")


def clean_hex(s):
    s = s.strip()
    if "|" in s:  # wmbusmeters "telegram=|...|" and rtl-wmbus "T1;1;1;...;HEX;..." styles
        s = max(s.split("|"), key=len)
    if ";" in s:
        s = max(s.split(";"), key=len)
    s = re.sub(r"(0x|[\s_:-])", "", s, flags=re.IGNORECASE)
    if not s or len(s) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", s):
        raise ValueError("not a hex telegram")
    return s


def decode(hex_text, key=None, keys=None, frame="auto"):
    """Decode in MicroPython; returns the result dict (with "error" on failure)."""
    try:
        h = clean_hex(hex_text)
        if key:
            key = clean_hex(key)
            if len(key) != 32:
                raise ValueError("key must be 32 hex digits")
    except ValueError as e:
        return {"error": "bad input", "reason": str(e)}
    inp = json.dumps({"hex": h, "frame": frame, "keys": keys or {}, "key": key or ""})
    try:
        out = mpy.run(_MP, input=inp, heapsize="512K", timeout=60)
        return json.loads(out.strip().splitlines()[-1])
    except (mpy.MicroPythonError, ValueError, IndexError) as e:
        return {"error": "decoder crashed", "reason": str(e).splitlines()[0]}


def _text(t):
    lines = [f"{t['manufacturer']}-{t['id']} ver {t['version']} type 0x{t['device_type']:02x} "
             f"acc {t['access_number']} security {t['security_mode']} crc_ok {t['crc_ok']} "
             f"mac_ok {t['mac_ok']}"]
    for r in t["records"]:
        lines.append(f"  st{r['storage']:<3} t{r['tariff']} su{r['subunit']} "
                     f"{r['function'][:4]:4} {r['quantity']:24} {r['value']!s:>20} {r['unit']}")
    return "\n".join(lines)


@click.command("wmbus")
@click.argument("hex_text", metavar="HEX")
@click.option("--key", default=None, help="AES-128 key (32 hex digits) for this telegram")
@click.option("--keys", "keys_path", default=None, type=click.Path(exists=True),
              help='meters.json: {"MAN-ID" or "ID": "key hex"}')
@click.option("--frame", type=click.Choice(["auto", "A", "B", "none"]), default="auto",
              help="frame format: A/B with data-link CRCs, none without, auto detects")
@click.option("--json", "as_json", is_flag=True, help="JSON output")
def command(hex_text, key, keys_path, frame, as_json):
    """Decode a wireless M-Bus telegram with the firmware's decoder."""
    keys = None
    if keys_path:
        try:
            with open(keys_path) as f:
                keys = json.load(f)
            if not isinstance(keys, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            click.echo(json.dumps({"error": "bad input", "reason": f"--keys: {e}"}))
            sys.exit(2)
    t = decode(hex_text, key, keys, frame)
    if "error" in t:
        click.echo(json.dumps(t))
        sys.exit(2)
    out = {k: t[k] for k in FIELDS}
    out.update({k: v for k, v in t.items() if k not in out})
    click.echo(json.dumps(out) if as_json else _text(t))
