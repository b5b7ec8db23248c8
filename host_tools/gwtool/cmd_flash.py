"""gwtool flash --board esp32_gw|rp2040_gw --port P FIRMWARE: put MicroPython on a board.

The image is validated before anything touches the board, the command line that writes
it is shown (--dry-run stops there), and afterwards the REPL must answer on P.

esp32_gw (ESP32-S3): FIRMWARE is MicroPython's merged `firmware.bin` (bootloader at 0x0,
  partition table at 0x8000, application at 0x10000), written at offset 0 with
  `esptool --chip esp32s3 write_flash 0 FIRMWARE`. Checked: ESP image header magic 0xE9,
  segment count, the extended header's chip id (9 = ESP32-S3), every segment inside the
  file, and the partition table (0xAA50 entries) when present.
  Source: Espressif esptool docs, "Firmware Image Format"; ESP-IDF "Partition Tables".
rp2040_gw (RP2040): FIRMWARE is a UF2 file. Checked per 512-byte block: magics
  0x0A324655 / 0x9E5D5157 / 0x0AB16F30, payload <= 476 bytes, block numbers 0..n-1,
  the family id 0xE48BFF56 (RP2040) and target addresses in XIP flash (0x10000000+).
  Written by `picotool load -x` when picotool is installed, else by asking MicroPython
  for the boot loader (machine.bootloader()) and copying the file to the RPI-RP2 drive.
  Source: Microsoft UF2 specification (github.com/microsoft/uf2), RP2040 datasheet 2.8.
"""
import importlib.util
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import click

from .board_link import BoardLink, LinkError, baud_option, echo_json, wait_for_repl

ESP_MAGIC = 0xE9
ESP_CHIP_IDS = {0: "ESP32", 2: "ESP32-S2", 5: "ESP32-C3", 9: "ESP32-S3", 12: "ESP32-C2",
                13: "ESP32-C6", 16: "ESP32-H2"}
UF2_MAGIC0, UF2_MAGIC1, UF2_MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30
UF2_FLAG_FAMILY = 0x00002000
UF2_FLAG_NOT_MAIN_FLASH = 0x00000001
RP2040_FAMILY = 0xE48BFF56
BOOTSEL_WAIT_S = 3.0  # machine.bootloader() -> RPI-RP2 drive appears
BOARDS = {
    "esp32_gw": {"chip": "esp32s3", "chip_id": 9, "offset": 0x0, "flash_bytes": 8 << 20},
    "rp2040_gw": {"family": RP2040_FAMILY, "flash_bytes": 16 << 20},
}


class ImageError(click.ClickException):
    """The firmware file is not a valid image for this board."""


def check_esp32(data, board="esp32_gw"):
    want = BOARDS[board]
    if len(data) < 24 or data[0] != ESP_MAGIC:
        raise ImageError(f"not an ESP32 image: first byte 0x{data[0] if data else 0:02x}, "
                         f"expected 0x{ESP_MAGIC:02X}")
    nseg = data[1]
    if not 1 <= nseg <= 16:
        raise ImageError(f"ESP32 image: {nseg} segments (1..16 allowed)")
    chip_id = struct.unpack_from("<H", data, 12)[0]
    if chip_id != want["chip_id"]:
        raise ImageError(f"image is for {ESP_CHIP_IDS.get(chip_id, chip_id)}, board {board} "
                         f"is {ESP_CHIP_IDS[want['chip_id']]}")
    if len(data) > want["flash_bytes"]:
        raise ImageError(f"image of {len(data)} bytes does not fit {want['flash_bytes']} "
                         "bytes of flash")
    off = 24
    segs = []
    for i in range(nseg):
        if off + 8 > len(data):
            raise ImageError(f"ESP32 image truncated in segment {i} header")
        addr, size = struct.unpack_from("<II", data, off)
        off += 8 + size
        if off > len(data):
            raise ImageError(f"ESP32 image: segment {i} ({size} bytes) runs past the file")
        segs.append({"addr": f"0x{addr:08x}", "bytes": size})
    info = {"format": "esp32", "chip": ESP_CHIP_IDS[chip_id], "bytes": len(data),
            "entry": f"0x{struct.unpack_from('<I', data, 4)[0]:08x}", "segments": segs}
    if len(data) >= 0x8000 + 32 and data[0x8000:0x8002] == b"\xaa\x50":
        parts = []
        for o in range(0x8000, 0x8000 + 0xC00, 32):
            if data[o:o + 2] != b"\xaa\x50":
                break
            ptype, sub, poff, psize = struct.unpack_from("<BBII", data, o + 2)
            label = data[o + 12:o + 28].split(b"\0")[0].decode("ascii", "replace")
            parts.append({"label": label, "type": ptype, "subtype": sub,
                          "offset": f"0x{poff:x}", "bytes": psize})
        info["partitions"] = parts
        info["romfs_partition"] = any(p["label"] == "romfs" for p in parts)
    return info


