"""A configuration from the GWA: signature, schema, atomic apply (wan.admin step 2).

Loaded only when the GWA sends a configuration (HTTP 200 on GET /config), not at boot:
most sessions end with 204 (nothing newer)."""
import binascii
import hashlib
import json
import os

from texts import msg
from wan import profiles
from wan.profiles import fields, text

SCHEMA = {"version": int, "wan": dict, "meters": list, "tenants": list,
          "taf_profiles": (dict, list), "keys": dict, "certs": dict, "consumers": list,
          "lmn": dict, "wmbus": dict, "han": dict, "link": dict, "core": dict}


# The other layers' sections, checked here and not by the layers (this module is loaded
# per configuration; nothing of it stays in RAM), with the "wan" section's checker
# (wan.profiles.fields: "field:type[:min[:max]]", the types are listed there). Unknown
# fields, wrong types and values out of range are refused with the field's path: stored,
# they would break that layer's setup at the next boot (docs/wan.md "Administration").
_LMN = const("meters:l period:i:1:86400 timeout_ms:i:1:60000")
_LMN_METER = const("id:x:2:64 address:i:1:16383 tls:b period:i:1:86400 renew_s:i:1 "
                   "renew_bytes:i:1")
_LMN_MAX = const(32)  # meters on the RS485 bus (32 unit loads)
_HAN = const("port:i:1:65535 host:s users:d cls:l session_idle_s:i:1 conn_idle_s:i:1 "
             "max_conns:i:1:64 backlog:i:1:64 algorithms:l smgw_id:s cert_file:s "
             "key_file:s outputs:l outputs_file:s cls_verify:b cls_ca_files:l "
             "cls_idle_s:i:1 cls_life_s:i:1 control_retry_s:i:1")
_HAN_USER = const("role:s password:s ha1:d cert:x:64:64")
_HA1 = const("MD5:x:32:32 SHA-256:x:64:64")
_CLS = const("name:s port:i:1:65535 device:s emt:d")
_CLS_EMT = const("host:s port:i:1:65535 name:s")
_OUTPUT = const("output:s on:t off:t")
_LINK = const("apn:S apn_user:S apn_password:S pin:S data:S static:D supervision_s:n "
              "backoff_min_s:n backoff_max_s:n reset_after:i:1 poll_s:n reg_timeout_s:n "
              "carrier_timeout_s:n sync_tries:i:1")
_STATIC = const("ip:s mask:s gw:s dns:s")
# why a field is refused, msg(_WHY, i) (one string constant: RAM, texts.py)
_WHY = const("missing |duplicate|more than 32|unknown role|unknown output"
             "|SHA-256 and/or MD5")


class ConfigError(ValueError):
    pass


def _bad(where, i, more=""):
    raise ConfigError(where + ": " + msg(_WHY, i) + more)


def _list(items, schema, where, need):
    """Each item an object of schema with the fields in need; an "id" unique."""
    seen = []
    for i, d in enumerate(items):
        p = "%s[%d]" % (where, i)
        fields(d, schema, p)
        for k in need.split():
            if k not in d:
                _bad(p, 0, k)  # missing
        k = d.get("id")
        if k is not None:
            if k in seen:
                _bad(p + ".id", 1)  # duplicate
            seen.append(k)


def _sections(cfg):
    """The "lmn", "han", "link", "wmbus" and "meters" sections (read by those layers at
    boot: lmn.service, han.service/han.layer, wan.link_service; wmbus reads none)."""
    s = cfg.get("lmn")
    if s is not None:
        fields(s, _LMN, "lmn")
        if len(s.get("meters", ())) > _LMN_MAX:
            _bad("lmn.meters", 2)  # more than 32
        _list(s.get("meters", ()), _LMN_METER, "lmn.meters", "id address")
    s = cfg.get("han")
    if s is not None:
        fields(s, _HAN, "han")
        for n, u in s.get("users", {}).items():
            p = "han.users." + n
            text(n, p)
            fields(u, _HAN_USER, p)
            fields(u.get("ha1", {}), _HA1, p + ".ha1")
            if u.get("role", "consumer") not in ("consumer", "technician"):
                _bad(p + ".role", 3)  # unknown role
        _list(s.get("cls", ()), _CLS, "han.cls", "name emt")
        for i, c in enumerate(s.get("cls", ())):
            p = "han.cls[%d]" % i
            fields(c["emt"], _CLS_EMT, p + ".emt")
            for k in ("host", "port"):
                if k not in c["emt"]:
                    _bad(p + ".emt", 0, k)  # missing
            if c.get("device") != "outputs" and "port" not in c:
                _bad(p, 0, "port")  # missing
        _list(s.get("outputs", ()), _OUTPUT, "han.outputs", "output on off")
        for i, o in enumerate(s.get("outputs", ())):
            if o["output"] not in ("OUT1", "OUT2", "OUT3", "RELAY"):
                _bad("han.outputs[%d].output" % i, 4)  # unknown output
        a = s.get("algorithms")
        if a is not None and (not a or any(x not in ("SHA-256", "MD5") for x in a)):
            _bad("han.algorithms", 5)  # SHA-256 and/or MD5
        for i, f in enumerate(s.get("cls_ca_files", ())):
            text(f, "han.cls_ca_files[%d]" % i)
    s = cfg.get("link")
    if s is not None:
        fields(s, _LINK, "link")
        if s.get("static") is not None:
            fields(s["static"], _STATIC, "link.static")
        from wan.link import LinkError, check  # resident: ctx.link

        try:
            check(s)
        except LinkError as e:
            raise ConfigError("link: %s" % e)
    if "wmbus" in cfg:
        fields(cfg["wmbus"], "", "wmbus")  # no settings (keys come with "keys")
    if "meters" in cfg:
        _list(cfg["meters"], "id:s", "meters", "id")


