# MicroPython driver for the LMN heap regression test: the service as the board runs it
# (app.Context with core None, drivers.rs485 over a pty, lmn.service.setup + schedule on
# an accelerated clock) against the CPython meter simulator; prints the live heap
# (gc.mem_alloc() after gc.collect()) after each schedule cycle.
# stdin = JSON {"pty", "pki", "meters": [{"id", "address"}], "rounds", "accelerate"}
import sys
import json
import gc
import asyncio
import app
from hal import Hal
from hal.unix.rtc import Rtc
from hal.unix.gpio import Pin
from hal.unix.pty_uart import PtyUart
from drivers.rs485 import Rs485
from lmn import service

cfg = json.loads(sys.stdin.read())


def rd(x):
    with open(cfg["pki"] + "/" + x, "rb") as f:
        return f.read()


class Board:
    def config(self):
        return {"lmn_meters": cfg["meters"], "lmn_period": 60,
                "lmn_tls": {"cert": rd("gateway.der").hex(),
                            "key": rd("gateway.key.der").hex(),
                            "ca": rd("root.der").hex()}}


hal = Hal(rtc=Rtc(1790000000, cfg.get("accelerate", 600)))
hal.leds = {"LMC": Pin("LMC")}
hal.rs485 = Rs485(PtyUart(cfg["pty"]), Pin("RS485_DE"), 921600)
ctx = app.Context(Board(), hal)
service.setup(ctx)
st = service.STATE
heap = [0] * cfg["rounds"]  # preallocated: nothing of the test itself grows


async def main():
    for i in range(cfg["rounds"]):
        await service.schedule(ctx, st, cycles=1)
        gc.collect()
        heap[i] = gc.mem_alloc()


asyncio.run(main())
print(json.dumps({"heap": heap, "status": st.status(), "events": ctx.events}))
