"""The taf layer's service. The TAF engine (taf.engine) lives inside ctx.core and is
fed by ctx.core.ingest; its clock tick runs in core.service.run. Nothing to run here."""
import asyncio


def setup(ctx):
    pass


async def run(ctx):
    while True:
        await asyncio.sleep(3600)
