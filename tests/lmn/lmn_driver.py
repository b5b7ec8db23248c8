# MicroPython driver for the LMN link tests: polls simulated meters on a pty.
# stdin = JSON {"pty", "pki", "meters": [{"id", "address", "tls"}], "rounds",
#                 "renew_bytes", "timeout_ms", "retries", "push": seconds}
import sys
import json
import gc
import asyncio
import time
from hal.unix.pty_uart import PtyUart
from lmn import link, meter, tlslink, sml, service
from lmn.hdlc import HdlcError

cfg = json.loads(sys.stdin.read())  # argv > 255 bytes crashes the unix port (NLR)


def rd(x):
    with open(cfg["pki"] + "/" + x, "rb") as f:
        return f.read()


class Ctx:
    def __init__(self):
        self.got = []
        self.logs = []

    def ingest(self, m, obis, raw, scaler, unit, t, status=None, via="lmn"):
        if not cfg.get("heap"):
            self.got.append([m, obis, raw, scaler, unit, status])

    def log(self, level, event, msg, detail=None):
        self.logs.append([level, event, msg])

    def now(self):
        return int(time.time())

    def meter_seen(self, *a, **k):
        pass

    def led(self, n, v):
        pass


async def push():
    ctx = Ctx()
    st = service.State()
    t = asyncio.create_task(service.push_reader(ctx, st, PtyUart(cfg["pty"])))
    await asyncio.sleep(cfg["push"])
    t.cancel()
    print(json.dumps({"got": ctx.got, "logs": ctx.logs, "n": st.push_readings}))


async def main():
    context = tlslink.client_context(rd("gateway.der"), rd("gateway.key.der"), rd("root.der"))
    bus = link.Bus(PtyUart(cfg["pty"]))
    ms = [meter.Meter(bus, m["id"], m["address"], context if m.get("tls", True) else None,
                      time.time, timeout_ms=cfg.get("timeout_ms", 300),
                      retries=cfg.get("retries", 3),
                      renew_bytes=cfg.get("renew_bytes", 5000000),
                      renew_s=cfg.get("renew_s", 31 * 86400),
                      hostname=m.get("hostname")) for m in cfg["meters"]]
    ctx = Ctx()
    st = service.State()
    st.meters = ms
    for m in ms:
        m.readings = 0
    out = []
    heap = []  # live heap after each round (cfg "heap"): preallocated, it must not grow
    if cfg.get("heap"):
        heap = [0] * (cfg["rounds"] + cfg.get("service_rounds", 0))
    nh = 0

    async def one(m):
        try:
            vals = await m.poll()
            if cfg.get("heap"):  # keep nothing per poll: the heap must stay flat
                return
            out.append([m.id, "ok", [[v["obis"], v["raw"]] for v in vals]])
        except (HdlcError, tlslink.TlsError, sml.SmlError) as e:
            out.append([m.id, type(e).__name__, e.args[0] if e.args else ""])

    for r in range(cfg["rounds"]):
        if cfg.get("concurrent"):  # all meters at once: the bus lock serialises them
            await asyncio.gather(*[one(m) for m in ms])
        else:
            for m in ms:
                await one(m)
        await asyncio.sleep_ms(cfg.get("sleep_ms", 0))
        if cfg.get("heap"):  # live heap after each round (leak regression)
            gc.collect()
            heap[nh] = gc.mem_alloc()
            nh += 1
    if cfg.get("service_rounds"):
        for r in range(cfg["service_rounds"]):
            for m in ms:
                await service.poll_meter(ctx, st, m)
            if cfg.get("heap"):
                gc.collect()
                heap[nh] = gc.mem_alloc()
                nh += 1
    for m in ms:
        await m.close()
    print(json.dumps({"polls": out, "bus": bus.stats, "heap": heap, "logs": ctx.logs,
                      "got": ctx.got,
                      "links": {m.id: m.link.stats for m in ms},
                      "sessions": {m.id: [m.session.handshakes, m.session.renewals]
                                   for m in ms}}))


asyncio.run(push() if cfg.get("push") else main())
