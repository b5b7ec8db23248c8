# The GWA's configuration sections for the other layers ("lmn", "han", "link", "wmbus",
# "meters"): each bad inner value is refused up front (ConfigError naming the field, the
# GWA gets "refused", nothing stored), and a bad section already stored (written before
# these checks) no longer costs its layer at boot: logged, the board's config/defaults.
# heapsize: 512K
import hashlib
import json
import os

import vfs
from crypto import ecc, ecdsa
from crypto.secmod import SoftSecMod
from mptest import eq, raises, tmpdir
from wanctx import Ctx

_KEY = 7
_N = [0]
_BASE = {"gateway_id": "G", "gwa": {"host": "h", "port": 1}, "emts": []}


def _dir(name):
    _N[0] += 1
    d = tmpdir() + "/sec_%s_%d_%s" % (name, _N[0], os.urandom(4).hex())  # noqa: UP031
    os.mkdir(d)
    return d


def _refused(cfg, field):
    from wan import config

    with raises(config.ConfigError) as r:
        config.validate(dict(cfg, version=2), 1)
    assert str(r.value).startswith(field + ":"), (cfg, str(r.value))


def _ok(cfg):
    from wan import config

    config.validate(dict(cfg, version=2), 1)


_METER = {"id": "0a01454d480000000001", "address": 17}


def test_lmn_section_checked():
    _ok({"lmn": {"period": 60, "timeout_ms": 300, "meters": [
        dict(_METER, tls=True, period=300, renew_s=86400, renew_bytes=5000000),
        dict(_METER, id="0A01454D480000000002", address=0x3FFF, tls=False)]}})
    _ok({"lmn": {}})
    for cfg, field in (
            ({"period": "abc"}, "lmn.period"),  # int("abc") at boot: the layer missing
            ({"period": 0}, "lmn.period"),
            ({"period": True}, "lmn.period"),
            ({"timeout_ms": -1}, "lmn.timeout_ms"),
            ({"push": "/dev/ttyS1"}, "lmn.push"),  # not read from the file: unknown
            ({"meters": {}}, "lmn.meters"),
            ({"meters": [1]}, "lmn.meters[0]"),
            ({"meters": [{"address": 17}]}, "lmn.meters[0]"),  # KeyError at boot
            ({"meters": [{"id": "0a01"}]}, "lmn.meters[0]"),
            ({"meters": [dict(_METER, id="meter-1")]}, "lmn.meters[0].id"),  # fromhex
            ({"meters": [dict(_METER, id="0a0")]}, "lmn.meters[0].id"),
            ({"meters": [dict(_METER, address=0)]}, "lmn.meters[0].address"),
            ({"meters": [dict(_METER, address=0x4000)]}, "lmn.meters[0].address"),
            ({"meters": [dict(_METER, address="17")]}, "lmn.meters[0].address"),
            ({"meters": [dict(_METER, tls="yes")]}, "lmn.meters[0].tls"),
            ({"meters": [dict(_METER, period=-5)]}, "lmn.meters[0].period"),
            ({"meters": [dict(_METER, serial=1)]}, "lmn.meters[0].serial"),
            ({"meters": [_METER, dict(_METER, address=18)]}, "lmn.meters[1].id"),
            ({"meters": [dict(_METER, id="%02x" % i) for i in range(33)]},  # noqa: UP031
             "lmn.meters")):
        _refused({"lmn": cfg}, field)


def test_meters_and_wmbus_sections_checked():
    _ok({"meters": [{"id": "0a01454d480000b8ef47"}, {"id": "KAM-12345678"}], "wmbus": {}})
    for cfg, field in (({"meters": [{"no id": 1}]}, "meters[0].no id"),
                       ({"meters": [{}]}, "meters[0]"),
                       ({"meters": ["KAM-1"]}, "meters[0]"),
                       ({"meters": [{"id": 5}]}, "meters[0].id"),
                       ({"meters": [{"id": "a\nb"}]}, "meters[0].id"),
                       ({"meters": [{"id": "M"}, {"id": "M"}]}, "meters[1].id"),
                       ({"wmbus": {"mode": "T1"}}, "wmbus.mode")):  # wmbus has no settings
        _refused(cfg, field)


