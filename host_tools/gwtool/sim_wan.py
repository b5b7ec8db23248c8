"""Simulator peer: the gateway administrator (GWA) and EMT servers, mutual TLS on loopback.

Writes DIR/emt/<id>/received/ + index.json (gwtool.emt_server) and DIR/gwa/
(gwtool.gwa_server). Factory provisioning of the virtual board: the gateway key,
certificate, trusted CAs and pinned peer certificates are put in DIR/provision/ in the
/data layout; the board copies what it lacks at first boot (wan.service.provision).
Options (sim.options["wan"]): emts (count, default 3), tafs (list per EMT), aliases,
schedule_s, retry (min, max gateway seconds), gwa_poll_s.
"""
import shutil
from pathlib import Path

from .pki import make_pki

DEFAULT_TAFS = (["TAF1"], ["TAF7"], ["TAF6", "TAF7"])
DEFAULT_ALIASES = (None, None, "PSEUDO-3")


def provision_dir(pki, dst, peers=(), key_name="gateway"):
    """Lay out a PKI for the gateway's /data: pki/gateway.key (raw scalar),
    pki/gateway.der, pki/ca/{sub,root}.der, pki/peers/<peer>.der."""
    dst = Path(dst)
    (dst / "pki" / "ca").mkdir(parents=True, exist_ok=True)
    (dst / "pki" / "peers").mkdir(parents=True, exist_ok=True)
    src = Path(pki.dir)
    shutil.copy(src / f"{key_name}.key.der", dst / "pki" / "gateway.key")
    shutil.copy(src / f"{key_name}.der", dst / "pki" / "gateway.der")
    for ca in ("sub", "root"):
        shutil.copy(src / f"{ca}.der", dst / "pki" / "ca" / f"{ca}.der")
    for p in peers:
        shutil.copy(src / f"{p}.der", dst / "pki" / "peers" / f"{p}.der")
    return dst


def emt_profiles(servers, tafs=DEFAULT_TAFS, aliases=DEFAULT_ALIASES, schedule_s=900):
    out = []
    for i, s in enumerate(servers):
        e = {"id": s.id, "host": "127.0.0.1", "port": s.port, "peer": s.cert_name,
             "enc_cert": s.enc_name, "tafs": list(tafs[i % len(tafs)]),
             "schedule_s": schedule_s}
        if aliases[i % len(aliases)]:
            e["alias"] = aliases[i % len(aliases)]
        out.append(e)
    return out


def _free_udp_port():
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Peer:
    name = "wan"

    def __init__(self, sim):
        from .emt_server import EmtServer

        self.sim = sim
        self.opts = dict(sim.options.get("wan") or {})
        if sim.heap is None and not self.opts.get("board_heap"):
            # The configured WAN (GWA + 3 EMTs, TLS, CMS) does not fit next to the other
            # layers in the unix board's 128 KiB on the x64 port (objects twice the size
            # of the 32-bit boards'): give the simulation room unless asked not to
            # (options {"wan": {"board_heap": true}}); docs/wan.md "Memory".
            from .paths import romfs_path

            try:
                sim.heap = romfs_path("unix").stat().st_size + 512 * 1024
            except OSError:
                sim.heap = 1024 * 1024
        n = self.opts.get("emts", 3)
        self.pki = make_pki(sim.workdir / "pki", emts=n)
        self.emts = [EmtServer(f"emt{i}", self.pki.dir, sim.workdir) for i in range(1, n + 1)]
        for e in self.emts:
            e.up()
        self.gwa = None
        try:
            from .gwa_server import GwaServer

            self.gwa = GwaServer(self.pki, sim.workdir, gateway_id=self.opts.get(
                "gateway_id", "EGWT0000000001"))
        except ImportError:
            pass
        peers = ["gwa"] + [e.cert_name for e in self.emts]
        provision_dir(self.pki, sim.workdir / "provision", peers)
        self.wan_cfg = {
            "gateway_id": self.opts.get("gateway_id", "EGWT0000000001"),
            "emts": emt_profiles(self.emts, self.opts.get("tafs", DEFAULT_TAFS),
                                 self.opts.get("aliases", DEFAULT_ALIASES),
                                 self.opts.get("schedule_s", 900)),
        }
        if self.gwa:
            self.gwa.up()
            self.wan_cfg["gwa"] = {"name": "gwa", "host": "127.0.0.1", "port": self.gwa.port,
                                   "poll_s": self.opts.get("gwa_poll_s", 900),
                                   "wakeup_port": _free_udp_port()}

    def vboard_config(self):
        cfg = {"wan_provision": str(self.sim.workdir / "provision"), "wan": self.wan_cfg}
        if self.opts.get("retry"):
            cfg["wan_retry"] = list(self.opts["retry"])
        return cfg

    def start(self):
        if self.gwa:
            self.gwa.attach(self.sim)

    def endpoints(self):
        eps = {"emt": {e.id: f"127.0.0.1:{e.port}" for e in self.emts}}
        if self.gwa:
            eps["gwa"] = f"127.0.0.1:{self.gwa.port}"
        return eps

    def step(self):
        if self.gwa:
            self.gwa.step()

    def stop(self):
        for e in self.emts:
            e.down()
        if self.gwa:
            self.gwa.down()
