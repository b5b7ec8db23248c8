"""gwtool provision --port P --pki DIR --config FILE: from a bare gateway to a provisioned one.

Steps, in order; each is checked against what the gateway reports (firmware/app/provision.py
`state()`), skipped when already done, verified after it runs and recorded in the
gateway's journal /data/provision.json, so an interrupted run is simply run again:

  key         the gateway key pair. Created inside the security module when it can
              generate (ctx.secmod.generate(); only the public point leaves it). Without
              one (the virtual board, or a dev board with --allow-key-load) the host
              generates a P-256 key and loads it: /data/pki/gateway.key (raw scalar,
              contracts.md) + gateway.pub. The private key is never read back or printed.
  cert        a certificate for that public key signed by the PKI's sub-CA (the key
              never leaves the gateway: the host certifies the exported public key; when
              the security module can sign, a fresh challenge signature proves possession
              first). -> /data/pki/gateway.der; a copy goes to DIR/issued/.
  trust       CA certificates (root, sub-CA) -> /data/pki/ca/*.der; the GWA and EMT
              certificates (and --peer names) -> /data/pki/peers/<name>.der.
  han         the HAN portal's TLS server identity: a fresh P-256 key and a certificate
              for it (CN "<cn>-han", SAN localhost/127.0.0.1) from the sub-CA ->
              /data/pki/han.key (raw scalar) + han.der. Done when the journal records
              the installed certificate's digest.
  meter-keys  {"<meter id>": "<32 hex>"} from --keys or the config's "meter_keys" ->
              /data/keys/meters.json. Only the count is ever shown.
  config      the configuration (without "meter_keys"; must have "version") ->
              /data/config/active.json.
  check       with --check HOST:PORT: a mutual-TLS session from the gateway, with the
              provisioned key and certificate, to a server acting as the GWA.

Every file is written atomically (tmp + SHA-256 check + rename, see board_link.write_file).
"""
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import click
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from . import pki as _pki
from .board_link import ReplError, baud_option, echo_json, open_link, port_option

STEPS = ("key", "cert", "trust", "han", "meter-keys", "config", "check")
KEY = "/data/pki/gateway.key"
PUB = "/data/pki/gateway.pub"
CERT = "/data/pki/gateway.der"
HAN_CERT = "/data/pki/han.der"
HAN_KEY = "/data/pki/han.key"
METER_KEYS = "/data/keys/meters.json"
CONFIG = "/data/config/active.json"
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


class ProvisionError(click.ClickException):
    pass


class _PublicOnly:
    """What pki._issue needs from a key: its public half (the private one stays put)."""

    def __init__(self, public):
        self._public = public

    def public_key(self):
        return self._public


def load_inputs(config_path, keys_path):
    """(config without meter keys, meter keys) from the files; errors never show keys."""
    try:
        config = json.loads(Path(config_path).read_text())
    except (OSError, ValueError) as e:
        raise ProvisionError(f"{config_path}: not a JSON configuration ({e})") from None
    if not isinstance(config, dict) or "version" not in config:
        raise ProvisionError(f"{config_path}: the configuration needs a \"version\"")
    keys = config.pop("meter_keys", None) or {}
    if keys_path:
        try:
            keys = json.loads(Path(keys_path).read_text())
        except (OSError, ValueError):
            raise ProvisionError(f"{keys_path}: not a JSON object of meter keys") from None
    if not isinstance(keys, dict):
        raise ProvisionError("meter keys must be a JSON object {meter id: 32 hex digits}")
    for mid, k in keys.items():
        if not isinstance(k, str) or not _HEX32.match(k):
            raise ProvisionError(f"meter key for {mid!r} is not 16 bytes of hex (value hidden)")
    return config, {mid: k.lower() for mid, k in sorted(keys.items())}


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


