"""gwtool decode sml|hdlc|wmbus ...: run the firmware decoders inside MicroPython.

Each decoder is its own module (decode_<kind>.py) exposing a click command `command`.
"""
import importlib

import click

KINDS = {"sml": "gwtool.decode_sml", "hdlc": "gwtool.decode_hdlc",
         "wmbus": "gwtool.decode_wmbus"}


class _Kinds(click.Group):
    def list_commands(self, ctx):
        return sorted(k for k, m in KINDS.items() if importlib.util.find_spec(m))

    def get_command(self, ctx, name):
        m = KINDS.get(name)
        if not m or not importlib.util.find_spec(m):
            return None
        return importlib.import_module(m).command


@click.group("decode", cls=_Kinds)
def command():
    """Decode captured bytes with the firmware's own decoders (JSON out)."""
