"""gwtool deploy --board B --port P: build the application image, put it on the gateway,
restart, and confirm over the REPL that the new build runs (`_build.VERSION`/`BUILT`).

Methods (`--method auto` picks by asking the board: `vfs.rom_ioctl(1) > 0`):
  romfs   `mpremote connect P romfs deploy build/<B>/app.romfs` writes the image to the
          ROMFS partition (MicroPython >= 1.25 ports built with one), then a hard reset.
  copy    ports without a ROMFS partition: the staged .mpy files are written to /rom on
          the board's filesystem (frozen boot.py puts /rom first on sys.path), each file
          atomically, stale files removed; then a hard reset.
  vboard  the virtual board boots from the image file named in its vboard.json
          (`vboot.CONFIG["romfs"]`, normally build/unix/app.romfs): the build is written
          there, then mounted in place (see `gwtool reset --soft`); if the board has no
          heap for a second image, power-cycling it (its host's job) boots the new one.
"""
import json
import sys
from pathlib import Path

import click

from . import cmd_reset
from . import mpy as _mpy
from .board_link import LinkError, baud_option, echo_json, open_link, port_option, wait_for_repl
from .build import BuildError, build
from .paths import BOARD_NAMES, BUILD, mpremote

# Remove files under /rom that the new build does not have (device side, short).
_PRUNE = """import os
def _walk(d):
    for e in os.ilistdir(d):
        p = d + '/' + e[0]
        if e[1] == 0x4000:
            yield from _walk(p)
        else:
            yield p
_gone = [p for p in _walk(_root) if p not in _keep]
for p in _gone:
    os.remove(p)
print(len(_gone))
"""


_STAMP = """import vfs, sys, json
with open(sys.argv[1], 'rb') as f:
    img = f.read()
vfs.mount(vfs.VfsRom(img), '/rom')
sys.path.insert(0, '/rom')
import _build
print(json.dumps({'version': _build.VERSION, 'built': _build.BUILT, 'git': _build.GIT,
                  'board': _build.BOARD}))
"""


def image_stamp(image):
    """VERSION/BUILT/GIT/BOARD of a ROMFS image, read by mounting it in the unix port
    (its _build module is plain bytecode, loadable whatever the image's target arch)."""
    size = Path(image).stat().st_size
    out = _mpy.run(_STAMP, args=[str(image)], heapsize=str(2 * size + (256 << 10)))
    return json.loads(out.strip().splitlines()[-1])


def stage_files(out_dir):
    stage = Path(out_dir) / "stage"
    return sorted((p.relative_to(stage).as_posix(), p) for p in stage.rglob("*") if p.is_file())


def copy_files(link, out_dir, root="/rom"):
    """Copy the staged build to `root` on the board; returns how many stale files went."""
    files = stage_files(out_dir)
    total = sum(p.stat().st_size for _, p in files)
    with click.progressbar(length=total, label=f"copying to {root}", file=sys.stderr) as bar:
        for rel, p in files:
            link.write_file(f"{root}/{rel}", p.read_bytes(), progress=bar.update)
    keep = [f"{root}/{rel}" for rel, _ in files]
    link.exec(f"_keep = set({keep!r})\n_root = {root!r}")
    return int(link.exec(_PRUNE).strip() or 0)


@click.command("deploy")
@click.option("--board", required=True, type=click.Choice(BOARD_NAMES))
@port_option(required=False)
@baud_option()
@click.option("--method", type=click.Choice(["auto", "romfs", "copy"]), default="auto",
              show_default=True, help="how the image gets onto a real board")
@click.option("--build-dir", default=None, help="build here (default build/<board>)")
@click.option("--no-build", is_flag=True, help="deploy the image already in --build-dir")
@click.option("--no-reset", is_flag=True, help="do not restart (nor confirm the version)")
@click.option("--dry-run", is_flag=True, help="build and show what would be done")
@click.option("--wait", default=60.0, show_default=True, help="seconds to wait for the REPL")
@click.option("--json", "as_json", is_flag=True)
def command(board, port, baud, method, build_dir, no_build, no_reset, dry_run, wait, as_json):
    """Build the ROMFS app image, deploy it, reset and confirm the running version."""
    if not port and not dry_run:
        raise click.UsageError("--port is required (except with --dry-run)")
    link = open_link(port, baud, timeout=15) if port else None
    try:
        res = _deploy(link, board, port, baud, method, build_dir, no_build, no_reset, dry_run,
                      wait)
    finally:
        if link:
            link.close()
    if as_json:
        echo_json(res)
        return
    for line in res["plan"]:
        click.echo(("would: " if dry_run else "did:   ") + line)
    if res.get("confirmed"):
        click.echo(f"deployed {board} {res['version']} (built {res['built']}), confirmed "
                   "over the REPL")


