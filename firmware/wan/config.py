"""A configuration from the GWA: signature, schema, atomic apply (wan.admin step 2).

Loaded only when the GWA sends a configuration (HTTP 200 on GET /config), not at boot:
most sessions end with 204 (nothing newer)."""
import binascii
import hashlib
import json

SCHEMA = {"version": int, "wan": dict, "meters": list, "tenants": list,
          "taf_profiles": list, "keys": dict, "certs": dict, "consumers": list,
          "lmn": dict, "wmbus": dict, "han": dict, "link": dict, "core": dict}


class ConfigError(ValueError):
    pass


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
    if "wan" in cfg:
        from wan import profiles

        try:
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
    return apply(wan, cfg)


def apply(wan, cfg):
    from store.records import write_atomic

    ctx = wan.ctx
    pki = wan.ident.pki
    for name, b64 in cfg.pop("certs", {}).items():
        write_atomic(pki + "/" + name, binascii.a2b_base64(b64), True)
    wan.ident.forget()  # pinned certificates or CAs may have changed (wan.http)
    keys = cfg.pop("keys", None)
    if keys is not None:
        write_atomic(wan.keys_path, json.dumps(keys).encode(), True)
    write_atomic(wan.config_path, json.dumps(cfg).encode(), True)  # the commit point
    v = cfg["version"]
    if "wan" in cfg:
        wan.configure(cfg["wan"], v)
    else:
        wan.config_version = v
    for holder in (getattr(wan.secmod, "_meters", None), getattr(ctx, "wmbus", None)):
        keys = getattr(holder, "keys", holder)  # the receiver's KeyStore, the SE's copy
        if keys is not None and hasattr(keys, "reload"):
            keys.reload()  # a meter added here is decrypted at once, not after a reboot
    hook = getattr(getattr(ctx, "core", None), "reload_config", None)
    if hook:
        hook(cfg)
    ctx.log(1, "wan.config", "configuration version %d applied" % v)
    return v
