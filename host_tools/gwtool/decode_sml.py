"""`gwtool decode sml HEX|@FILE [--json]`: SML transport frames -> messages and values.

Runs the firmware's lmn.sml inside MicroPython. Output: {"files": [{"crc_ok", "crc",
"messages": [{"body": "GetListResponse", ...}]}], "values": [{"obis", "raw", "scaler",
"unit", "value", "server_id", "status"}], "errors": [{"offset", "reason"}]}; exit 2 when
no frame was decodable.
"""
import click

from .lmn_decode import main


@click.command("sml")
@click.argument("data")
@click.option("--json", "as_json", is_flag=True, help="compact JSON (default: indented)")
def command(data, as_json):
    """Decode SML 1.04 (hex, @FILE binary or hex, - for stdin)."""
    main("sml", data, as_json)
