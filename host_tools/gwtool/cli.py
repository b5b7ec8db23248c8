"""`gwtool`: one command for building, running and testing the gateway firmware.

Each subcommand lives in its own module (cmd_<name>.py) exposing a click command named
`command`; COMMANDS below is the registry, loaded lazily so `gwtool --help` stays fast.
"""
import importlib

import click

COMMANDS = {
    "build": "gwtool.cmd_build",
    "vboard": "gwtool.cmd_vboard",
    "sim": "gwtool.cmd_sim",
    "decode": "gwtool.cmd_decode",
    "pki": "gwtool.cmd_pki",
    "bench": "gwtool.cmd_bench",
    "flash": "gwtool.cmd_flash",
    "deploy": "gwtool.cmd_deploy",
    "provision": "gwtool.cmd_provision",
    "status": "gwtool.cmd_status",
    "logs": "gwtool.cmd_logs",
    "shell": "gwtool.cmd_shell",
    "reset": "gwtool.cmd_reset",
    "update-image": "gwtool.cmd_update_image",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(n for n, m in COMMANDS.items() if importlib.util.find_spec(m))

    def get_command(self, ctx, name):
        mod = COMMANDS.get(name)
        if not mod or not importlib.util.find_spec(mod):
            return None
        return importlib.import_module(mod).command


@click.group(cls=LazyGroup)
def cli():
    """Host toolchain for the open Smart Meter Gateway."""


def main():
    cli()
