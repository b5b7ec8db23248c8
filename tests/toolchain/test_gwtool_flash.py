"""gwtool flash: image validation and the command line, in dry-run against the gateway."""
import json
import os
import struct

import pytest
from gwtool.cmd_flash import ImageError, check_esp32, check_uf2

# These tests exercise the toolchain, not the heap budget (tests/foundation and the bench
# hold the firmware to it): headroom so that a layer over budget cannot fail them.
VBOARD_EXTRA_HEAP = 64 * 1024


def esp32_image(chip_id=9, nseg=2, partitions=True):
    head = struct.pack("<BBBBI", 0xE9, nseg, 2, 0x3F, 0x40380000)
    ext = struct.pack("<B3sHBHH4sB", 0xEE, b"\0\0\0", chip_id, 0, 0, 0xFFFF, b"\0" * 4, 0)
    body = b"".join(struct.pack("<II", 0x3FC80000 + 0x1000 * i, 64) + os.urandom(64)
                    for i in range(nseg))
    img = bytearray(head + ext + body)
    if partitions:
        img += b"\xff" * (0x8000 - len(img))
        for label, t, st, off, size in (("nvs", 1, 2, 0x9000, 0x6000),
                                        ("factory", 0, 0, 0x10000, 0x1F0000),
                                        ("romfs", 0x0A, 0, 0x200000, 0x100000),
                                        ("vfs", 1, 0x81, 0x300000, 0x500000)):
            img += b"\xaa\x50" + struct.pack("<BBII", t, st, off, size) + \
                label.encode().ljust(16, b"\0") + b"\0" * 4
        img += b"\xff" * 64
    return bytes(img)


def uf2_image(n=4, family=0xE48BFF56, flags=0x2000, base=0x10000000):
    out = b""
    for i in range(n):
        out += struct.pack("<8I", 0x0A324655, 0x9E5D5157, flags, base + 256 * i, 256, i, n,
                           family) + os.urandom(256).ljust(476, b"\0") + \
            struct.pack("<I", 0x0AB16F30)
    return out


def test_esp32_image_checks():
    info = check_esp32(esp32_image())
    assert info["chip"] == "ESP32-S3" and len(info["segments"]) == 2
    assert info["romfs_partition"] and [p["label"] for p in info["partitions"]] == \
        ["nvs", "factory", "romfs", "vfs"]
    with pytest.raises(ImageError, match="is for ESP32,"):
        check_esp32(esp32_image(chip_id=0))
    with pytest.raises(ImageError, match="first byte 0x7f"):
        check_esp32(b"\x7fELF" + b"\0" * 100)
    with pytest.raises(ImageError, match="runs past the file"):
        check_esp32(esp32_image(partitions=False)[:-10])
    with pytest.raises(ImageError, match="segments"):
        check_esp32(esp32_image(nseg=0))


def test_uf2_checks():
    info = check_uf2(uf2_image())
    assert info["blocks"] == 4 and info["payload_bytes"] == 1024
    assert info["flash_range"] == ["0x10000000", "0x10000400"]
    with pytest.raises(ImageError, match="RP2040"):
        check_uf2(uf2_image(family=0xE48BFF59))  # RP2350 ARM-S
    with pytest.raises(ImageError, match="outside flash"):
        check_uf2(uf2_image(base=0x20000000))
    with pytest.raises(ImageError, match="multiple of 512"):
        check_uf2(uf2_image()[:-1])
    bad = bytearray(uf2_image())
    bad[512 + 4] ^= 1
    with pytest.raises(ImageError, match="block 1: bad magic"):
        check_uf2(bytes(bad))
    swapped = uf2_image()
    swapped = swapped[512:1024] + swapped[:512] + swapped[1024:]
    with pytest.raises(ImageError, match="numbered 1 of 4, expected 0"):
        check_uf2(swapped)


def test_flash_esp32_dry_run_shows_esptool_and_checks_repl(gw, gateway, tmp_path):
    fw = tmp_path / "firmware.bin"
    fw.write_bytes(esp32_image())
    r = gw("flash", "--board", "esp32_gw", "--port", gateway.port, fw, "--dry-run", "--json")
    out = json.loads(r.stdout)
    argv = out["plan"][-1]
    assert argv[argv.index("--chip") + 1] == "esp32s3"
    assert argv[argv.index("--port") + 1] == gateway.port
    assert argv[-3:] == ["write_flash", "0x0", str(fw)]
    assert out["repl"]["micropython"].startswith("1.") and out["dry_run"]
    text = gw("flash", "--board", "esp32_gw", "-p", gateway.port, fw, "--dry-run",
              "--erase").output
    assert "would run: " in text and "erase_flash" in text and "REPL answers" in text


def test_flash_rp2040_dry_run(gw, gateway, tmp_path):
    fw = tmp_path / "firmware.uf2"
    fw.write_bytes(uf2_image())
    out = json.loads(gw("flash", "--board", "rp2040_gw", "-p", gateway.port, fw,
                        "--mount", tmp_path / "RPI-RP2", "--dry-run", "--json").stdout)
    assert out["plan"][0][-1] == "import machine; machine.bootloader()"
    assert out["plan"][1] == ["cp", str(fw), str(tmp_path / "RPI-RP2") + "/"]
    assert not (tmp_path / "RPI-RP2").exists()  # dry run: nothing written


def test_flash_refuses_a_wrong_image_before_touching_the_board(gw, tmp_path):
    fw = tmp_path / "firmware.uf2"
    fw.write_bytes(uf2_image())
    r = gw("flash", "--board", "esp32_gw", "-p", tmp_path / "no-such-port", fw, ok=False)
    assert r.exit_code == 1 and "not an ESP32 image" in r.output


def test_flash_dry_run_fails_when_nothing_answers(gw, tmp_path):
    fw = tmp_path / "firmware.bin"
    fw.write_bytes(esp32_image())
    master, slave = os.openpty()
    try:
        r = gw("flash", "--board", "esp32_gw", "-p", os.ttyname(slave), fw, "--dry-run",
               "--wait", "2", ok=False)
    finally:
        os.close(master)
        os.close(slave)
    assert r.exit_code == 1 and "did not answer" in r.output


def test_flash_rp2040_copies_the_uf2_and_waits_for_the_repl(gw, native_repl, tmp_path,
                                                           monkeypatch):
    """The whole non-dry-run path against MicroPython's own REPL standing in for the board
    (its machine.bootloader() request is ignored there) and a folder as the RPI-RP2 drive."""
    import gwtool.cmd_flash

    monkeypatch.setattr(gwtool.cmd_flash, "BOOTSEL_WAIT_S", 0.1)
    fw = tmp_path / "firmware.uf2"
    fw.write_bytes(uf2_image(n=300))
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    out = json.loads(gw("flash", "--board", "rp2040_gw", "-p", native_repl, fw, "--mount",
                        drive, "--json").stdout)
    assert (drive / "firmware.uf2").read_bytes() == fw.read_bytes()
    assert out["repl"]["micropython"].startswith("1.") and not out["dry_run"]
