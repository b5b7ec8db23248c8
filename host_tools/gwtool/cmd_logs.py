"""gwtool logs --port P --type system [--from T] [--to T]: export a gateway log.

Reads `ctx.core.logs[<type>].read(t0, t1, start, limit, reader)` (docs/contracts.md) page
by page, so each REPL call stays short. Types: "system", "calibration", "event",
"consumer-<n>". The read itself is logged on the gateway with reader "gwtool" (reading a
log is an auditable event). Times: UTC epoch seconds, ISO 8601 ("2026-11-24T10:00",
naive = UTC) or relative to the gateway's clock ("-2h", "-30m", "-1d").
"""
import datetime
import re

import click

from .board_link import ReplError, baud_option, echo_json, open_link, port_option

PAGE = 20
_REL = re.compile(r"^-(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_PROBE = """import app, json
_c = getattr(app.CTX, 'core', None) if app.CTX else None
_l = getattr(_c, 'logs', None)
print(json.dumps({'now': app.CTX.now() if app.CTX else None,
                  'types': sorted(_l) if _l is not None else None}))
"""
_READ = """_r = _l[{typ!r}].read(t0={t0!r}, t1={t1!r}, start={start!r}, limit={limit!r},
                     reader='gwtool')
print(json.dumps(_r))
"""


class NoLogs(click.ClickException):
    exit_code = 2


def parse_time(text, now):
    """Epoch seconds from an epoch, ISO 8601 or '-<n>[smhd]' (relative to `now`)."""
    if text is None:
        return None
    text = text.strip()
    m = _REL.match(text)
    if m:
        if now is None:
            raise click.BadParameter("relative time needs a running gateway clock")
        return int(now) - int(m.group(1)) * _UNIT[m.group(2)]
    if re.fullmatch(r"\d+", text):
        return int(text)
    try:
        dt = datetime.datetime.fromisoformat(text)  # "Z" is accepted since Python 3.11
    except ValueError:
        raise click.BadParameter(f"not a time: {text!r} (epoch, ISO 8601 or -2h)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    return int(dt.timestamp())


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def export(link, typ, t0, t1, limit):
    """All records of log `typ` in [t0, t1] (at most `limit`), oldest first."""
    out = []
    while len(out) < limit:
        n = min(PAGE, limit - len(out))
        page = link.json(_READ.format(typ=typ, t0=t0, t1=t1, start=len(out), limit=n))
        out += page
        if len(page) < n:
            break
    return out


@click.command("logs")
@port_option()
@baud_option()
@click.option("--type", "typ", default="system", show_default=True,
              help="log: system, calibration, event, consumer-<n>")
@click.option("--from", "t_from", default=None, help="start time (epoch, ISO 8601, -2h)")
@click.option("--to", "t_to", default=None, help="end time, inclusive")
@click.option("--limit", default=1000, show_default=True, help="at most this many records")
@click.option("--list", "list_types", is_flag=True, help="list the log types and exit")
@click.option("--json", "as_json", is_flag=True, help="JSON array of records")
def command(port, baud, typ, t_from, t_to, limit, list_types, as_json):
    """Export a gateway log by type and time range."""
    with open_link(port, baud) as link:
        probe = link.json(_PROBE)
        if probe["types"] is None:
            raise NoLogs("this firmware has no log store (ctx.core.logs is missing): "
                         "the core layer is not running or not built in")
        if list_types:
            if as_json:
                echo_json(probe["types"])
            else:
                click.echo("\n".join(probe["types"]))
            return
        if typ not in probe["types"]:
            raise click.BadParameter(f"no log {typ!r}; the gateway has: "
                                     f"{', '.join(probe['types'])}", param_hint="--type")
        t0 = parse_time(t_from, probe["now"])
        t1 = parse_time(t_to, probe["now"])
        try:
            recs = export(link, typ, t0, t1, limit)
        except ReplError as e:
            raise click.ClickException(f"reading log {typ!r} failed on the board: {e}") \
                from None
    if as_json:
        echo_json(recs)
        return
    for r in recs:
        click.echo(f"{r.get('no'):>6} {iso(r['time'])} L{r.get('level')} {r.get('event')} "
                   f"[{r.get('outcome')}] {r.get('subject') or '-'} {r.get('user') or '-'}: "
                   f"{r.get('msg')}")
    click.echo(f"{len(recs)} records from log {typ}", err=True)