def check_uf2(data, board="rp2040_gw"):
    want = BOARDS[board]
    if not data or len(data) % 512:
        raise ImageError(f"not a UF2 file: {len(data)} bytes is not a multiple of 512")
    nblocks = len(data) // 512
    total = None
    lo, hi, payload = None, 0, 0
    for i in range(nblocks):
        b = data[i * 512:(i + 1) * 512]
        m0, m1, flags, addr, size, blockno, num, family = struct.unpack_from("<8I", b)
        (mend,) = struct.unpack_from("<I", b, 508)
        if (m0, m1, mend) != (UF2_MAGIC0, UF2_MAGIC1, UF2_MAGIC_END):
            raise ImageError(f"UF2 block {i}: bad magic")
        if flags & UF2_FLAG_NOT_MAIN_FLASH:
            continue
        if size > 476:
            raise ImageError(f"UF2 block {i}: payload {size} > 476 bytes")
        if not flags & UF2_FLAG_FAMILY or family != want["family"]:
            raise ImageError(f"UF2 block {i}: family 0x{family:08x}, board {board} needs "
                             f"RP2040 (0x{want['family']:08X})")
        if total is None:
            total = num
        if num != total or blockno != i:
            raise ImageError(f"UF2 block {i}: numbered {blockno} of {num}, expected {i} of "
                             f"{total}")
        if not 0x10000000 <= addr < 0x10000000 + want["flash_bytes"]:
            raise ImageError(f"UF2 block {i}: address 0x{addr:08x} is outside flash")
        lo = addr if lo is None else min(lo, addr)
        hi = max(hi, addr + size)
        payload += size
    if total != nblocks:
        raise ImageError(f"UF2 file has {nblocks} blocks, its header says {total}")
    return {"format": "uf2", "family": f"0x{RP2040_FAMILY:08x}", "blocks": nblocks,
            "payload_bytes": payload, "flash_range": [f"0x{lo:08x}", f"0x{hi:08x}"]}


def esptool_argv(port, firmware, baud, erase):
    if importlib.util.find_spec("esptool"):
        base = [sys.executable, "-m", "esptool"]
    else:
        base = [shutil.which("esptool.py") or shutil.which("esptool") or "esptool.py"]
    common = base + ["--chip", BOARDS["esp32_gw"]["chip"], "--port", port, "--baud", str(baud)]
    cmds = [common + ["erase_flash"]] if erase else []
    return cmds + [common + ["write_flash", f"0x{BOARDS['esp32_gw']['offset']:x}",
                             str(firmware)]]


def find_rp2_drive():
    for root in ("/media", "/run/media", "/mnt"):
        for info in Path(root).glob("**/INFO_UF2.TXT") if Path(root).exists() else ():
            if "RP2" in info.read_text(errors="replace"):
                return info.parent
    return None


def rp2040_plan(port, firmware, mount):
    picotool = shutil.which("picotool")
    plan = [["gwtool:repl-exec", port, "import machine; machine.bootloader()"]]
    if picotool and not mount:
        plan.append([picotool, "load", "-x", str(firmware)])
    else:
        plan.append(["cp", str(firmware), str(mount or "<RPI-RP2 drive>") + "/"])
    return plan


def run_plan(plan, firmware):
    for argv in plan:
        if argv[0] == "gwtool:repl-exec":
            try:
                with BoardLink(argv[1], timeout=3) as link:
                    link.ser.write(b"\r\x01" + argv[2].encode() + b"\x04")
            except LinkError:
                pass  # already in BOOTSEL (no REPL): go on with the copy
            time.sleep(BOOTSEL_WAIT_S)
        elif argv[0] == "cp":
            dest = Path(argv[2]) if not argv[2].startswith("<") else find_rp2_drive()
            if dest is None:
                raise click.ClickException("no RPI-RP2 drive found; mount it and pass --mount")
            data = Path(firmware).read_bytes()
            with open(dest / Path(firmware).name, "wb") as f, click.progressbar(
                    length=len(data), label="copying UF2", file=sys.stderr) as bar:
                for i in range(0, len(data), 65536):
                    f.write(data[i:i + 65536])
                    bar.update(min(65536, len(data) - i))
        else:
            if subprocess.call(argv):
                raise click.ClickException(f"failed: {' '.join(argv)}")


@click.command("flash")
@click.option("--board", required=True, type=click.Choice(sorted(BOARDS)))
@click.option("--port", "-p", envvar="GW_PORT", required=True, help="serial port of the board")
@click.argument("firmware", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="validate the image, show the commands, check "
              "the REPL answers; write nothing")
@click.option("--flash-baud", default=460800, show_default=True, help="esptool baud rate")
@click.option("--erase", is_flag=True, help="erase the whole flash first (ESP32; loses /data)")
@click.option("--mount", default=None, help="RP2040: the RPI-RP2 drive's mount point")
@baud_option()
@click.option("--wait", default=30.0, show_default=True, help="seconds to wait for the REPL")
@click.option("--json", "as_json", is_flag=True)
def command(board, port, firmware, dry_run, flash_baud, erase, mount, baud, wait, as_json):
    """Flash MicroPython onto a board, then check that its REPL answers."""
    data = Path(firmware).read_bytes()
    image = check_esp32(data, board) if board == "esp32_gw" else check_uf2(data, board)
    plan = (esptool_argv(port, firmware, flash_baud, erase) if board == "esp32_gw"
            else rp2040_plan(port, firmware, mount))
    if not as_json:
        click.echo(f"image ok: {image}")
        for argv in plan:
            click.echo(("would run: " if dry_run else "running: ") + " ".join(argv))
    if not dry_run:
        if board == "esp32_gw" and not (importlib.util.find_spec("esptool")
                                        or shutil.which("esptool.py")):
            raise click.ClickException("esptool is not installed (pip install esptool)")
        run_plan(plan, firmware)
        time.sleep(1)
    try:
        repl = wait_for_repl(port, wait, baud)
    except LinkError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        echo_json({"image": image, "plan": plan, "dry_run": dry_run, "repl": repl})
    else:
        click.echo(f"REPL answers on {port}: MicroPython {repl['micropython']} "
                   f"({repl['platform']}), application {repl.get('version') or 'not deployed'}")