class Provisioner:
    def __init__(self, link, pki_dir, config, meter_keys, cn="gateway", peers=(),
                 allow_key_load=False, check=None, server_name="localhost"):
        self.link = link
        self.dir = Path(pki_dir)
        for f in ("root.der", "sub.der", "sub.crt", "sub.key"):
            if not (self.dir / f).exists():
                raise ProvisionError(f"{pki_dir}: no {f}; make the PKI with `gwtool pki DIR`")
        self.config = config
        self.meter_keys = meter_keys
        self.cn = cn
        self.peers = list(peers)
        self.allow_key_load = allow_key_load
        self.check_addr = check
        self.server_name = server_name
        self.info = link.info()
        self.st = None
        self.public = None  # 65-byte point of the gateway key, once known
        self.report = {}

    # -- device state ---------------------------------------------------------------------
    def refresh(self):
        try:
            self.st = self.link.call("app.provision", "state")
        except ReplError as e:
            if "ImportError" in e.traceback:
                raise ProvisionError("no gateway application with app.provision on the "
                                     "board: run `gwtool deploy` first") from None
            raise
        pub = self.st["key"]["public"]
        self.public = bytes.fromhex(pub) if pub else None
        return self.st

    def _file_done(self, path, data):
        return self.st["files"].get(path) == _sha(data)

    def _put(self, path, data):
        if self._file_done(path, data):
            return False
        self.link.write_file(path, data)
        return True

    def mark(self, step, info):
        self.link.call("app.provision", "mark", step, info)

    # -- steps ---------------------------------------------------------------------------
    def step_key(self):
        if self.public:
            return "skipped", f"present ({self.st['key']['where']})"
        pub = self.link.call("app.provision", "generate_key", retry=False)
        if pub:
            self.refresh()
            return "done", "created in the security module"
        if not (self.info["virtual"] or self.allow_key_load):
            raise ProvisionError("the board's security module cannot create the key; "
                                 "refusing to load a host-made key into a real board "
                                 "(use --allow-key-load on development boards)")
        key = ec.generate_private_key(ec.SECP256R1())
        scalar = key.private_numbers().private_value.to_bytes(32, "big")
        point = key.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
        # scalar first: a run interrupted between the two files has no public point
        # on the device, so the next run makes a fresh key instead of trusting half of one
        self.link.write_file(KEY, scalar)
        del scalar, key
        self.link.write_file(PUB, point)
        self.refresh()
        if self.public != point:
            raise ProvisionError("key step not verified: the gateway reports another key")
        return "done", "loaded into the gateway's key store (virtual board)"

    def _device_cert(self):
        if not self.st["files"].get(CERT):
            return None
        try:
            return x509.load_der_x509_certificate(self.link.read_file(CERT))
        except ValueError:
            return None

    def _cert_ok(self, crt, sub):
        if crt is None or self.public is None:
            return False
        pub = crt.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint)
        try:
            crt.verify_directly_issued_by(sub)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return pub == self.public

    def _proof_of_possession(self, public_key):
        challenge = os.urandom(32)
        rs = self.link.call("app.provision", "sign", challenge.hex())
        if rs is None:
            return "no (the key store cannot sign yet)"
        sig = encode_dss_signature(rs[0], rs[1])
        try:
            public_key.verify(sig, challenge, ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature:
            raise ProvisionError("proof of possession failed: the gateway's signature does "
                                 "not verify with its public key") from None
        return "yes"

    def step_cert(self):
        if self.public is None:
            raise ProvisionError("no gateway key: run the key step first")
        sub_crt, sub_key = _pki._load(self.dir, "sub")
        if self._cert_ok(self._device_cert(), sub_crt):
            return "skipped", "certificate on the gateway matches its key"
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.public)
        pop = self._proof_of_possession(public_key)
        crt = _pki._issue(self.cn, _PublicOnly(public_key), sub_crt, sub_key, server=True,
                          client=True)
        der = crt.public_bytes(serialization.Encoding.DER)
        self.link.write_file(CERT, der)
        issued = self.dir / "issued"
        issued.mkdir(exist_ok=True)
        (issued / f"{self.cn}-{self.public.hex()[2:18]}.crt").write_bytes(
            crt.public_bytes(serialization.Encoding.PEM))
        self.refresh()
        if self.st["files"].get(CERT) != _sha(der):
            raise ProvisionError("certificate not verified on the gateway")
        return "done", (f"serial {crt.serial_number:x}, issuer {sub_crt.subject.rfc4514_string()}"
                        f", proof of possession: {pop}")

    def trust_files(self):
        files = {f"/data/pki/ca/{n}.der": (self.dir / f"{n}.der").read_bytes()
                 for n in ("root", "sub")}
        # certificates only: DIR also holds <name>.key.der private keys, which stay there
        emts = sorted(p.stem for p in self.dir.glob("emt*.der") if re.fullmatch(r"emt\d+\.der",
                                                                                 p.name))
        names = ["gwa"] + emts + self.peers
        for n in names:
            p = self.dir / f"{n}.der"
            if not re.fullmatch(r"[\w.-]+", n) or n.endswith(".key") or not p.exists():
                raise ProvisionError(f"{p}: no such certificate in the PKI directory")
            files[f"/data/pki/peers/{n}.der"] = p.read_bytes()
        return files

    def step_trust(self):
        files = self.trust_files()
        written = [p for p, data in files.items() if self._put(p, data)]
        self.refresh()
        bad = [p for p, data in files.items() if not self._file_done(p, data)]
        if bad:
            raise ProvisionError(f"not verified on the gateway: {', '.join(bad)}")
        names = sorted(Path(p).stem for p in files)
        if not written:
            return "skipped", f"{len(files)} certificates already installed"
        return "done", f"{len(written)} of {len(files)} written ({', '.join(names)})"

    def step_han(self):
        have = self.st["files"].get(HAN_CERT)
        if have and self.st.get("han_key") and self.st["steps"].get("han", {}).get(
                "sha256") == have:
            return "skipped", "HAN server certificate installed"
        sub_crt, sub_key = _pki._load(self.dir, "sub")
        key = ec.generate_private_key(ec.SECP256R1())
        crt = _pki._issue(f"{self.cn}-han", key, sub_crt, sub_key, server=True, client=False)
        der = crt.public_bytes(serialization.Encoding.DER)
        # key first, certificate second, journal last: any interruption redoes both
        self.link.write_file(HAN_KEY, key.private_numbers().private_value.to_bytes(32, "big"))
        del key
        self.link.write_file(HAN_CERT, der)
        self.refresh()
        if self.st["files"].get(HAN_CERT) != _sha(der) or not self.st.get("han_key"):
            raise ProvisionError("HAN certificate not verified on the gateway")
        return "done", {"sha256": _sha(der), "cn": f"{self.cn}-han",
                        "serial": f"{crt.serial_number:x}"}

    def step_meter_keys(self):
        data = _canonical(self.meter_keys)
        written = self._put(METER_KEYS, data)
        self.refresh()
        if not self._file_done(METER_KEYS, data):
            raise ProvisionError("meter keys not verified on the gateway")
        n = len(self.meter_keys)
        return ("done" if written else "skipped"), f"{n} meter keys"

    def step_config(self):
        data = _canonical(self.config)
        written = self._put(CONFIG, data)
        self.refresh()
        if not self._file_done(CONFIG, data):
            raise ProvisionError("configuration not verified on the gateway")
        return ("done" if written else "skipped"), f"version {self.config['version']}"

    def step_check(self):
        if not self.check_addr:
            return "skipped", "no --check server given"
        host, _, port = self.check_addr.rpartition(":")
        try:
            res = self.link.call("app.provision", "tls_check", host or "127.0.0.1", int(port),
                                 self.server_name, timeout=30, retry=False)
        except ReplError as e:
            raise ProvisionError(f"TLS check against {self.check_addr} failed on the gateway: "
                                 f"{e}") from None
        return "done", f"mutual TLS with {self.check_addr}: reply {res['reply'].strip()!r}"

    def run(self, steps, on_step=None):
        self.refresh()
        for step in steps:
            if on_step:
                on_step(step)
            status, detail = getattr(self, "step_" + step.replace("-", "_"))()
            if status == "done":
                self.mark(step, detail)
            self.report[step] = {"status": status, "detail": detail}
        self.refresh()
        return {"steps": self.report, "public_key": self.public.hex() if self.public else None,
                "journal": self.st["steps"], "board": self.info.get("board"),
                "virtual": self.info["virtual"]}


