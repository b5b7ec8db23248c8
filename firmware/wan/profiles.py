"""Communication profiles: the GWA and up to 24 external market participants (EMTs).

Configuration section "wan" of /data/config/active.json (schema checked by `parse`;
unknown fields are refused so a typo never silently changes behaviour):

  "wan": {
    "gateway_id": "EGWT0000000001",
    "gwa": {"name": "gwa", "host": "127.0.0.1", "port": 4431, "poll_s": 900,
            "wakeup_port": 0, "wakeup_window_s": 300},
    "emts": [{"id": "emt1", "host": "127.0.0.1", "port": 4432, "path": "/deliver",
              "peer": "emt1", "enc_cert": "emt1", "tafs": ["TAF7"], "schedule_s": 900,
              "alias": "PSEUDO-A", "mqtt": {"host": "...", "port": 8883, "topic": "..."}}]
  }

peer = name of the pinned TLS certificate /data/pki/peers/<peer>.der (also the server
name checked in TLS); enc_cert = the content-encryption certificate (same folder);
alias = pseudonym: the EMT sees it instead of the gateway id, and meter ids become
"<alias>-" + 12 hex digits of HMAC-SHA256(alias key, meter id) (stable per profile,
not reversible without the key; key = "pseudonym_key" of the profile or the alias).

RAM: this module is loaded to check a "wan" section and dropped after it (Wan.configure,
wan.config); the parsed profiles are wan.delivery.Emt objects.
"""
import binascii

_MAX_EMTS = const(24)
_TAFS = const(("TAF1", "TAF2", "TAF6", "TAF7"))
# schemas as "field:type[:min[:max]]" strings (no dicts at import), checked by fields();
# also wan.config's for the other layers' sections. Types: i int (min..max; no max: none),
# n positive number, b bool, s text (at most 255 characters, no control characters: they
# would end up in HTTP request lines, headers and logs), S text or null, f a name that
# becomes a file name (queues /data/wan/q/<id>.<TAF>, /data/pki/peers/<peer>.der: 1-64
# bytes, no "/" or "\", no leading dot), x hex digits (min..max of them), l list,
# d object, D object or null, t "hh:mm". Ranges are refused, not clamped: a port 0, a
# poll or schedule of 0 s, QoS 2 or a keep-alive beyond MQTT's 16 bits only ever fail
# later, each delivery or poll again.
_GWA = const("name:f host:s port:i:1:65535 poll_s:i:1 wakeup_port:i:0:65535 "
             "wakeup_window_s:i:1")
_EMT = const("id:f host:s port:i:1:65535 path:s peer:f enc_cert:f tafs:l schedule_s:i:1 "
             "alias:S pseudonym_key:s mqtt:D")
_MQTT = const("host:s port:i:1:65535 topic:s peer:f qos:i:0:1 keepalive_s:i:1:65535")
_WAN = const("gateway_id:s gwa:d emts:l")
_NAME_MAX = const(64)  # bytes (UTF-8)
_STR_MAX = const(255)


class ProfileError(ValueError):
    pass


def fields(d, schema, where):
    """d must be an object whose fields are in schema, each of its type and range; else
    ProfileError naming the field's path ("wan.gwa.port: out of range")."""
    if not isinstance(d, dict):
        raise ProfileError(where + ": not an object")
    for k, v in d.items():
        p = where + "." + k
        f = None
        for e in schema.split():
            if e.startswith(k + ":"):
                f = e.split(":")
                break
        if f is None:
            raise ProfileError(p + ": unknown field")
        t = f[1]
        if t in "SD" and v is None:
            continue
        if t == "n":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ProfileError(p + ": not a positive number")
            continue
        c = {"i": int, "b": bool, "l": list, "d": dict, "D": dict}.get(t, str)
        if not isinstance(v, c) or t == "i" and isinstance(v, bool):
            raise ProfileError(p + ": wrong type")
        if t == "i" and (v < int(f[2]) or len(f) > 3 and v > int(f[3])):
            raise ProfileError(p + ": out of range")
        elif t in "sSf":
            text(v, p, t == "f")
        elif t == "x":
            try:
                binascii.unhexlify(v)
            except ValueError:
                raise ProfileError(p + ": not hex")
            if not int(f[2]) <= len(v) <= int(f[3]):
                raise ProfileError(p + ": bad length")
        elif t == "t":
            h, _, m = v.partition(":")
            if not (h.isdigit() and m.isdigit() and int(h) < 24 and int(m) < 60):
                raise ProfileError(p + ": not hh:mm")


def text(v, where, name=False):
    """Text without control characters, bounded; name: one that becomes a file name."""
    if not isinstance(v, str):
        raise ProfileError(where + ": wrong type")
    if len(v.encode() if name else v) > (_NAME_MAX if name else _STR_MAX) or (
            name and not v):
        raise ProfileError(where + ": bad length")
    for c in v:
        o = ord(c)
        if o < 32 or o == 127 or name and c in "/\\":
            raise ProfileError(where + ": bad character")
    if name and v[0] == ".":
        raise ProfileError(where + ": bad name")


def parse(wan):
    """Validate the "wan" section; returns (gateway_id, gwa dict, [wan.delivery.Emt])."""
    from wan.delivery import Emt

    fields(wan, _WAN, "wan")
    gwa = wan.get("gwa") or {}
    fields(gwa, _GWA, "wan.gwa")
    for k in ("host", "port"):
        if gwa and k not in gwa:
            raise ProfileError("wan.gwa: missing " + k)
    emts = wan.get("emts", [])
    if len(emts) > _MAX_EMTS:
        raise ProfileError("more than %d EMT profiles" % _MAX_EMTS)
    out = []
    seen = set()
    for i, e in enumerate(emts):
        where = "wan.emts[%d]" % i
        fields(e, _EMT, where)
        for k in ("id", "host", "port"):
            if k not in e:
                raise ProfileError(where + ": missing " + k)
        if e["id"] in seen:
            raise ProfileError(where + ": bad or duplicate id")
        if not e.get("path", "/").startswith("/"):
            raise ProfileError(where + ".path: not absolute")
        seen.add(e["id"])
        for t in e.get("tafs", []):
            if t not in _TAFS:
                raise ProfileError(where + ": unknown TAF " + str(t))
        if e.get("mqtt") is not None:
            fields(e["mqtt"], _MQTT, where + ".mqtt")
            for k in ("host", "port"):
                if k not in e["mqtt"]:
                    raise ProfileError(where + ".mqtt: missing " + k)
        out.append(Emt(e))
    return wan.get("gateway_id", "GW"), gwa, out
