"""gwtool provision: bare gateway -> key, certificate, trust, meter keys, configuration,
resumable, and the result proven by a mutual-TLS session with a host GWA server."""
import hashlib
import json
import os
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from gwtool.pki import make_pki
from toolchain_gwa import GwaServer

# The TLS self-test runs inside the gateway next to every service; with all layers built
# in, the 128 KiB budget had ~18 KiB free at the time of writing, less than one mbedTLS
# session. This module tests provisioning, not the heap budget (that is the bench's job).
VBOARD_EXTRA_HEAP = (48 + 64) * 1024

METER_KEYS = {"0a01454d480000b8ef47": os.urandom(16).hex(),
              "KAM-12345678": os.urandom(16).hex().upper(),
              "EFE-00000042": os.urandom(16).hex()}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), emts=2).dir


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "gateway.json"
    p.write_text(json.dumps({"version": 3, "gateway": {"id": "EDMI0012345678"},
                             "meters": [{"id": m} for m in METER_KEYS],
                             "meter_keys": METER_KEYS}))
    return p


def _prov(gw, gateway, pki, config, *more, ok=True):
    return gw("provision", "--port", gateway.port, "--pki", pki, "--config", config, *more,
              ok=ok)


def _no_key_in(text):
    low = text.lower()
    return not any(k.lower() in low for k in METER_KEYS.values())


def test_interrupted_then_resumed_provisioning(gw, gateway, pki, config):
    if gateway.virtual:  # a fresh virtual board: start from a bare data partition
        gateway.exec("import os\nfor d in ('/data/pki', '/data/keys', '/data/config'):\n"
                     " try:\n  os.stat(d)\n  raise RuntimeError('not bare: ' + d)\n"
                     " except OSError:\n  pass")
    r = _prov(gw, gateway, pki, config, "--steps", "key,cert", "--json")
    first = json.loads(r.stdout)
    # "skipped" when the gateway's security module made its key at first boot
    assert first["steps"]["key"]["status"] in ("done", "skipped")
    assert first["steps"]["cert"]["status"] == "done" and "cert" in first["journal"]
    assert set(first["journal"]) <= {"key", "cert"}
    # a transfer cut mid-file leaves only a .tmp; the certificate itself gets lost too
    gateway.exec("import app.provision as P, os\nos.remove(P.CERT)\nP.begin(P.CONFIG)\n"
                 "P.chunk('eyJ2ZXJzaW9uIjo=')\nP._f.close()\nP._f = None")
    r = _prov(gw, gateway, pki, config, "--json")
    res = json.loads(r.stdout)
    status = {s: v["status"] for s, v in res["steps"].items()}
    assert status == {"key": "skipped", "cert": "done", "trust": "done", "han": "done",
                      "meter-keys": "done", "config": "done", "check": "skipped"}
    assert res["public_key"] == first["public_key"]  # the key was not made again
    assert res["steps"]["meter-keys"]["detail"] == "3 meter keys"
    assert _no_key_in(r.output)
    again = json.loads(_prov(gw, gateway, pki, config, "--json").stdout)
    assert {v["status"] for v in again["steps"].values()} == {"skipped"}


def test_files_follow_the_data_partition_contract(gateway, pki):
    with gateway.link() as link:
        st = link.call("app.provision", "state")
        assert st["key"]["present"] and st["meter_keys"] == 3 and st["config_version"] == 3
        names = sorted(st["files"])
        assert st["han_key"]
        assert names == sorted(["/data/pki/gateway.der", "/data/keys/meters.json",
                                "/data/pki/han.der",
                                "/data/config/active.json", "/data/pki/ca/root.der",
                                "/data/pki/ca/sub.der", "/data/pki/peers/gwa.der",
                                "/data/pki/peers/emt1.der", "/data/pki/peers/emt2.der"])
        assert link.read_file("/data/pki/peers/gwa.der") == (pki / "gwa.der").read_bytes()
        cfg = json.loads(link.read_file("/data/config/active.json"))
        assert cfg["version"] == 3 and "meter_keys" not in cfg
        if gateway.virtual:  # the contract's software key store: a 32-byte scalar
            size = link.exec("import os\nprint(os.stat('/data/pki/gateway.key')[6])")
            assert size.strip() == "32"
        # what the security module reads: exactly the keys given, lower-case hex (compared
        # by digest: reading the file back would echo the keys)
        want = json.dumps({m: k.lower() for m, k in METER_KEYS.items()}, sort_keys=True,
                          separators=(",", ":")).encode()
        assert link.sha256("/data/keys/meters.json") == hashlib.sha256(want).hexdigest()
    crt = x509.load_der_x509_certificate(_device_cert(gateway))
    issued = x509.load_pem_x509_certificate(next((pki / "issued").glob("gateway-*.crt"))
                                            .read_bytes())
    assert issued == crt  # the operator's copy is the installed certificate
    sub = x509.load_pem_x509_certificate((pki / "sub.crt").read_bytes())
    crt.verify_directly_issued_by(sub)
    pub = crt.public_key().public_bytes(serialization.Encoding.X962,
                                        serialization.PublicFormat.UncompressedPoint)
    assert pub.hex() == st["key"]["public"]


