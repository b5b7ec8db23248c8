"""Test helpers: the HAN service on a fake core, running in the MicroPython unix port."""
import json
import subprocess
import threading
from pathlib import Path

from gwtool import mpy
from gwtool.sim_han import cls_emt, han_config

HERE = Path(__file__).parent
T0 = 1700000000 - 1700000000 % 900  # as fakecore.T0
NOW = T0 + 86400


class _PortTaken(RuntimeError):
    pass


class FakeGateway:
    def __init__(self, workdir, extra=None, with_cls=False, heap="1M"):
        try:
            self._start(workdir, extra, with_cls, heap)
        except _PortTaken:
            # free_port() picks a port that another process on this shared machine may take
            # before the gateway binds it: once more with new ports
            self._start(workdir, extra, with_cls, heap)

    def _start(self, workdir, extra, with_cls, heap):
        extra = json.loads(json.dumps(extra or {}))  # _start may run twice: keep the caller's
        self.workdir = Path(workdir)
        self.emt = None
        cas = None
        if with_cls:
            self.emt, cas = cls_emt(self.workdir)
        han, self.users, self.fp = han_config(self.workdir, cas, emt=self.emt)
        han["outputs_file"] = str(self.workdir / "outputs.json")
        more = dict((extra or {}).pop("han", {}))
        han["users"].update(more.pop("users", {}))
        han.update(more)
        self.cfg = {"han": han, "pki": str(self.workdir / "data-pki"), **(extra or {})}
        (self.workdir / "data-pki").mkdir(exist_ok=True)
        cfgp = self.workdir / "fake.json"
        cfgp.write_text(json.dumps(self.cfg))
        self.log = open(self.workdir / "mp.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            mpy.command(HERE / "serve_fake.py", heap, [cfgp]), env=mpy.env_for([HERE]),
            stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=self.workdir)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.proc.kill()
            out = line + self.proc.stdout.read() + (self.workdir / "mp.log").read_text()
            self.log.close()
            if self.emt is not None:
                self.emt.stop()
            if "EADDRINUSE" in out or "Errno 98" in out:
                raise _PortTaken(out)
            raise RuntimeError("fake gateway failed: " + out)
        threading.Thread(target=self._drain, daemon=True).start()
        parts = line.split()
        self.port = int(parts[1])
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca = str(self.workdir / "han-pki" / "han.pem")
        self.cls = parts[2] if parts[2] != "None" else None

    def _drain(self):
        with open(self.workdir / "mp.out", "w") as f:
            for ln in self.proc.stdout:
                f.write(ln)
                f.flush()

    def user(self, key):
        u = self.users[key]
        return u["user"], u["password"]

    def stop(self):
        self.proc.kill()
        self.proc.wait(5)
        if self.emt:
            self.emt.stop()
        self.log.close()