_PAIR = {"name": "p1", "port": 5000, "device": "127.0.0.1", "emt": {"host": "h", "port": 1}}


def test_han_section_checked():
    _ok({"han": {
        "port": 4443, "host": "0.0.0.0", "session_idle_s": 600, "conn_idle_s": 60,
        "max_conns": 4, "backlog": 16, "algorithms": ["SHA-256", "MD5"], "smgw_id": "EX",
        "users": {"tech": {"role": "technician", "password": "pw"},
                  "c1": {"ha1": {"MD5": "ab" * 16, "SHA-256": "cd" * 32}, "cert": "ef" * 32}},
        "cls": [_PAIR, {"name": "ctl", "device": "outputs", "emt": {"host": "h", "port": 2,
                                                                  "name": "emt1"}}],
        "outputs": [{"output": "RELAY", "on": "22:00", "off": "06:00"}],
        "cls_verify": False, "cls_ca_files": ["/tmp/ca.der"], "cls_idle_s": 300,
        "cls_life_s": 3600, "control_retry_s": 30}})
    for cfg, field in (
            ({"max_conns": -1}, "han.max_conns"),  # no connection would ever be served
            ({"max_conns": 0}, "han.max_conns"),
            ({"port": 70000}, "han.port"),
            ({"port": "443"}, "han.port"),
            ({"conn_idle_s": 0}, "han.conn_idle_s"),
            ({"ports": 443}, "han.ports"),
            ({"users": ["tech"]}, "han.users"),  # AttributeError at boot
            ({"users": {"u": "pw"}}, "han.users.u"),
            ({"users": {"u": {"role": "admin"}}}, "han.users.u.role"),
            ({"users": {"u": {"ha1": {"MD5": "xyz"}}}}, "han.users.u.ha1.MD5"),
            ({"users": {"u": {"cert": "ab"}}}, "han.users.u.cert"),
            ({"users": {"u\r\n": {}}}, "han.users.u\r\n"),
            ({"algorithms": []}, "han.algorithms"),
            ({"algorithms": ["SHA-1"]}, "han.algorithms"),
            ({"cls": [1]}, "han.cls[0]"),  # AttributeError at boot (outputs set-up)
            ({"cls": [dict(_PAIR, emt={"host": "h"})]}, "han.cls[0].emt"),
            ({"cls": [{"name": "p", "emt": {"host": "h", "port": 1}}]}, "han.cls[0]"),
            ({"cls": [dict(_PAIR, emt={"host": "h", "port": 0})]}, "han.cls[0].emt.port"),
            ({"outputs": [{"output": "OUT9", "on": "1:00", "off": "2:00"}]},
             "han.outputs[0].output"),
            ({"outputs": [{"output": "OUT1", "on": "24:00", "off": "2:00"}]},
             "han.outputs[0].on"),
            ({"outputs": [{"output": "OUT1", "on": "1:00"}]}, "han.outputs[0]"),
            ({"cls_ca_files": [5]}, "han.cls_ca_files[0]"),
            ({"cls_verify": 1}, "han.cls_verify")):
        _refused({"han": cfg}, field)


