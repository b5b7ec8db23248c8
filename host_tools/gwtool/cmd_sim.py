"""gwtool sim: the virtual gateway with its simulated world (meters, GWA, EMTs, HAN)."""
import json
import signal
import sys

import click

from .sim import Sim


@click.command("sim")
@click.option("--workdir", default="build/sim", show_default=True)
@click.option("--headless", is_flag=True, help="no interactive output; exit at --until")
@click.option("--accelerate", default=1.0, show_default=True, help="simulated seconds per second")
@click.option("--start", default=None, help="simulated start time, ISO 8601 (default: now)")
@click.option("--until", default=None, help="simulated end time, ISO 8601")
@click.option("--heap", default=None, help="override -X heapsize")
def command(workdir, headless, accelerate, start, until, heap):
    """Run the virtual gateway with simulated meters, GWA, EMTs and HAN users."""
    sim = Sim(workdir, accelerate=accelerate, start=start, until=until, headless=headless,
              heap=heap)
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    sim.start()
    try:
        if not headless:
            click.echo(json.dumps(sim.vboard.endpoints, indent=1))
            click.echo("virtual gateway running; `mpremote connect "
                       f"{sim.vboard.endpoints['repl']} resume repl` for its console; "
                       "Ctrl-C stops")
        ok = sim.run()
    finally:
        sim.stop()
    if not headless:
        click.echo("simulation stopped")
    sys.exit(0 if ok else 1)