@click.command("provision")
@port_option()
@baud_option()
@click.option("--pki", "pki_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="test PKI directory (gwtool pki DIR)")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True),
              help="initial configuration (JSON, with \"version\")")
@click.option("--keys", "keys_path", default=None, type=click.Path(exists=True),
              help="meter keys JSON {meter id: 32 hex}; default: the config's meter_keys")
@click.option("--cn", default="gateway", show_default=True, help="certificate common name")
@click.option("--peer", "peers", multiple=True, help="extra peer certificate name in DIR")
@click.option("--steps", default=",".join(STEPS), show_default=True,
              help="comma-separated subset of the steps to run")
@click.option("--check", default=None, metavar="HOST:PORT",
              help="finish with a mutual-TLS session to this GWA server")
@click.option("--server-name", default="localhost", show_default=True,
              help="name the --check server's certificate must carry")
@click.option("--allow-key-load", is_flag=True,
              help="on a real board without a key-generating security module, load a "
                   "host-generated key (development boards only)")
@click.option("--json", "as_json", is_flag=True)
def command(port, baud, pki_dir, config_path, keys_path, cn, peers, steps, check, server_name,
            allow_key_load, as_json):
    """Provision the gateway: key, certificate, trust, meter keys, configuration."""
    wanted = [s.strip() for s in steps.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(STEPS))
    if unknown:
        raise click.BadParameter(f"unknown steps {unknown}; steps: {', '.join(STEPS)}",
                                 param_hint="--steps")
    wanted = [s for s in STEPS if s in wanted]
    config, keys = load_inputs(config_path, keys_path)
    err = sys.stderr
    with open_link(port, baud, timeout=15) as link:
        prov = Provisioner(link, pki_dir, config, keys, cn, peers, allow_key_load, check,
                           server_name)
        with click.progressbar(length=len(wanted), label="provisioning", file=err,
                               show_pos=True) as bar:
            res = prov.run(wanted, on_step=lambda s: bar.update(1, s))
    if as_json:
        echo_json(res)
        return
    for step, r in res["steps"].items():
        d = r["detail"]
        if isinstance(d, dict):
            d = ", ".join(f"{k} {v}" for k, v in sorted(d.items()) if k != "sha256")
        click.echo(f"{step:<11} {r['status']:<8} {d}")
    if res["public_key"]:
        click.echo(f"gateway key {res['public_key'][:20]}... provisioned")
    if any(r["status"] == "done" for s, r in res["steps"].items() if s != "check"):
        click.echo("restart the gateway (gwtool reset --hard; virtual board: power-cycle it) "
                   "so every service loads the new configuration and keys")
