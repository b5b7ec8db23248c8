"""gwtool shell --port P: an interactive REPL on the gateway (mpremote, `resume` mode).

`resume` keeps mpremote from soft-resetting the board on connect, so the gateway keeps
running while you type (on the virtual board the REPL is one of its asyncio tasks).
Leave with Ctrl-] (or Ctrl-X). Note: on a board whose firmware leaves the keyboard
interrupt enabled, Ctrl-C stops the running application, as in any MicroPython REPL.
"""
import subprocess

import click

from .board_link import port_option
from .paths import mpremote


def argv(port, code=None):
    cmd = [mpremote(), "connect", port, "resume"]
    return cmd + (["exec", code] if code is not None else ["repl"])


@click.command("shell")
@port_option()
@click.option("--exec", "code", default=None, help="run this code instead of a REPL")
def command(port, code):
    """Interactive REPL on the gateway (mpremote resume repl); Ctrl-] leaves."""
    raise SystemExit(subprocess.call(argv(port, code)))
