"""Web pages of the HAN portal: small, self-contained HTML (inline CSS and SVG, no
scripts, no external assets), filtered by the caller's tenant like the API.

Consumer: current power and energy, a chart of the last 24 h (consumption per 15 min
drawn as inline SVG from the readings), contracts (TAF, EMT, validity), consumer log.
Technician: gateway and meter status (no values), WAN link state and RSSI, system log,
GWA/WAN information, firewall and HAN server counters.
"""
from han.api import iso

_CSS = ("body{font-family:sans-serif;margin:1em;color:#222}h1{font-size:1.3em}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;"
        "padding:2px 6px;font-size:.9em}.big{font-size:1.6em;font-weight:bold}"
        ".box{display:inline-block;margin:0 2em .5em 0}")


def esc(s):
    s = "" if s is None else str(s)
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _page(title, user, body):
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title>"
            "<style>%s</style></head><body><h1>%s</h1><p>Signed in as <b>%s</b> - "
            "<a href='/logout'>sign out</a></p>%s</body></html>"
            % (esc(title), _CSS, esc(title), esc(user), "".join(body)))


def _table(head, rows):
    out = ["<table><tr>"]
    out += ["<th>%s</th>" % esc(h) for h in head]
    out.append("</tr>")
    for r in rows:
        out.append("<tr>" + "".join("<td>%s</td>" % esc(c) for c in r) + "</tr>")
    out.append("</table>")
    return "".join(out)


def value_text(d):
    if d is None:
        return "-"
    raw, sc = d["raw"], d["scaler"]
    if sc >= 0:
        return str(raw * 10 ** sc)
    s = str(abs(raw))
    s = "0" * max(0, -sc - len(s) + 1) + s
    return ("-" if raw < 0 else "") + s[:sc] + "." + s[sc:]


_UNITS = {30: "Wh", 27: "W", 13: "m3", 15: "m3/h", 25: "J", 9: "degC", 35: "V", 33: "A", 255: ""}


