"""Routes of the HAN portal: JSON API, exports, web pages.

  GET  /                         -> 302 /ui
  GET  /ui                       consumer or technician page (by role)
  GET  /logout                   ends the session (401: the browser forgets Digest)
  GET  /smgw/m2m                 -> 307 Location: /smgw/m2m/<user>.sm/json
  POST /smgw/m2m[/<user>.sm/json] JSON API (han.api), only for the caller's own user
  GET  /smgw/export?from=&to=&format=csv|json   consumer's readings of a time range
"""
import json

from texts import msg, unload

from han import http
from han.api import ApiError, parse_iso

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("no such resource|<p>Signed out. <a href='/ui'>Sign in again</a></p>"
           "|format must be csv or json|not your endpoint|malformed JSON|%s tried %s"
           "|smgw_sid=; Path=/; Max-Age=0|attachment; filename=readings.%s|GET, HEAD, POST")


_JSON = const(("Content-Type", "application/json"))
_HTML = const(("Content-Type", "text/html; charset=utf-8"))
_NOCACHE = const(("Cache-Control", "no-store"))
_SECURITY = const((("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                   ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                    "img-src 'self' data:")))


class Portal:
    def __init__(self, api, server=None):
        self.api = api
        self.server = server

    def handle(self, req, user, role):
        p = req.path
        m2m = "/smgw/m2m/"
        if p == m2m or p == m2m[:-1]:
            if req.method in ("GET", "HEAD"):
                return 307, [("Location", "/smgw/m2m/%s.sm/json" % user)], b""
            if req.method == "POST":
                return self.call(req, user, role)
            return self.refuse(msg(_T, 8))
        if p.startswith(m2m):
            rest = p[10:]
            if rest.endswith("/json"):
                rest = rest[:-5]
            if rest.endswith(".sm"):
                rest = rest[:-3]
            if rest != user:
                self.api.ctx.log(2, "han.denied", msg(_T, 5) % (user, p))
                return self.error(403, msg(_T, 3))
            if req.method != "POST":
                return self.refuse("POST")
            return self.call(req, user, role)
        if p == "/smgw/export":
            return self.export(req, user, role)
        if p == "/":
            return 302, [("Location", "/ui")], b""
        if p == "/ui":
            if req.method not in ("GET", "HEAD"):
                return self.refuse(msg(_T, 8)[:9])
            from han import pages  # ~18 KB (x64): loaded per page, dropped after it

            try:
                if role == "technician":
                    html = pages.technician(self.api, user, self.server)
                else:
                    html = pages.consumer(self.api, user)
            finally:
                unload("han.pages")
            return 200, [_HTML, _NOCACHE] + list(_SECURITY), html
        if p == "/logout":
            sid = req.cookie("smgw_sid")
            if self.server and sid:
                self.server.logout(sid)
            return 401, [("Set-Cookie", msg(_T, 6)), _HTML], msg(_T, 1)
        return self.error(404, msg(_T, 0))

    def error(self, status, text, o=()):
        """o: other headers."""
        return http.error(status, text, o)

    def refuse(self, allow):
        """405 with the methods the resource allows (RFC 9110 15.5.6: Allow is a MUST)."""
        return http.error(405, http.phrase(405), [("Allow", allow)])

    def call(self, req, user, role):
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return self.error(400, msg(_T, 4))
        try:
            out = self.api.call(user, role, body)
        except ApiError as e:
            extra = [("Retry-After", str(int(e.retry_after)))] if e.retry_after else []
            return self.error(e.status, str(e), extra)
        if isinstance(out, dict):
            out = json.dumps(out)
        return 200, [_JSON, _NOCACHE], out

    def export(self, req, user, role):
        q = req.query
        fmt = q.get("format", "csv")
        if fmt not in ("csv", "json"):
            return self.error(400, msg(_T, 2))
        try:
            t1 = parse_iso(q["to"]) if q.get("to") else self.api.ctx.now()
            t0 = parse_iso(q["from"]) if q.get("from") else t1 - 86400
            gen = self.api.export(user, role, fmt, t0, t1)
        except ApiError as e:
            return self.error(e.status, str(e))
        ctype = "text/csv" if fmt == "csv" else "application/json"
        return 200, [("Content-Type", ctype), _NOCACHE, (
            "Content-Disposition", msg(_T, 7) % fmt)], gen
