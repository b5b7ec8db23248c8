"""gwtool status --port P [--json]: the gateway's diag.status() (firmware/diag.py)."""
import json

import click

from .board_link import ReplError, baud_option, echo_json, open_link, port_option
from .cmd_logs import iso


def read_status(link):
    try:
        return link.json("import diag\ndiag.status()")
    except ReplError as e:
        if "diag" in str(e) and "ImportError" in e.traceback:
            raise click.ClickException(
                "no gateway application on the board (diag not importable): "
                "run `gwtool deploy` first") from None
        raise click.ClickException(f"diag.status() failed on the board: {e}") from None


def _dur(s):
    s = int(s or 0)
    return f"{s // 86400}d{s // 3600 % 24:02d}h{s // 60 % 60:02d}m{s % 60:02d}s"


def render(st):
    lines = [(f"gateway  {st.get('board')} {st.get('version')} (git {st.get('git')})  "
              f"{st.get('state')}, up {_dur(st.get('uptime_s'))}")]
    h = st.get("heap", {})
    lines.append(f"heap     free {h.get('free')}  used {h.get('used')}  peak {h.get('peak')}")
    tasks = st.get("tasks", {})
    ok = sorted(n for n, t in tasks.items() if t["state"] == "running" and not t["restarts"])
    lines.append(f"tasks    {len(tasks)}: running {', '.join(ok) or '-'}")
    for n, t in sorted(tasks.items()):
        if n not in ok:
            lines.append(f"         {n}: {t['state']}, {t['restarts']} restarts, "
                         f"last error {t['last_error']}")
    meters = st.get("meters", {})
    lines.append(f"meters   {len(meters)} seen")
    for mid, m in sorted(meters.items()):
        lines.append(f"         {mid} via {m.get('via')}: {m.get('count')} readings")
    for e in st.get("last_errors", []):
        t = e.get("t")
        when = iso(t) if isinstance(t, (int, float)) else t
        lines.append(f"error    {when} L{e.get('level')} {e.get('event')}: {e.get('msg')}")
    known = {"version", "board", "git", "heap", "state", "uptime_s", "boot_to_operational_ms",
             "tasks", "meters", "last_errors"}
    for k in sorted(set(st) - known):
        lines.append(f"{k:<8} {json.dumps(st[k], sort_keys=True)}")
    return "\n".join(lines)


@click.command("status")
@port_option()
@baud_option()
@click.option("--json", "as_json", is_flag=True, help="print the status object as JSON")
def command(port, baud, as_json):
    """Show the gateway's status (version, tasks, heap, meters, last errors)."""
    with open_link(port, baud) as link:
        st = read_status(link)
    if as_json:
        echo_json(st)
    else:
        click.echo(render(st))
