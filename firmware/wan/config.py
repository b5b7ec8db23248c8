"""A configuration from the GWA: signature, schema, atomic apply (wan.admin step 2).

Loaded only when the GWA sends a configuration (HTTP 200 on GET /config), not at boot:
most sessions end with 204 (nothing newer)."""
import binascii
import hashlib
import json
import os

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
