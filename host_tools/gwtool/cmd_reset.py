"""gwtool reset --port P [--soft|--hard]: restart the gateway and wait until it answers.

Real board:
  --soft  interpreter restart (machine.soft_reset()): RAM is cleared, boot.py and main.py
          run again, the application starts from the ROMFS image; /data is untouched.
          Scheduled from an asyncio task so the REPL call returns first and the
          SystemExit leaves main.py the way MicroPython's soft reset expects.
  --hard  machine.reset(): the same as pressing the reset button (USB re-enumerates).
Virtual board (the unix port cannot restart its own interpreter):
  --soft  the application is reloaded in place: the ROMFS image file is mounted again
          at /rom (so a `gwtool deploy` becomes importable) and every supervised service
          task except the REPL is cancelled and started again. Modules already imported
          keep their code until the next hard reset.
  --hard  a power cycle is the job of the host process that runs the virtual board:
          Ctrl-C `gwtool vboard` and start it again with the same --workdir (the flash
          image persists), or in tests `VBoard.kill(); VBoard.start()` (the `gateway`
          fixture's hard_reset()). gwtool says so and exits with status 2.
"""
import time

import click

from .board_link import (
    LinkError,
    ReplError,
    baud_option,
    echo_json,
    open_link,
    port_option,
    wait_for_repl,
)

# Remount the ROMFS image on the virtual board: read the new image first, then swap the
# mount. Imported modules execute in place from the old image and the GC does not follow
# their interior pointers, so the old VfsRom (which owns the buffer) is kept referenced
# from vboot, or its memory would be reused under running code.
VB_REMOUNT = """import vfs, gc, sys, os, vboot
gc.collect()
_slot = getattr(vboot, 'SLOT', None)
_path = vboot.CONFIG['romfs'] if _slot in (None, 'factory') else '/data/fw/%s.romfs' % _slot
_img = bytearray(os.stat(_path)[6])
with open(_path, 'rb') as f:
    f.readinto(_img)
_old = [m for m, p in vfs.mount() if p == '/rom']
if not hasattr(vboot, 'RETIRED'):
    vboot.RETIRED = []
vboot.RETIRED.extend(_old)
vfs.umount('/rom')
vfs.mount(vfs.VfsRom(_img), '/rom')
del _old
del _img
if '_build' in sys.modules:
    del sys.modules['_build']
import _build
print(json.dumps({'version': _build.VERSION, 'built': _build.BUILT, 'git': _build.GIT}))
"""
# Cancel every service task but the REPL, let them unwind (close sockets), start again.
VB_RESTART_TASKS = """import app, asyncio
_s = app.CTX.sup
_n = [k for k in _s.tasks if k != 'repl']
async def _restart(names):
    fs = {}
    for k in names:
        fs[k] = _s.tasks[k].factory
        _s.tasks[k].task.cancel()
    await asyncio.sleep_ms(200)
    for k in names:
        _s.add(k, fs[k])
asyncio.create_task(_restart(_n))
print(json.dumps(_n))
"""
BOARD_SOFT = """import asyncio, machine
async def _later():
    await asyncio.sleep_ms(200)
    machine.soft_reset()
asyncio.create_task(_later())
"""


class NeedsHost(click.ClickException):
    exit_code = 2


def vboard_reload(link):
    """Virtual board soft reset: remount the ROMFS image, restart the service tasks."""
    link.exec("import json")
    try:
        build = link.json(VB_REMOUNT, timeout=30)
    except ReplError as e:
        if "MemoryError" not in e.traceback:
            raise click.ClickException(f"reloading the image failed: {e}") from None
        raise NeedsHost(
            "virtual board: no heap left to mount a second ROMFS image in place; the image "
            "file is in place, so power-cycle the virtual board (Ctrl-C `gwtool vboard` and "
            "start it again with the same --workdir and --no-build)") from None
    tasks = link.json(VB_RESTART_TASKS)
    return {"kind": "soft", "virtual": True, "image": build, "restarted": tasks}


def app_running(link):
    return link.exec("import sys\nprint('app' in sys.modules and "
                     "sys.modules['app'].CTX is not None)").strip() == "True"


def board_reset(link, hard):
    """Trigger a reset on a real board; the connection drops, so no answer is read."""
    if hard:
        code = "import machine\nmachine.reset()"
    elif app_running(link):
        code = BOARD_SOFT
    else:  # bare MicroPython REPL: Ctrl-D in the friendly REPL soft-resets and runs main.py
        link.exit_raw()
        link.ser.write(b"\x04")
        return
    try:
        link.exec(code, timeout=2)
    except (LinkError, ReplError, OSError):
        pass


def reset(port, baud, hard, wait=60.0):
    with open_link(port, baud) as link:
        info = link.info()
        if info["virtual"]:
            if hard:
                raise NeedsHost(
                    "virtual board: a hard reset is a power cycle, done by the process that "
                    "runs it (Ctrl-C `gwtool vboard` and start it again with the same "
                    "--workdir, or VBoard.kill(); VBoard.start()); use --soft to reload the "
                    "application in place")
            return vboard_reload(link)
        before = link.json("import time\nprint(time.ticks_ms())")
        board_reset(link, hard)
    time.sleep(1.0)
    after = wait_for_repl(port, wait, baud)
    return {"kind": "hard" if hard else "soft", "virtual": False, "ticks_before": before,
            "version": after.get("version"), "micropython": after.get("micropython")}


@click.command("reset")
@port_option()
@baud_option()
@click.option("--soft/--hard", "soft", default=True, help="soft (default) or hard reset")
@click.option("--wait", default=60.0, show_default=True, help="seconds to wait for the REPL")
@click.option("--json", "as_json", is_flag=True)
def command(port, baud, soft, wait, as_json):
    """Soft or hard reset; waits until the REPL answers again."""
    res = reset(port, baud, not soft, wait)
    if as_json:
        echo_json(res)
    elif res["virtual"]:
        click.echo(f"virtual board reloaded: image {res['image']['version']} built "
                   f"{res['image']['built']}; restarted {', '.join(res['restarted'])}")
    else:
        click.echo(f"{res['kind']} reset done; application {res['version']}")
