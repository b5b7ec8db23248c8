"""Provisioning when the gateway has a security module (ctx.secmod, docs/contracts.md):
the key is made on the gateway and never crosses the link, possession is proven by a
signed challenge, and the TLS session uses the module's key."""
import json

import pytest
from gwtool.pki import make_pki
from toolchain_gwa import GwaServer

VBOARD_EXTRA_HEAP = (48 + 64) * 1024  # see test_gwtool_provision.py

SETUP = """import app, os
from crypto.secmod import SoftSecMod
import app.provision as P
P.mkdirs('/data/pki')
app.CTX.secmod = SoftSecMod(key_path=P.KEY, meter_keys_path=P.METER_KEYS, create=True)
print(len(app.CTX.secmod.public_key()))
"""


@pytest.fixture(scope="module")
def secmod_gateway(gateway):
    if not gateway.virtual:
        pytest.skip("a real board brings its own security module")
    try:
        out = gateway.exec(SETUP, timeout=60)
    except Exception as e:  # noqa: BLE001 - the module belongs to another layer
        pytest.skip(f"no software security module in this build: {e}")
    assert out.strip() == "65"
    return gateway


def test_key_from_the_security_module_and_proof_of_possession(gw, secmod_gateway, tmp_path):
    gateway = secmod_gateway
    pki = make_pki(tmp_path / "pki", emts=1).dir
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"version": 1}))
    pub = gateway.exec("import binascii\nprint(binascii.hexlify(app.CTX.secmod.public_key())"
                       ".decode())").strip()
    srv = GwaServer(pki, pki)
    r = gw("provision", "-p", gateway.port, "--pki", pki, "--config", cfg, "--check",
           f"127.0.0.1:{srv.port}", "--json")
    srv.join()
    res = json.loads(r.stdout)
    assert res["public_key"] == pub
    assert res["steps"]["key"] == {"status": "skipped", "detail": "present (secmod)"}
    assert res["steps"]["cert"]["detail"].endswith("proof of possession: yes")
    assert res["steps"]["check"]["status"] == "done" and srv.error is None
    # no key material was written by the host: the file is the module's own
    assert "key" not in res["journal"]


def test_a_wrong_possession_signature_stops_the_certificate(gw, secmod_gateway, tmp_path):
    gateway = secmod_gateway
    pki = make_pki(tmp_path / "pki", emts=0).dir
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"version": 1}))
    gateway.exec("import os, app\nos.remove('/data/pki/gateway.der')\n"
                 "_real_sign = app.CTX.secmod.sign\n"
                 "app.CTX.secmod.sign = lambda d: _real_sign(bytes(32))")
    try:
        r = gw("provision", "-p", gateway.port, "--pki", pki, "--config", cfg, "--steps",
               "cert", ok=False)
    finally:
        gateway.exec("app.CTX.secmod.sign = _real_sign")
    assert r.exit_code == 1 and "proof of possession failed" in r.output
    assert gateway.exec("import os\ntry:\n os.stat('/data/pki/gateway.der')\n print(1)\n"
                        "except OSError:\n print(0)").strip() == "0"