def test_link_section_checked():
    _ok({"link": {"apn": "m2m.example", "pin": None, "data": "ppp", "poll_s": 0.5,
                  "supervision_s": 3600, "reset_after": 3, "sync_tries": 10,
                  "static": {"ip": "10.0.0.9", "mask": "255.255.255.0", "gw": "10.0.0.1",
                             "dns": "10.0.0.1"}}})
    _ok({"link": {"static": None}})
    for cfg, field in (({"poll_s": 0}, "link.poll_s"),
                       ({"supervision_s": "soon"}, "link.supervision_s"),
                       ({"reset_after": 1.5}, "link.reset_after"),  # a count
                       ({"pin": 1234}, "link.pin"),
                       ({"apn ": "x"}, "link.apn "),
                       ({"data": "slip"}, "link"),
                       ({"static": {"ip": "1"}}, "link"),
                       ({"static": {"ip": "1", "gw": "2", "route": "3"}}, "link.static.route")):
        _refused({"link": cfg}, field)


class _Cert:
    point = ecc.P256.public(_KEY)


def _signed(cfg):
    body = json.dumps(cfg).encode()
    r, s = ecdsa.sign(ecc.P256, _KEY, hashlib.sha256(body).digest())
    return body, (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()


def test_gwa_configuration_with_a_bad_section_is_refused_and_not_stored():
    # before: acknowledged as applied, stored, and the layer missing at the next boot
    from wan import config
    from wan.service import Wan

    d = _dir("gwa")
    w = Wan(Ctx(), SoftSecMod(key_path=d + "/k"), pki=d + "/pki", qroot=d + "/q")
    w.config_path = d + "/active.json"
    w.keys_path = d + "/meters.json"
    w.configure(_BASE, 1)
    config.apply(w, {"version": 1, "wan": _BASE})
    w.ident.peer_cert = lambda name: _Cert()
    for bad in ({"lmn": {"period": "abc"}}, {"meters": [{"no id": 1}]},
                {"han": {"max_conns": -1}}, {"link": {"poll_s": -1}}, {"wmbus": {"x": 1}}):
        with raises(config.ConfigError):
            config.apply_signed(w, *_signed(dict(bad, version=2)))
        with open(w.config_path) as f:
            eq(json.load(f), {"version": 1, "wan": _BASE})
        eq(w.config_version, 1)
    good = {"version": 2, "lmn": {"period": 120, "meters": [_METER]}, "han": {"port": 4443}}
    eq(config.apply_signed(w, *_signed(good)), 2)
    with open(w.config_path) as f:
        eq(json.load(f), dict(good, wan=_BASE))


def test_tenants_and_taf_profiles_the_core_would_not_take_are_refused_before_storing():
    # before: stored and acknowledged "applied" while the core kept the old tenants; and
    # the documented object form of taf_profiles was refused as a wrong type
    from core.core import Core
    from wan import config
    from wan.service import Wan

    d = _dir("core")
    ctx = Ctx()
    ctx.core = Core(d + "/core", lambda: 1767225600, config={"core": {"tafs": ["TAF7"]}})
    w = Wan(ctx, SoftSecMod(key_path=d + "/k"), pki=d + "/pki", qroot=d + "/q")
    w.config_path = d + "/active.json"
    w.keys_path = d + "/meters.json"
    w.configure(_BASE, 1)
    config.apply(w, {"version": 1, "wan": _BASE})
    w.ident.peer_cert = lambda name: _Cert()
    four = [{"id": "c%d" % i, "user": "u%d" % i} for i in range(4)]  # noqa: UP031
    for bad, part in (({"tenants": four}, "tenants"),  # 4 active: at most 3
                      ({"tenants": [{"id": "../x", "user": "u"}]}, "tenants"),
                      ({"taf_profiles": {"TAF9": {}}}, "TAF9"),
                      ({"taf_profiles": {"TAF7": {"period": 7}}}, "TAF7")):
        with raises(config.ConfigError) as r:
            config.apply_signed(w, *_signed(dict(bad, version=2)))
        assert str(r.value).startswith(part + ":"), (bad, str(r.value))
        with open(w.config_path) as f:
            eq(json.load(f)["version"], 1)
    eq(ctx.core.tenants.by_user, {})
    good = {"version": 2, "tenants": four[:3], "taf_profiles": {"TAF7": {}}}
    eq(config.apply_signed(w, *_signed(good)), 2)
    eq(sorted(ctx.core.tenants.by_user), ["u0", "u1", "u2"])


# ---- boot: a bad section already stored (by firmware before these checks) ------------

class _Board:
    NAME = "unix"

    def __init__(self, cfg):
        self.cfg = cfg

    def config(self):
        return self.cfg


class _Hal:
    rs485 = None
    net = None

    def __init__(self):
        self.endpoints = {}


class _BootCtx:
    def __init__(self, board=None):
        self.board = _Board(board or {})
        self.hal = _Hal()
        self.logs = []
        self.diag_extra = {}

    def log(self, level, event, msg, detail=None):
        self.logs.append((level, event, msg))

    def now(self):
        return 1767225600


def _stored_data(active):
    """/data (the unix port's own file system) -> a fresh folder holding active.json."""
    d = _dir("data")
    vfs.mount(vfs.VfsPosix(d), "/data")
    os.mkdir("/data/config")
    with open("/data/config/active.json", "w") as f:
        json.dump(dict(active, version=1), f)


def _levels(ctx, event):
    return [lv for lv, ev, _ in ctx.logs if ev == event]


def test_lmn_boots_with_a_bad_stored_section():
    from lmn import service

    for section in ({"period": "abc"}, {"meters": [{"no id": 1, "tls": False}]},
                    {"meters": [{"id": "meter-1", "address": 17, "tls": False}]}):
        _stored_data({"lmn": section})
        try:
            ctx = _BootCtx()
            ctx.hal.rs485 = object()  # a bus (the meters are made, none polled here)
            service.setup(ctx)  # before: ValueError/KeyError, no lmn layer
        finally:
            vfs.umount("/data")
        eq(_levels(ctx, "lmn.config"), [4])
        eq((ctx.lmn.period, ctx.lmn.meters, ctx.lmn.bus), (60, [], None))
        assert "lmn" in ctx.diag_extra
    # a good stored section is still used
    _stored_data({"lmn": {"period": 120}})
    try:
        ctx = _BootCtx()
        service.setup(ctx)
    finally:
        vfs.umount("/data")
    eq((ctx.lmn.period, _levels(ctx, "lmn.config")), (120, []))


class _Pin:
    def value(self, v=None):
        return 0


def test_han_boots_with_a_bad_stored_section():
    from han import service

    for section in ({"cls": [1]}, {"cls": [{"name": "p"}], "outputs": 5}):
        _stored_data({"han": section})
        try:
            ctx = _BootCtx({"han": {}})
            ctx.hal.outputs = {n: _Pin() for n in ("OUT1", "OUT2", "OUT3", "RELAY")}
            service.setup(ctx)  # before: AttributeError, no HAN layer (nor outputs)
        finally:
            vfs.umount("/data")
        eq(_levels(ctx, "han.config"), [4])
        eq(getattr(ctx, "outputs", None), None)  # nothing to restore: made on first use
        eq(service.ST, None)  # no HAN certificate in this /data: the portal is off
        assert ("han.setup" in [e for _, e, _ in ctx.logs]), ctx.logs


def test_link_boots_with_a_bad_stored_section():
    from wan import link_service

    for section in ({"poll_s": "x"}, [1], {"data": 5, "apn": "m2m"}):
        _stored_data({"link": section})
        try:
            ctx = _BootCtx()
            ctx.hal.vboard = {"link": {"reg_timeout_s": 5}}
            cfg = link_service._config(ctx)  # before: [1] raised TypeError at boot
        finally:
            vfs.umount("/data")
        eq((cfg, _levels(ctx, "link.config")), ({"reg_timeout_s": 5}, [4]))
    _stored_data({"link": {"apn": "m2m"}})
    try:
        ctx = _BootCtx()
        cfg = link_service._config(ctx)
    finally:
        vfs.umount("/data")
    eq((cfg, ctx.logs), ({"apn": "m2m"}, []))
