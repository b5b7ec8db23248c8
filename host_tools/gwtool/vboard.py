"""`gwtool vboard`: boot the unix board firmware in the MicroPython unix port.

Same path a device takes: frozen boot.py mounts the built ROMFS image with vfs.VfsRom,
the data partition is a littlefs2 image on a block device class, main.py starts the
app. The REPL is on a pseudo-terminal, the RS485 bus on a second one, the radio on a
local TCP socket. `-X heapsize` = the board's budget plus the ROMFS image size (the
image is read into the heap here, where a device maps it from flash).
"""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from .boards import board_facts
from .build import build
from .paths import FROZEN, micropython, romfs_path
from .ptybridge import PtyLink

FLASH_BLOCKS = 512  # 2 MiB data partition of 4 KiB blocks


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class VBoard:
    """A running virtual board. Use as a context manager or call start()/stop()."""

    def __init__(self, workdir, heap=None, rebuild=True, extra_config=None, log=None):
        self.workdir = Path(workdir).resolve()
        self.heap = heap
        self.rebuild = rebuild
        self.extra = extra_config or {}
        self.log = log
        self.proc = None
        self.repl = self.rs485 = None
        self.endpoints = None

    def start(self, timeout=30):
        self.workdir.mkdir(parents=True, exist_ok=True)
        for f in ("ready.json", "endpoints.json"):
            (self.workdir / f).unlink(missing_ok=True)
        if self.rebuild or not romfs_path("unix").exists():
            build("unix")
        romfs = romfs_path("unix")
        facts = board_facts("unix")
        heap = self.heap or facts["HEAP_BYTES"] + romfs.stat().st_size + 4096
        console_log = open(self.workdir / "console.log", "ab", buffering=0)
        self.repl = PtyLink("repl", tap=lambda d, b: d == "a->b" and console_log.write(b))
        self.rs485 = PtyLink("rs485")
        radio_port = self.extra.pop("radio_port", None) or free_port()
        cfg = {
            "romfs": str(romfs),
            "flash": str(self.workdir / "flash.lfs2"),
            "flash_blocks": FLASH_BLOCKS,
            "flash_block_size": 4096,
            "workdir": str(self.workdir),
            "rs485": self.rs485.a_path,
            "radio": f"127.0.0.1:{radio_port}",
            **self.extra,
        }
        cfg_path = self.workdir / "vboard.json"
        cfg_path.write_text(json.dumps(cfg, indent=1))
        # frozen/ stands in for the frozen modules; the application comes from ROMFS only
        env = dict(os.environ, GW_VBOARD=str(cfg_path), MICROPYPATH=f"{FROZEN}:.frozen")
        slave = os.open(self.repl.a_path, os.O_RDWR | os.O_NOCTTY)
        err = open(self.workdir / "stderr.log", "ab")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [micropython(), "-X", f"heapsize={heap}", "-c", "import boot\nimport main\n"],
            stdin=slave, stdout=slave, stderr=err, env=env, cwd=self.workdir,
            start_new_session=True,
        )
        os.close(slave)
        err.close()
        ready = self.workdir / "ready.json"
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.proc.poll() is not None:
                time.sleep(0.3)
                raise RuntimeError("virtual board exited during boot:\n"
                                   + (self.workdir / "stderr.log").read_text()[-3000:]
                                   + (self.workdir / "console.log").read_text()[-3000:])
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("virtual board did not become operational")
            time.sleep(0.01)
        self.boot_ms = (time.monotonic() - self.t0) * 1000
        info = json.loads(ready.read_text())
        fw = info.get("endpoints", {})
        self.endpoints = {
            "repl": self.repl.b_path,
            "rs485": self.rs485.b_path,
            "radio": cfg["radio"],
            "han": fw.get("han"),
            "pid": self.proc.pid,
            "heapsize": heap,
            "operational_ms": info.get("operational_ms"),
        }
        for k, v in fw.items():
            self.endpoints.setdefault(k, v)
        self.write_endpoints()
        return self

    def write_endpoints(self, **more):
        self.endpoints.update(more)
        tmp = self.workdir / "endpoints.json.tmp"
        tmp.write_text(json.dumps(self.endpoints, indent=1))
        os.replace(tmp, self.workdir / "endpoints.json")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """Power cut: SIGKILL, no chance to flush anything."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        for link in (self.repl, self.rs485):
            if link:
                link.close()
        self.repl = self.rs485 = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()
