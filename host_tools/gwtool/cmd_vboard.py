"""gwtool vboard [--workdir DIR]: run the virtual board in the foreground until Ctrl-C."""
import json
import signal
import tempfile
import time

import click

from .vboard import VBoard


def wait_for_signal(vb):
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        while not stop and vb.alive():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


@click.command("vboard")
@click.option("--workdir", default=None, help="keep the flash image and endpoints.json here")
@click.option("--heap", default=None, help="override -X heapsize (e.g. 96K)")
@click.option("--no-build", is_flag=True, help="use the existing build/unix/app.romfs")
def command(workdir, heap, no_build):
    """Boot the unix board firmware; REPL and RS485 on ptys, radio on a socket."""
    workdir = workdir or tempfile.mkdtemp(prefix="vboard-")
    vb = VBoard(workdir, heap=heap, rebuild=not no_build).start()
    click.echo(json.dumps(vb.endpoints, indent=1))
    click.echo(f"REPL: mpremote connect {vb.endpoints['repl']} resume repl   (Ctrl-C here stops)")
    try:
        wait_for_signal(vb)
    finally:
        vb.stop()
        click.echo("virtual board stopped")