def _device_cert(gateway):
    with gateway.link() as link:
        return link.read_file("/data/pki/gateway.der")


def test_provisioned_gateway_completes_mutual_tls_with_the_gwa(gw, gateway, pki, config):
    srv = GwaServer(pki, pki)
    r = _prov(gw, gateway, pki, config, "--steps", "check", "--check",
              f"127.0.0.1:{srv.port}", "--json")
    srv.join()
    res = json.loads(r.stdout)
    assert srv.error is None, srv.error
    assert res["steps"]["check"]["status"] == "done"
    assert "PONG PING O=SMGW Test PKI,CN=gateway" in res["steps"]["check"]["detail"]
    peer = x509.load_der_x509_certificate(srv.peer)
    assert peer.public_bytes(serialization.Encoding.DER) == _device_cert(gateway)
    pub = peer.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)
    assert pub.hex() == res["public_key"]


def test_tls_check_fails_against_a_gwa_from_another_pki(gw, gateway, pki, config, tmp_path):
    other = make_pki(tmp_path / "other", emts=0).dir
    # the gateway must refuse a server it has no trust anchor for ...
    srv = GwaServer(other, pki)
    r = _prov(gw, gateway, pki, config, "--steps", "check", "--check",
              f"127.0.0.1:{srv.port}", ok=False)
    srv.join()
    assert r.exit_code == 1 and "TLS check" in r.output
    # ... and a GWA that does not trust the gateway's CA refuses the gateway
    srv = GwaServer(pki, other)
    r = _prov(gw, gateway, pki, config, "--steps", "check", "--check",
              f"127.0.0.1:{srv.port}", ok=False)
    srv.join()
    assert r.exit_code == 1 and srv.peer is None and srv.error is not None


def test_meter_keys_never_appear_in_any_output(gw, gateway, pki, config):
    outs = [_prov(gw, gateway, pki, config).output,
            _prov(gw, gateway, pki, config, "--json").output,
            gw("status", "--port", gateway.port, "--json").output,
            gw("status", "--port", gateway.port).output]
    assert all(_no_key_in(o) for o in outs)
    if gateway.virtual:
        wd = gateway.vboard.workdir
        for f in ("console.log", "trace.log", "stderr.log"):
            if (wd / f).exists():
                assert _no_key_in((wd / f).read_text(errors="replace")), f


def test_bad_inputs_are_refused_without_showing_keys(gw, gateway, pki, tmp_path):
    bad = tmp_path / "bad.json"
    secret = "zz" + os.urandom(15).hex()
    bad.write_text(json.dumps({"version": 1, "meter_keys": {"X": secret}}))
    r = gw("provision", "-p", gateway.port, "--pki", pki, "--config", bad, ok=False)
    assert r.exit_code == 1 and "value hidden" in r.output and secret not in r.output
    nover = tmp_path / "nover.json"
    nover.write_text("{}")
    r = gw("provision", "-p", gateway.port, "--pki", pki, "--config", nover, ok=False)
    assert r.exit_code == 1 and "version" in r.output
    r = gw("provision", "-p", gateway.port, "--pki", tmp_path, "--config", nover, ok=False)
    assert r.exit_code == 1


def test_after_a_power_cycle_the_han_portal_serves_the_provisioned_certificate(gateway, pki):
    if not gateway.virtual:
        pytest.skip("the HAN address of a real board is site-specific")
    with gateway.link() as link:
        han_der = link.read_file("/data/pki/han.der")
    gateway.hard_reset()
    url = gateway.vboard.endpoints.get("han")
    if not url:
        pytest.skip("this build has no HAN portal listening")
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(pki / "chain.crt"))
    with socket.create_connection((host, int(port)), timeout=10) as s, \
            ctx.wrap_socket(s, server_hostname="localhost") as t:
        assert t.getpeercert(binary_form=True) == han_der
    cert = x509.load_der_x509_certificate(han_der)
    assert cert.subject.rfc4514_string().startswith("O=SMGW Test PKI,CN=gateway-han")
