"""Administration by the gateway administrator (GWA): the gateway polls, never listens.

Every `poll_s` (and at once after a valid wake-up packet) the gateway opens one TLS
session to the *configured* GWA (pinned certificate "gwa") and makes these HTTP requests
over it (Connection: keep-alive; a new session only after a failure, the GWA's
"Connection: close" or an applied configuration):
1. POST /time     NTPv4 exchange (wan.ntp) -> ctx.core.time_sync(offset, "gwa")
2. GET  /config?version=N  -> 204 (nothing newer) or 200 with the configuration JSON and
   header X-Signature: hex(r || s), ECDSA-SHA256 by the GWA key over the body bytes.
   Checked: signature, JSON, schema (known top-level fields only, types, the "wan"
   section via wan.profiles, certificates parse, meter keys 32 hex digits), version
   newer than the active one. Applied atomically: certificates and meter keys first
   (each file write-tmp-rename), then /data/config/active.json (the commit point), then
   the running layers are reconfigured. Refusals are logged and the old configuration
   stays. Either way: POST /ack {"version", "result": "applied"|"refused", "reason"}.
   (wan.config, loaded only when a configuration arrives.)
3. GET  /update   firmware update offer (wan.update, loaded only for an offer or when
   /data/fw/boot.json has a trial, staged or rolled-back slot), if that module is present.
4. POST /log      recent warnings/errors (ctx.events) the GWA has not seen yet.
"""
import json

from texts import unload

from wan.tlsconn import WanError