def validate(cfg, current_version):
    if not isinstance(cfg, dict):
        raise ConfigError("not an object")
    for k, v in cfg.items():
        t = SCHEMA.get(k)
        if t is None:
            raise ConfigError("unknown field " + k)
        if not isinstance(v, t) or isinstance(v, bool):
            raise ConfigError("wrong type for " + k)
    v = cfg.get("version")
    if v is None:
        raise ConfigError("no version")
    if current_version is not None and v <= current_version:
        raise ConfigError("version %d not newer than %d" % (v, current_version))
    try:
        _sections(cfg)
        if "wan" in cfg:
            profiles.parse(cfg["wan"])
    except profiles.ProfileError as e:
        raise ConfigError(str(e))
    from crypto.cms import Cert, CmsError

    for name, b64 in cfg.get("certs", {}).items():
        parts = name.split("/")
        if len(parts) != 2 or parts[0] not in ("peers", "ca") or not parts[1].endswith(
                ".der") or parts[1].startswith(".") or not isinstance(b64, str):
            raise ConfigError("bad certificate name " + name)
        try:
            Cert(binascii.a2b_base64(b64))
        except (CmsError, ValueError) as e:
            raise ConfigError("certificate %s: %s" % (name, e))
    for m, k in cfg.get("keys", {}).items():
        if not isinstance(k, str) or len(k) != 32:
            raise ConfigError("meter key for " + m)
        try:
            bytes.fromhex(k)
        except ValueError:
            raise ConfigError("meter key for " + m)


def apply_signed(wan, body, sig_hex):
    """Check the GWA's signature (hex r || s over the body), then validate and apply.
    Returns the applied version; raises ConfigError."""
    try:
        sig = bytes.fromhex(sig_hex)
    except ValueError:
        sig = b""
    if len(sig) != 64:
        raise ConfigError("missing signature")
    gwa = wan.ident.peer_cert(wan.gwa.get("name", "gwa"))
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not wan.secmod.verify(gwa.point, hashlib.sha256(body).digest(), r, s):
        raise ConfigError("bad signature")
    try:
        cfg = json.loads(body)
    except ValueError:
        raise ConfigError("not JSON")
    validate(cfg, wan.config_version)
    g = cfg.get("wan", {}).get("gwa")
    if "wan" in cfg and not (g and g.get("host") and g.get("port")):
        # the gateway only ever connects to its configured GWA: without one it would not
        # poll again, nor act on wake-ups (unreachable until serviced on site)
        raise ConfigError("wan.gwa: missing (the GWA would lose the gateway)")
    return apply(wan, cfg)


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def apply(wan, cfg):
    """Certificates, meter keys, then active.json (the commit point), then the layers.
    A configuration without "wan" keeps the stored one (the GWA's address: without it
    the gateway would be unreachable after its next boot). If storing or reconfiguring
    the WAN fails, the old meter keys and active.json are put back: ConfigError."""
    from store.records import write_atomic

    ctx = wan.ctx
    pki = wan.ident.pki
    check = getattr(getattr(ctx, "core", None), "check_config", None)
    errors = check(cfg) if check else None
    if errors:  # tenants or TAF profiles the core would not take: nothing is stored
        raise ConfigError("; ".join("%s: %s" % e for e in sorted(errors.items())))
    old = _read(wan.config_path)
    if "wan" not in cfg and old:
        try:
            w = json.loads(old).get("wan")
        except (ValueError, AttributeError):
            w = None
        if w is not None:
            cfg["wan"] = w
        w = None
    certs = cfg.pop("certs", {})
    keys = cfg.pop("keys", None)
    old_keys = _read(wan.keys_path) if keys is not None else None
    done = 0
    try:
        for name, b64 in certs.items():
            write_atomic(pki + "/" + name, binascii.a2b_base64(b64), True)
        wan.ident.forget()  # pinned certificates or CAs may have changed (wan.http)
        if keys is not None:
            write_atomic(wan.keys_path, json.dumps(keys).encode(), True)
            done = 1
        write_atomic(wan.config_path, json.dumps(cfg).encode(), True)  # the commit point
        done = 2
        v = cfg["version"]
        if "wan" in cfg:
            wan.configure(cfg["wan"], v)  # all or nothing (Wan.configure)
        else:
            wan.config_version = v
    except (OSError, ValueError) as e:  # ValueError: a carried-over "wan" section
        try:
            if done == 2:
                if old is None:
                    os.remove(wan.config_path)
                else:
                    write_atomic(wan.config_path, old, True)
            if done and old_keys is None:
                os.remove(wan.keys_path)
            elif done:
                write_atomic(wan.keys_path, old_keys, True)
        except OSError:
            pass
        raise ConfigError("not applied: %s" % e)
    old = old_keys = None
    for holder in (getattr(wan.secmod, "_meters", None), getattr(ctx, "wmbus", None)):
        keys = getattr(holder, "keys", holder)  # the receiver's KeyStore, the SE's copy
        if keys is not None and hasattr(keys, "reload"):
            keys.reload()  # a meter added here is decrypted at once, not after a reboot
    hook = getattr(getattr(ctx, "core", None), "reload_config", None)
    if hook:
        hook(cfg)
    ctx.log(1, "wan.config", "configuration version %d applied" % v)
    return v
