"""The wmbus layer's service: the radio task -> decode -> ctx.ingest.

setup(ctx): key store (/data/keys/meters.json), Receiver, diag field "wmbus".
run(ctx): reset the radio (ctx.hal.radio, a drivers.cc1101.CC1101) into T1+C1 reception
and loop: packet -> wmbus.phy.to_frame -> Receiver.handle. Bad packets never stop the
task; a radio that does not answer is logged and retried every 60 s.
"""
import asyncio

from texts import msg
from wmbus import WmbusError
from wmbus import phy
from wmbus.keys import PATH, KeyStore
from wmbus.receiver import Receiver

# log events and texts, config names: msg(_T, i) (one string constant: RAM)
_T = const(("wmbus.keys"  # 0
            "|wmbus.radio"  # 1
            "|wmbus_keys_path"  # 2
            "|wmbus_keys"  # 3
            "|%d meter keys provisioned"  # 4
            "|radio init failed: %s"  # 5
            "|receiving T1+C1 on 868.95 MHz"))  # 6


def setup(ctx):
    path = getattr(ctx, msg(_T, 2), None) or PATH
    _provision(ctx, path)
    keys = KeyStore(path)
    if keys.error:
        ctx.log(3, msg(_T, 0), keys.error)
    ctx.wmbus = Receiver(ctx, keys)
    ctx.diag_extra["wmbus"] = _diag(ctx)


def _provision(ctx, path):
    """Virtual board / factory: board config "wmbus_keys" {meter: key hex} is merged into
    the key file once (the keys are then only on the data partition)."""
    cfg = getattr(ctx.board, "config", None)
    new = cfg and (cfg() or {}).get(msg(_T, 3))  # wmbus_keys
    if not new:
        return
    import json
    import os

    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError):
        d = {}
    if all(d.get(m) == k for m, k in new.items()):
        return
    d.update(new)
    try:
        os.mkdir(path.rsplit("/", 1)[0])
    except OSError:
        pass
    with open(path + ".tmp", "w") as f:
        json.dump(d, f)
    os.rename(path + ".tmp", path)
    ctx.log(1, msg(_T, 0), msg(_T, 4) % len(new))  # meter keys provisioned


def _diag(ctx):
    def f():
        d = ctx.wmbus.diag()
        r = ctx.hal.radio
        if r is not None:
            d["radio"] = dict(r.stats)
            d["radio"]["rssi_dbm"] = r.rssi_dbm
            d["radio"]["mode"] = r.mode
        return d

    return f


async def run(ctx):
    radio = ctx.hal.radio
    rx = ctx.wmbus
    if radio is None:
        while True:
            await asyncio.sleep(3600)
    while True:
        try:
            radio.reset("T1C1")
            break
        except Exception as e:  # noqa: BLE001 - RadioError or a bus error: retry later
            ctx.log(3, msg(_T, 1), msg(_T, 5) % e)  # radio init failed
            await asyncio.sleep(60)
    ctx.log(1, msg(_T, 1), msg(_T, 6))  # receiving T1+C1
    from wmbus import receiver

    if receiver._pulse is None:  # without the app's LED renderer: switch wMT off ourselves
        asyncio.create_task(_led(rx))
    while True:
        buf, mode, rssi = await radio.receive(phy.packet_len, 2, 200)
        try:
            frame, fmt = phy.to_frame(buf, len(buf), mode)
        except WmbusError as e:
            rx._error(e)
            rx.stats["frames"] += 1
            continue
        rx.handle(frame, fmt, rssi, phy.mode_name(mode))
        await asyncio.sleep_ms(0)


async def _led(rx):
    while True:
        rx.tick()
        await asyncio.sleep_ms(20)
