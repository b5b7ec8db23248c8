"""Administration by the gateway administrator (GWA): the gateway polls, never listens.

Every `poll_s` (and at once after a valid wake-up packet) the gateway opens TLS sessions
to the *configured* GWA (pinned certificate "gwa") and, each an HTTP request:
1. POST /time     NTPv4 exchange (wan.ntp) -> ctx.core.time_sync(offset, "gwa")
2. GET  /config?version=N  -> 204 (nothing newer) or 200 with the configuration JSON and
   header X-Signature: hex(r || s), ECDSA-SHA256 by the GWA key over the body bytes.
   Checked: signature, JSON, schema (known top-level fields only, types, the "wan"
   section via wan.profiles, certificates parse, meter keys 32 hex digits), version
   newer than the active one. Applied atomically: certificates and meter keys first
   (each file write-tmp-rename), then /data/config/active.json (the commit point), then
   the running layers are reconfigured. Refusals are logged and the old configuration
   stays. Either way: POST /ack {"version", "result": "applied"|"refused", "reason"}.
3. GET  /update   firmware update offer (wan.update), if that module is present.
4. POST /log      recent warnings/errors (ctx.events) the GWA has not seen yet.
"""
import asyncio
import binascii
import hashlib
import json

from wan import http, ntp, profiles
from wan.tlsconn import WanError, open_session

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


class Admin:
    def __init__(self, wan):
        self.wan = wan
        self.ctx = wan.ctx
        self.task = None
        self.poke = asyncio.Event()
        self.last_event = 0
        self.sessions = 0
        self.time_offset_ms = None
        self.time_delay_ms = None
        self.update = True  # wan.update.Updater, made at the first session (RAM at boot)
        self._kept = None  # a TLS session kept open between requests (keep=True)

    async def _request(self, method, path, body=b"", headers=None, max_body=65536,
                       keep=False):
        """One request to the GWA; keep=True keeps the TLS session for the next call
        (until a call without keep, or close_kept())."""
        s = self._kept
        self._kept = None
        if s is not None and s.expired(self.ctx.now()):
            await s.close()
            s = None
        if s is None:
            g = self.wan.gwa
            s = await open_session(self.ctx, self.wan.ident, g.get("name", "gwa"), g["host"],
                                   g["port"])
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
        g = self.wan.gwa
        s = await open_session(self.ctx, self.wan.ident, g.get("name", "gwa"), g["host"],
                               g["port"])
        try:
            t1 = self.ctx.now_ms()  # after the handshake: only the exchange is timed
            req = ntp.request(t1)
            st, _, body = await http.request(s, "POST", "/time", req,
                                             {"Content-Type": "application/ntp"})
            t4 = self.ctx.now_ms()
        finally:
            await s.close()
        if st != 200:
            raise WanError("time: HTTP %d" % st, "gwa")
        try:
            off, delay = ntp.evaluate(req, body, t4)
        except ntp.NtpError as e:
            self.ctx.log(3, "wan.time", "refused NTP reply: %s" % e)
            return None
        self.time_offset_ms, self.time_delay_ms = off, delay
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
        try:
            result = self.apply_signed(body, hdr.get("x-signature", ""))
            ack = {"version": result, "result": "applied"}
        except ConfigError as e:
            self.ctx.log(3, "wan.config", "configuration refused: %s" % e)
            ack = {"result": "refused", "reason": str(e)}
            try:
                ack["version"] = json.loads(body).get("version")
            except (ValueError, AttributeError):
                pass
        await self._request("POST", "/ack", json.dumps(ack).encode(),
                            {"Content-Type": "application/json"})
        return ack

    def apply_signed(self, body, sig_hex):
        try:
            sig = bytes.fromhex(sig_hex)
        except ValueError:
            sig = b""
        if len(sig) != 64:
            raise ConfigError("missing signature")
        gwa = self.wan.ident.peer_cert(self.wan.gwa.get("name", "gwa"))
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        if not self.wan.secmod.verify(gwa.point, hashlib.sha256(body).digest(), r, s):
            raise ConfigError("bad signature")
        try:
            cfg = json.loads(body)
        except ValueError:
            raise ConfigError("not JSON")
        validate(cfg, self.wan.config_version)
        return self.apply(cfg)

    def apply(self, cfg):
        from wan.service import write_atomic

        pki = self.wan.ident.pki
        for name, b64 in cfg.pop("certs", {}).items():
            write_atomic(pki + "/" + name, binascii.a2b_base64(b64))
        keys = cfg.pop("keys", None)
        if keys is not None:
            write_atomic(self.wan.keys_path, json.dumps(keys).encode())
        write_atomic(self.wan.config_path, json.dumps(cfg).encode())  # the commit point
        v = cfg["version"]
        if "wan" in cfg:
            self.wan.configure(cfg["wan"], v)
        else:
            self.wan.config_version = v
        reload_keys = getattr(getattr(self.wan.secmod, "_meters", None), "reload", None)
        if reload_keys:
            reload_keys()
        hook = getattr(getattr(self.ctx, "core", None), "reload_config", None)
        if hook:
            hook(cfg)
        self.ctx.log(1, "wan.config", "configuration version %d applied" % v)
        return v

    # ---- logs --------------------------------------------------------------------------
    async def push_logs(self):
        ev = getattr(self.ctx, "events", None)
        if not isinstance(ev, list):
            return 0
        ev = [e for e in ev if e["t"] > self.last_event]
        if not ev:
            return 0
        st, _, _ = await self._request("POST", "/log", json.dumps(ev).encode(),
                                       {"Content-Type": "application/json"})
        if st == 200:
            self.last_event = ev[-1]["t"]
        return len(ev)

    # ---- loop --------------------------------------------------------------------------
    async def session(self):
        async with self.wan.ident.lock:
            await self._session()

    async def _session(self):
        await self.sync_time()
        await self.fetch_config()
        if self.update is True:
            try:
                from wan.update import Updater

                self.update = Updater(self.wan)
            except ImportError:  # a build without firmware update
                self.update = None
        if self.update:
            try:
                await self.update.poll(self._request)
            finally:
                await self.close_kept()
        await self.push_logs()
        self.sessions += 1

    async def run(self):
        while True:
            self.poke.clear()  # a wake-up during the session below makes the next one
            if self.wan.gwa:
                try:
                    await self.session()
                except WanError as e:
                    self.ctx.log(2, "wan.gwa", "GWA session failed: %s" % e)
                except Exception as e:  # noqa: BLE001 - e.g. MemoryError: log, next poll
                    self.ctx.log(3, "wan.gwa", "GWA session error: %s: %s" % (
                        type(e).__name__, e))
            try:
                await asyncio.wait_for_ms(
                    self.poke.wait(), self.ctx.real_ms(self.wan.gwa.get("poll_s", 900)))
            except asyncio.TimeoutError:
                pass
