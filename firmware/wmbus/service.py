"""The wmbus layer's service: setup(ctx) at boot, run(ctx) as a supervised task.

Placeholder from the foundation; the layer's issue (#4) fills it in.
"""
import asyncio


def setup(ctx):
    pass


async def run(ctx):
    while True:
        await asyncio.sleep(3600)
