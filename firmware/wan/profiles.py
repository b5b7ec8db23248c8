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
_MAX_EMTS = const(24)
_TAFS = const(("TAF1", "TAF2", "TAF6", "TAF7"))
# schemas as "field:type" strings (no dicts at import); types: s str, i int, l list,
# d dict, S str or null, D dict or null
_GWA = const("name:s host:s port:i poll_s:i wakeup_port:i wakeup_window_s:i")
_EMT = const("id:s host:s port:i path:s peer:s enc_cert:s tafs:l schedule_s:i alias:S "
             "pseudonym_key:s mqtt:D")
_MQTT = const("host:s port:i topic:s peer:s qos:i keepalive_s:i")
_WAN = const("gateway_id:s gwa:d emts:l")
# integer ranges "field:min:max" (max 0: none); a value outside is refused, not clamped:
# a port 0, a poll or schedule of 0 s, QoS 2 or a keep-alive beyond MQTT's 16 bits only
# ever fail later, each delivery or poll again
_RANGES = const("port:1:65535 wakeup_port:0:65535 poll_s:1:0 wakeup_window_s:1:0 "
                "schedule_s:1:0 qos:0:1 keepalive_s:1:65535")
# names that become file names (queues /data/wan/q/<id>.<TAF>, /data/pki/peers/<peer>.der)
_NAMES = const("id peer enc_cert name")
_NAME_MAX = const(64)  # bytes (UTF-8)
_STR_MAX = const(255)


class ProfileError(ValueError):
    pass


def _check(d, schema, where):
    if not isinstance(d, dict):
        raise ProfileError(where + ": not an object")
    schema = dict(f.split(":") for f in schema.split())
    for k, v in d.items():
        t = schema.get(k)
        if t is None:
            raise ProfileError("%s: unknown field %s" % (where, k))
        t = {"s": str, "i": int, "l": list, "d": dict, "S": (str, type(None)),
             "D": (dict, type(None))}[t]
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            raise ProfileError("%s.%s: wrong type" % (where, k))
        if t is int:
            _range(v, k, where)
        elif isinstance(v, str):
            _text(v, k, where)


def _range(v, k, where):
    for f in _RANGES.split():
        n, lo, hi = f.split(":")
        if n == k:
            if v < int(lo) or (int(hi) and v > int(hi)):
                raise ProfileError("%s.%s: %d out of range" % (where, k, v))
            return


def _text(v, k, where):
    """No control characters (they would end up in HTTP request lines, headers and
    logs), bounded length; names used in file names: no "/", "\\", no leading dot."""
    name = k in _NAMES.split()
    if len(v.encode() if name else v) > (_NAME_MAX if name else _STR_MAX) or (
            name and not v):
        raise ProfileError("%s.%s: bad length" % (where, k))
    for c in v:
        o = ord(c)
        if o < 32 or o == 127 or name and c in "/\\":
            raise ProfileError("%s.%s: bad character" % (where, k))
    if name and v[0] == ".":
        raise ProfileError("%s.%s: bad name" % (where, k))


def parse(wan):
    """Validate the "wan" section; returns (gateway_id, gwa dict, [wan.delivery.Emt])."""
    from wan.delivery import Emt

    _check(wan, _WAN, "wan")
    gwa = wan.get("gwa") or {}
    _check(gwa, _GWA, "wan.gwa")
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
        _check(e, _EMT, where)
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
            _check(e["mqtt"], _MQTT, where + ".mqtt")
            for k in ("host", "port"):
                if k not in e["mqtt"]:
                    raise ProfileError(where + ".mqtt: missing " + k)
        out.append(Emt(e))
    return wan.get("gateway_id", "GW"), gwa, out
