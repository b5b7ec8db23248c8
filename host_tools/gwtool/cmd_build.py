"""gwtool build --board B [--json]: compile the manifest for B and pack the ROMFS image."""
import json
import sys

import click

from .build import BuildError, build
from .paths import BOARD_NAMES


@click.command("build")
@click.option("--board", type=click.Choice(BOARD_NAMES), required=True)
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.option("--out", default=None, help="output directory (default build/<board>)")
def command(board, as_json, out):
    """Build the application image (build/<board>/app.romfs)."""
    try:
        s = build(board, out)
    except BuildError as e:
        click.echo(f"build failed: {e}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(s))
    else:
        click.echo(f"{s['board']} ({s['arch']}): {s['modules']} modules, "
                   f"{s['viper_functions']} viper functions, ROMFS {s['romfs_bytes']} bytes "
                   f"-> {s['romfs']}")
