"""`gwtool decode hdlc HEX|@FILE [--json]`: HDLC frames (IEC 62056-46) -> fields.

Runs the firmware's lmn.hdlc inside MicroPython. Output: {"frames": [{"format",
"segmented", "length", "dest", "src", "control", "ns", "nr", "pf", "hcs_ok", "fcs_ok",
"info"}], "errors": [{"offset", "reason"}]}; exit 2 when no frame was decodable.
"""
import click

from .lmn_decode import main


@click.command("hdlc")
@click.argument("data")
@click.option("--json", "as_json", is_flag=True, help="compact JSON (default: indented)")
def command(data, as_json):
    """Decode HDLC frames (hex, @FILE binary or hex, - for stdin)."""
    main("hdlc", data, as_json)