class Admin:
    """One poll (made per poll by Wan.poll, this module dropped after it: RAM). What lasts
    from poll to poll is the Wan's: gwa_sessions, last_event (logs sent), updater."""

    def __init__(self, wan):
        self.wan = wan
        self.ctx = wan.ctx
        self._kept = None  # a TLS session kept open between requests (keep=True)

    async def _open(self):
        """The poll's TLS session: the one kept from the previous request, or a new one."""
        s = self._kept
        self._kept = None
        if s is not None and s.expired(self.ctx.now()):
            await s.close()
            s = None
        if s is None:
            from wan import http  # per poll: session() drops it (RAM between polls)

            g = self.wan.gwa
            s = await http.open_session(self.ctx, self.wan.ident, g.get("name", "gwa"),
                                        g["host"], g["port"], purpose="gwa")
        return s

    async def _request(self, method, path, body=b"", headers=None, max_body=65536,
                       keep=True):
        """One request to the GWA over the poll's session: kept open for the next request
        (one TLS handshake per poll, the layer's largest transient RAM user) until a
        call with keep=False, a failure, the GWA's "Connection: close" or close_kept()."""
        from wan import http  # per poll: session() drops it (RAM between polls)

        s = await self._open()
        ok = False
        try:
            res = await http.request(s, method, path, body, headers, max_body=max_body,
                                     keep_alive=keep)
            ok = True
        finally:
            if keep and ok and res[1].get("connection", "").lower() != "close":
                self._kept = s
            else:
                await s.close()
        return res

    async def close_kept(self):
        if self._kept is not None:
            await self._kept.close()
            self._kept = None

    # ---- time --------------------------------------------------------------------------
    async def sync_time(self):
        from wan import ntp  # per poll, dropped after it (RAM between polls)

        try:
            self._kept = await self._open()
            t1 = self.ctx.now_ms()  # after the handshake: only the exchange is timed
            req = ntp.request(t1)
            st, _, body = await self._request("POST", "/time", req,
                                              {"Content-Type": "application/ntp"})
            t4 = self.ctx.now_ms()
            try:
                if st != 200:  # the poll goes on: configuration and update without time
                    raise ntp.NtpError("HTTP %d" % st)
                off, delay = ntp.evaluate(req, body, t4)
            except ntp.NtpError as e:
                self.ctx.log(3, "wan.time", "refused NTP reply: %s" % e)
                return None
        finally:
            ntp = None
            unload("wan.ntp")
        core = getattr(self.ctx, "core", None)
        sync = getattr(core, "time_sync", None)
        if sync is not None:
            sync(off / 1000, source="gwa")
        elif abs(off) >= max(1000, delay):
            # without the core's deviation rules: correct only what the measurement
            # can tell apart from its own uncertainty (+- delay / 2)
            self.ctx.hal.rtc.set((self.ctx.now_ms() + off) / 1000)
            self.ctx.log(2, "wan.time", "clock set by %d ms (delay %d ms)" % (off, delay))
        return off, delay

    # ---- configuration -----------------------------------------------------------------
    async def fetch_config(self):
        cur = self.wan.config_version
        st, hdr, body = await self._request("GET", "/config?version=%s" % cur)
        if st == 204:
            return None
        if st != 200:
            raise WanError("config: HTTP %d" % st, "gwa")
        from wan import config  # rare: not kept loaded between configurations (RAM)

        try:
            result = config.apply_signed(self.wan, body, hdr.get("x-signature", ""))
            ack = {"version": result, "result": "applied"}
        except config.ConfigError as e:
            self.ctx.log(3, "wan.config", "configuration refused: %s" % e)
            ack = {"result": "refused", "reason": str(e)}
            try:
                ack["version"] = json.loads(body).get("version")
            except (ValueError, AttributeError):
                pass
        finally:
            config = None
            unload("wan.config")
            unload("wan.profiles")
            unload("crypto.cms")
        if "reason" not in ack:
            # the acknowledgement goes to the GWA (and with the certificates) just applied
            await self.close_kept()
        await self._request("POST", "/ack", json.dumps(ack).encode(),
                            {"Content-Type": "application/json"})
        return ack

    # ---- logs --------------------------------------------------------------------------
    async def push_logs(self):
        ev = getattr(self.ctx, "events", None)
        if not isinstance(ev, list):
            return 0
        from app import event

        ev = [e for e in map(event, ev) if e["t"] > self.wan.last_event]
        if not ev:
            return 0
        # the JSON array in parts (no one big string): the same bytes as json.dumps(ev)
        parts = [b"["]
        for e in ev:
            if len(parts) > 1:
                parts.append(b", ")
            parts.append(json.dumps(e).encode())
        parts.append(b"]")
        st, _, _ = await self._request("POST", "/log", parts,
                                       {"Content-Type": "application/json"})
        if st == 200:
            self.wan.last_event = ev[-1]["t"]
        return len(ev)

    # ---- firmware update ----------------------------------------------------------------
    def _updater(self):
        w = self.wan
        if not w.updater:
            try:
                from wan.update import Updater
            except ImportError:  # a build without firmware update
                w.updater = False
                return None
            w.updater = Updater(w)
        return w.updater

    async def _update(self):
        """wan.update stays unloaded (RAM) until there is something to do: a trial boot
        to confirm, a rollback to report or a staged image (checked at the first session
        after boot: only the boot loader and the Updater change those), or an offer.
        The Updater, once made, is the Wan's (wan.updater)."""
        w = self.wan
        if w.updater is True:
            w.updater = None
            try:
                with open("/data/fw/boot.json") as f:
                    st = json.load(f)
                if st.get("trial") or st.get("staged") or st.get("rolled_back"):
                    self._updater()
            except (OSError, ValueError, AttributeError):
                pass
        if w.updater:
            return await w.updater.poll(self._request)
        if w.updater is False:
            return None
        st, _, body = await self._request("GET", "/update")
        if st == 200 and self._updater():
            return await w.updater.offer(self._request, body)
        return None

    # ---- poll ---------------------------------------------------------------------------
    async def session(self):
        async with self.wan.ident.lock:
            try:  # one TLS session for the poll's requests (kept alive between them)
                await self.sync_time()
                await self.fetch_config()
                await self._update()
                await self.push_logs()
            finally:
                await self.close_kept()
                unload("wan.http")
        self.wan.gwa_sessions += 1

    async def poll(self):
        """One poll for Wan.poll: failures are logged, the next poll comes anyway."""
        try:
            await self.session()
        except WanError as e:
            self.ctx.log(2, "wan.gwa", "GWA session failed: %s" % e)
        except Exception as e:  # noqa: BLE001 - e.g. MemoryError: log, next poll
            self.ctx.log(3, "wan.gwa", "GWA session error: %s: %s" % (type(e).__name__, e))
