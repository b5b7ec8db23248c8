"""gwtool pki DIR: create (or extend) the test PKI."""
import json

import click

from .pki import make_pki


@click.command("pki")
@click.argument("directory")
@click.option("--emts", default=3, show_default=True)
@click.option("--meter", "meters", multiple=True, help="meter id to issue a TLS cert for")
@click.option("--curve", type=click.Choice(["P-256", "brainpoolP256r1"]), default="P-256")
def command(directory, emts, meters, curve):
    """Create the test PKI (root, sub-CA, gateway, GWA, EMT, HAN, meter certificates)."""
    p = make_pki(directory, emts=emts, meters=meters, curve=curve)
    click.echo(json.dumps(sorted(f.name for f in p.dir.glob("*.crt"))))