def chart_svg(rows, w=600, h=200):
    """Inline SVG bar chart of consumption per interval from cumulative energy rows."""
    pts = [(d["capture_time"], d["raw"] * 10 ** d["scaler"] if d["scaler"] >= 0
            else d["raw"] / 10 ** -d["scaler"]) for d in rows]
    bars = []
    for i in range(1, len(pts)):
        bars.append((pts[i][0], max(0, pts[i][1] - pts[i - 1][1])))
    out = ["<svg xmlns='http://www.w3.org/2000/svg' id='chart' width='%d' height='%d' "
           "viewBox='0 0 %d %d' role='img'><rect width='%d' height='%d' fill='#f6f8fa' "
           "stroke='#999'/>" % (w, h + 20, w, h + 20, w, h)]
    if not bars:
        out.append("<text x='10' y='%d'>no readings in the last 24 h</text></svg>" % (h // 2))
        return "".join(out)
    top = max(b[1] for b in bars) or 1
    bw = w / len(bars)
    for i, (t, v) in enumerate(bars):
        bh = int(v * (h - 24) / top)
        out.append("<rect x='%d' y='%d' width='%d' height='%d' fill='#2a7ae2'/>" % (
            int(i * bw), h - bh, max(1, int(bw) - 1), bh))
    out.append("<text x='4' y='14' font-size='12'>max %s Wh / interval</text>" % (
        esc(round(top, 3))))
    out.append("<text x='4' y='%d' font-size='11'>%s</text>" % (h + 15, iso(bars[0][0])))
    out.append("<text x='%d' y='%d' font-size='11' text-anchor='end'>%s</text>" % (
        w - 4, h + 15, iso(bars[-1][0])))
    out.append("</svg>")
    return "".join(out)


def consumer(api, user):
    ctx = api.ctx
    now = ctx.now()
    body = []
    power = energy = None
    energy_ch = None
    for m, o in api.channels(user):
        d = api.last(user, m, o)
        if ":16.7.0" in o or ":1.7.0" in o:
            power = power or d
        elif ":1.8.0" in o:
            energy = energy or d
            energy_ch = energy_ch or (m, o)
    body.append("<div class='box'>Current power<div class='big' id='power'>%s W</div></div>"
                % esc(value_text(power)))
    body.append("<div class='box'>Energy<div class='big' id='energy'>%s Wh</div>"
                "<small>%s</small></div>" % (esc(value_text(energy)),
                                            esc(iso(energy["capture_time"]) if energy else "")))
    body.append("<h2>Last 24 hours</h2>")
    rows = list(api.rows(user, energy_ch[0], energy_ch[1], now - 86400, now)) \
        if energy_ch else []
    body.append(chart_svg(rows))
    body.append("<h2>Contracts</h2>")
    body.append(_table(("TAF", "EMT", "valid from", "valid to", "state"), [
        ("TAF" + up["taf-number"], up["emt"], up["start-time"], up["end-time"] or "open",
         up["taf-state"]) for up in api.usage_points(user)]))
    body.append("<h2>Meters</h2>")
    body.append(_table(("meter", "channel", "last value", "unit", "time"), [
        (m, o, value_text(d), _UNITS.get(d["unit"], d["unit"]) if d else "",
         iso(d["capture_time"]) if d else "")
        for m, o in api.channels(user) for d in (api.last(user, m, o),)]))
    body.append("<h2>Consumer log</h2>")
    ents = api.log(user, "consumer", {"count": 20}).get("entries", [])
    body.append(_table(("#", "time", "event", "outcome", "message"), [
        (e["index"], e["time"], e["event"], e["outcome"], e["message"]) for e in ents]))
    return _page("Smart meter gateway - my consumption", user, body)


def technician(api, user, server=None):
    ctx = api.ctx
    body = []
    info = api.smgw_info(user, "technician", {})
    ctx.sample_heap()
    import gc

    gw = [("gateway id", info["smgw-id"]), ("time", info["smgw-time"]),
          ("time state", info["time-state"]), ("state", info["smgw-state"]),
          ("firmware", "%s (%s)" % (info["firmware-info"]["version"],
                                    info["firmware-info"]["hash"])),
          ("uptime s", ctx.uptime_ms() // 1000), ("heap free", gc.mem_free()),
          ("heap peak", ctx.heap_peak),
          ("HAN certificate sha256", info["han-certificate"]["sha256"])]
    body.append("<h2>Gateway</h2>" + _table(("item", "value"), gw))
    body.append("<h2>Tasks</h2>" + _table(("task", "state", "restarts"), [
        (n, s.get("state"), s.get("restarts")) for n, s in ctx.sup.states().items()]))
    body.append("<h2>Meters</h2>" + _table(("meter", "via", "last seen", "telegrams"), [
        (m, d.get("via"), iso(d.get("last_seen")), d.get("count"))
        for m, d in ctx.meters.items()]))
    link = getattr(ctx, "link", None)
    if link is None:
        wan = [("link", "host network (no modem)"), ("RSSI dBm", "-")]
    else:
        wan = [("link", link.state), ("RSSI dBm", link.rssi_dbm)]
        try:
            wan += sorted(link.info().items())
        except Exception:  # noqa: BLE001 - a link without info() still shows its state
            pass
    body.append("<h2>WAN</h2>" + _table(("item", "value"), [
        (k, v) for k, v in wan]))
    extra = getattr(ctx, "diag_extra", {}) or {}
    for key, title in (("wan", "GWA / WAN"), ("firewall", "Firewall"), ("han", "HAN")):
        f = extra.get(key)
        if f:
            try:
                d = f()
            except Exception as e:  # noqa: BLE001 - the page must render regardless
                d = {"error": str(e)}
            if isinstance(d, dict):
                body.append("<h2>%s</h2>" % title + _table(("item", "value"),
                                                          sorted(d.items())))
    body.append("<h2>System log</h2>")
    ents = api.log(user, "technician", {"count": 30}).get("entries", [])
    body.append(_table(("#", "time", "level", "event", "message"), [
        (e["index"], e["time"], e["level"], e["event"], e["message"]) for e in ents]))
    return _page("Smart meter gateway - service technician", user, body)


