"""`gwtool update-image`: wrap a built ROMFS image into a signed firmware update image."""
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from .paths import romfs_path
from .update_image import make


@click.command()
@click.option("--board", default="unix", show_default=True)
@click.option("--version", "version", required=True, help="x.y.z, must be newer than installed")
@click.option("--key", "key_path", required=True, type=click.Path(exists=True),
              help="signer private key (PEM), e.g. PKI/gwa.key")
@click.option("--image", type=click.Path(exists=True), help="ROMFS image (default: the build)")
@click.option("-o", "--out", required=True, type=click.Path())
def command(board, version, key_path, image, out):
    """Make a signed update image for the GWA to offer."""
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), None)
    data = Path(image).read_bytes() if image else romfs_path(board).read_bytes()
    blob = make(data, version, key, board)
    Path(out).write_bytes(blob)
    click.echo(f"{out}: {len(blob)} bytes, version {version}, board {board}")