def _deploy(link, board, port, baud, method, build_dir, no_build, no_reset, dry_run, wait):
    info = link.info() if link else None
    virtual = bool(info and info["virtual"])
    if virtual and board != "unix":
        raise click.UsageError(f"{port} is a virtual board: use --board unix")
    if info and not virtual and board == "unix":
        raise click.UsageError(f"{port} is a real board ({info['platform']}): --board unix is "
                               "for the virtual board")
    if virtual:
        romfs, slot = link.exec("import vboot\nprint(vboot.CONFIG['romfs'], "
                                "getattr(vboot, 'SLOT', None))").split()
        romfs = Path(romfs)
        if slot not in ("None", "factory"):
            raise click.ClickException(
                f"the virtual board runs firmware-update slot {slot!r} from /data/fw, not "
                f"{romfs}; deploy replaces the factory image only (clear the slot first)")
        if build_dir and Path(build_dir).resolve() != romfs.parent.resolve():
            raise click.UsageError(f"the virtual board boots from {romfs}; --build-dir "
                                   "must be its directory")
        out_dir = romfs.parent
        if romfs.name != "app.romfs" or not out_dir.is_dir():
            raise click.ClickException(f"cannot build into {romfs} from this host")
        method = "vboard"
    else:
        out_dir = Path(build_dir) if build_dir else BUILD / board
        if method == "auto":
            method = "romfs" if (info is None or info["romfs"]) else "copy"
    plan = []
    if no_build:
        if not (out_dir / "app.romfs").exists():
            raise click.ClickException(f"no image in {out_dir}; drop --no-build")
        summary = json.loads((out_dir / "build.json").read_text())
    else:
        try:
            with click.progressbar(length=1, label=f"building {board} image",
                                   file=sys.stderr) as bar:
                summary = build(board, out_dir)
                bar.update(1)
        except BuildError as e:
            raise click.ClickException(f"build failed: {e}") from None
        plan.append(f"built {summary['romfs']} ({summary['romfs_bytes']} bytes, "
                    f"{summary['modules']} modules)")
    stamp = image_stamp(out_dir / "app.romfs")
    stamp.pop("board", None)
    res = {"board": board, "method": method, "image": str(out_dir / "app.romfs"),
           "romfs_bytes": summary["romfs_bytes"], **stamp, "dry_run": dry_run,
           "confirmed": False, "plan": plan}
    image = out_dir / "app.romfs"
    if method == "romfs":
        argv = [mpremote(), "connect", str(port or "<port>"), "romfs", "deploy", str(image)]
        plan.append(" ".join(argv))
    elif method == "copy":
        plan.append(f"copy {len(stage_files(out_dir))} files from {out_dir / 'stage'} to :/rom/ "
                    "and remove stale ones")
    else:
        plan.append(f"mount {image} in place on the virtual board")
    if not no_reset and method != "vboard":
        plan.append("hard reset (machine.reset()), wait for the REPL, check _build")
    if dry_run:
        return res
    if method == "vboard":
        if no_reset:
            return res
        got = cmd_reset.vboard_reload(link)["image"]
    else:
        if method == "romfs":
            link.close()
            import subprocess

            if subprocess.call(argv, stdout=sys.stderr):
                raise click.ClickException("mpremote romfs deploy failed")
            link = open_link(port, baud, timeout=15)
        else:
            res["removed"] = copy_files(link, out_dir)
        if no_reset:
            return res
        cmd_reset.board_reset(link, hard=True)
        link.close()
        try:
            got = wait_for_repl(port, wait, baud)
        except LinkError as e:
            raise click.ClickException(f"after the reset: {e}") from None
    if (got.get("version"), got.get("built")) != (stamp["version"], stamp["built"]):
        raise click.ClickException(f"the gateway runs {got.get('version')} built "
                                   f"{got.get('built')}, not the deployed {stamp['version']} "
                                   f"built {stamp['built']}")
    res["confirmed"] = True
    return res

