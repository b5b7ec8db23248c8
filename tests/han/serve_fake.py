"""Run the HAN service on a fake core in MicroPython, for host-side HTTP tests.

argv: config.json (han config + "pki" dir + "now" + "ingest_ms"). Prints "READY <port>"
when listening. Extra route for tests only: GET /test/stats (ingest counters)."""
import asyncio
import gc
import json
import sys

import fakecore
from fakectx import Ctx, Link

cfg = json.load(open(sys.argv[1]))
core = fakecore.standard(cfg.get("now", fakecore.T0 + 86400))
ING = (fakecore.MA, "1-0:1.8.1*255")
core.tenants.get("consumer1").channels.append(ING)
ctx = Ctx(core, {"han": cfg["han"]}, cfg.get("now"))
if cfg.get("link"):
    ctx.link = Link(*cfg["link"])

from han import layer as service

st = service.build(ctx, cfg["han"], pki=cfg["pki"])
stats = {"ingested": 0}


def handle_test(req, user, role):
    if req.path == "/test/stats":
        gc.collect()
        return 200, [], json.dumps({"ingested": stats["ingested"], "fake_core": core.ingested,
                                    "rows": len(core.oml.rows.get(ING, ())),
                                    "server": st.server.status(),
                                    "outputs": st.outputs.state if st.outputs else None,
                                    "mem_free": gc.mem_free(), "mem_alloc": gc.mem_alloc(),
                                    "logs": ctx.logs[-20:]})
    return st.portal.handle(req, user, role)


_server = service.server


def server(st):
    """The layer's server (re-created after each release) with the test route."""
    srv = _server(st)
    srv.handler = handle_test
    return srv


service.server = server  # han.layer.serve looks it up per connection


async def ingest():
    ms = cfg.get("ingest_ms")
    if not ms:
        return
    t = fakecore.T0
    while True:
        t += 1
        core.ingest(ING[0], ING[1], t, 0, 30, t)
        stats["ingested"] += 1
        await asyncio.sleep_ms(ms)


async def main():
    service.listen(ctx, st)
    print("READY", st.port, ctx.hal.endpoints.get("cls"))
    await asyncio.gather(service.serve(ctx, st), ingest())


asyncio.run(main())
