"""Firmware update: signed image from the GWA, resumable download, A/B slots, trial boot.

Image (made by `gwtool update-image`, host_tools/gwtool/update_image.py), big-endian:
  0   8  magic "SMGWFW01"        8   2  header length (160)
  10  4  version (major << 16 | minor << 8 | patch)
  14 16  board name (ASCII, NUL padded)      30  4  image length
  34 32  SHA-256 of the image     66  8  creation time (UTC s)    74 22 reserved (0)
  96 64  signature r || s, ECDSA-SHA256 over bytes 0..95, by the firmware signer
         (pinned certificate peers/fwsign.der, else the GWA's peers/gwa.der)
  160..  the ROMFS application image
Steps, each in the system log (metrological changes also in the calibration log):
1. GET /update: offer {version, size, sha256, activate_at, path}; an offer not newer than
   the installed version is refused ("no downgrade").
2. Download with HTTP Range requests into /data/fw/update.part; the offer is kept in
   /data/fw/update.json, so after a reboot or a broken connection the download resumes
   at the current file size.
3. Verify: header, board, length, SHA-256, signature, version > installed.
4. Stage the image (without header) in the inactive slot /data/fw/<a|b>.romfs.
5. At `activate_at` (gateway time): boot state /data/fw/boot.json gets trial = slot and
   the gateway restarts. The boot loader (frozen/vboot.py on the virtual board) boots the
   trial slot once; if the new firmware does not confirm health before the next boot,
   the boot loader rolls back to the previous slot.
6. Health: the new firmware confirms after its first complete GWA session
   (time, configuration, update poll) - then the slot becomes active.
"""
import hashlib
import json
import os
import struct

from store.records import exists, mkdirs
from texts import unload

from wan.tlsconn import WanError

MAGIC = b"SMGWFW01"
HEADER = const(160)
_CHUNK = const(4096)
FW = "/data/fw"


class UpdateError(ValueError):
    pass


def parse_version(v):
    if isinstance(v, int):
        return v
    p = [int(x) for x in str(v).split(".")]
    while len(p) < 3:
        p.append(0)
    return (p[0] << 16) | (p[1] << 8) | p[2]


def version_str(n):
    return "%d.%d.%d" % (n >> 16, (n >> 8) & 0xFF, n & 0xFF)


def parse_header(h):
    if len(h) < HEADER or h[:8] != MAGIC:
        raise UpdateError("not an update image")
    hl, ver = struct.unpack(">HI", h[8:14])
    if hl != HEADER:
        raise UpdateError("header length %d" % hl)
    try:
        board = bytes(h[14:30]).rstrip(b"\x00").decode()
    except UnicodeError:
        raise UpdateError("board name")
    n, = struct.unpack(">I", h[30:34])
    return {"version": ver, "board": board, "length": n, "sha256": bytes(h[34:66]),
            "created": struct.unpack(">Q", h[66:74])[0], "signed": bytes(h[:96]),
            "r": int.from_bytes(h[96:128], "big"), "s": int.from_bytes(h[128:160], "big")}



def _size(p):
    try:
        return os.stat(p)[6]
    except OSError:
        return 0


def read_state(path=FW + "/boot.json"):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_state(st, path=FW + "/boot.json"):
    from store.records import write_atomic

    write_atomic(path, json.dumps(st).encode(), True)


def installed_version(fw=FW):
    """Version of the running image: the boot slot's recorded version, else the build's."""
    st = read_state(fw + "/boot.json")
    try:
        import vboot

        slot = getattr(vboot, "SLOT", None)
    except ImportError:
        slot = None
    v = (st.get("versions") or {}).get(slot or st.get("active") or "factory")
    if v is None:
        try:
            import _build

            v = _build.VERSION
        except ImportError:
            v = "0.0.0"
    return parse_version(v)


class Updater:
    def __init__(self, wan, fw=FW):
        self.wan = wan
        self.ctx = wan.ctx
        self.fw = fw
        self.refused = None
        self.refused_offer = None  # (version, sha256) of an image refused at verification
        self.board = getattr(getattr(self.ctx, "board", None), "NAME", "unix")
        self.report_boot()

    def report_boot(self):
        """Log what the boot loader did: a rollback after a failed trial boot."""
        st = self.state()
        rb = st.pop("rolled_back", None)
        if rb:
            # that version is not staged again (each offer of it would be another trial
            # boot, restart and rollback); a newer one is
            v = (st.get("versions") or {}).get(rb)
            if v is not None:
                st["failed"] = parse_version(v)
            self.save(st)
            self._log(3, "fw.rollback", "firmware in slot %s (%s) did not confirm its health: "
                      "rolled back to %s" % (rb, (st.get("versions") or {}).get(rb),
                                             st.get("active") or "factory"), metrological=True)

    def _log(self, level, event, msg, metrological=False):
        self.ctx.log(level, event, msg)
        if metrological:
            logs = getattr(getattr(self.ctx, "core", None), "logs", None)
            cal = logs.get("calibration") if isinstance(logs, dict) else None
            if cal is not None:
                try:
                    cal.append(level, event, msg, subject="firmware")
                except Exception:  # noqa: BLE001 - the system log has it anyway
                    pass

    def state(self):
        return read_state(self.fw + "/boot.json")

    def save(self, st):
        write_state(st, self.fw + "/boot.json")

    # ---- poll, download, verify, stage -------------------------------------------------
    async def poll(self, request):
        self.confirm()
        st, _, body = await request("GET", "/update")
        if st != 200:
            return None
        return await self.offer(request, body)

    async def offer(self, request, body):
        """Handle the body of a 200 answer to GET /update."""
        try:
            offer = json.loads(body)
            ver = parse_version(offer["version"])
            size = offer["size"]
            at = offer.setdefault("activate_at", 0)
            # kept in update.json and boot.json, compared with the clock at every tick
            # (Updater.tick): a wrong type there would fail each tick, not this offer
            for v in (size, at):
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise ValueError
            if size <= HEADER or not isinstance(offer.get("path", "/"), str):
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError):
            self._log(3, "fw.offer", "malformed update offer")
            return None
        cur = installed_version(self.fw)
        st = self.state()
        staged = st.get("staged") or {}
        if ver == st.get("failed") or (ver, offer.get("sha256")) == self.refused_offer:
            if self.refused != ver:
                self.refused = ver
                self._log(2, "fw.refused", "offer %s was refused before (failed trial boot "
                          "or verification): not downloaded again" % version_str(ver))
            return None
        if ver <= cur or staged.get("version") == ver:
            if ver < cur and self.refused != ver:
                self.refused = ver
                self._log(2, "fw.refused", "offer %s is older than installed %s: no downgrade"
                          % (version_str(ver), version_str(cur)))
            return None
        return await self.download(request, offer, ver, size)

    async def download(self, request, offer, ver, size):
        mkdirs(self.fw)
        part = self.fw + "/update.part"
        meta = self.fw + "/update.json"
        try:
            with open(meta) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
        if old != offer:
            if exists(part):
                os.remove(part)
            from store.records import write_atomic

            write_atomic(meta, json.dumps(offer).encode(), True)
            self._log(1, "fw.download", "downloading %s (%d bytes)" % (offer["version"], size))
        have = _size(part)
        if have:
            self._log(1, "fw.download", "resuming at %d of %d bytes" % (have, size))
        checked = have >= HEADER
        while have < size:
            end = min(size, have + _CHUNK) - 1  # small chunks: RAM, and resumable
            st, _, chunk = await request("GET", offer.get("path", "/image"), b"",
                                         {"Range": "bytes=%d-%d" % (have, end)},
                                         max_body=_CHUNK, keep=True)
            if st not in (200, 206) or not chunk:
                raise WanError("image download: HTTP %d" % st, "gwa")
            if len(chunk) > end + 1 - have or (st == 200 and have):
                # the whole image from its start, or more than asked: appended, it would
                # spoil what is there (Range not honoured)
                raise WanError("image download: range %d-%d not honoured" % (have, end), "gwa")
            with open(part, "ab") as f:
                f.write(chunk)
            have += len(chunk)
            if not checked and have >= HEADER:
                # the header as soon as it is here: an image for another board, version
                # or size is not downloaded to its end (then refused)
                checked = True
                with open(part, "rb") as f:
                    h = f.read(HEADER)
                try:
                    h = parse_header(h)
                    if h["board"] != self.board:
                        raise UpdateError("image for board %s" % h["board"])
                    if h["version"] != ver or h["length"] + HEADER != size:
                        raise UpdateError("image header differs from the offer")
                except UpdateError as e:
                    return self._refuse(part, ver, e)
        return self.verify_and_stage(part, ver)

    def _refuse(self, part, ver, e):
        """An image refused: logged, its files removed, this offer not downloaded again."""
        self._log(3, "fw.verify", "update refused: %s" % e)
        try:
            with open(self.fw + "/update.json") as f:
                self.refused_offer = (ver, json.load(f).get("sha256"))
        except (OSError, ValueError, AttributeError):
            pass
        for p in (part, self.fw + "/update.json"):
            if exists(p):
                os.remove(p)
        return False

    def verify(self, path):
        with open(path, "rb") as f:
            h = parse_header(f.read(HEADER))
            if h["board"] != self.board:
                raise UpdateError("image for board %s" % h["board"])
            sha = hashlib.sha256()
            n = 0
            buf = bytearray(1024)
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                sha.update(memoryview(buf)[:k])
                n += k
        if n != h["length"] or sha.digest() != h["sha256"]:
            raise UpdateError("image length/hash mismatch")
        ident = self.wan.ident
        try:
            signer = ident.peer_cert("fwsign")
        except WanError:
            signer = ident.peer_cert(self.wan.gwa.get("name", "gwa"))
        finally:
            unload("crypto.cms")  # loaded per check, not kept (RAM)
        if not self.wan.secmod.verify(signer.point, hashlib.sha256(h["signed"]).digest(),
                                      h["r"], h["s"]):
            raise UpdateError("bad signature")
        if h["version"] <= installed_version(self.fw):
            raise UpdateError("version %s not newer than installed: no downgrade"
                              % version_str(h["version"]))
        return h

    def verify_and_stage(self, part, ver):
        try:
            h = self.verify(part)
            if h["version"] != ver:
                raise UpdateError("image version differs from the offer")
        except (UpdateError, OSError) as e:
            return self._refuse(part, ver, e)
        st = self.state()
        active = st.get("active") or "factory"
        slot = "b" if active == "a" else "a"
        dst = self.fw + "/%s.romfs" % slot
        with open(part, "rb") as src, open(dst + ".tmp", "wb") as out:
            src.seek(HEADER)
            buf = bytearray(1024)
            while True:
                k = src.readinto(buf)
                if not k:
                    break
                out.write(memoryview(buf)[:k])
        os.rename(dst + ".tmp", dst)
        os.remove(part)
        try:
            with open(self.fw + "/update.json") as f:
                at = json.load(f).get("activate_at", 0)
        except (OSError, ValueError):
            at = 0
        st["staged"] = {"slot": slot, "version": h["version"], "activate_at": at}
        self.save(st)
        self._log(1, "fw.staged", "firmware %s verified and staged in slot %s, activation at %d"
                  % (version_str(h["version"]), slot, at))
        return True

    # ---- activation, health, rollback -------------------------------------------------
    def tick(self):
        """Called periodically: activate a staged image when its time has come."""
        st = self.state()
        s = st.get("staged")
        if not s or self.ctx.now() < s.get("activate_at", 0):
            return False
        st.pop("staged")
        st["trial"] = s["slot"]
        st["trial_boots"] = 0
        st.setdefault("versions", {})[s["slot"]] = version_str(s["version"])
        self.save(st)
        self._log(1, "fw.activate", "activating firmware %s (slot %s): restart for trial boot"
                  % (version_str(s["version"]), s["slot"]), metrological=True)
        self.restart()
        return True

    def confirm(self):
        """The running trial image is healthy: make its slot the active one."""
        st = self.state()
        t = st.get("trial")
        try:
            import vboot

            running = getattr(vboot, "SLOT", None)
        except ImportError:
            running = None
        if not t or running != t:
            return False
        st["previous"] = st.get("active") or "factory"
        st["active"] = t
        st["trial"] = None
        st["trial_boots"] = 0
        self.save(st)
        self._log(1, "fw.confirmed", "firmware %s confirmed healthy in slot %s" % (
            (st.get("versions") or {}).get(t), t), metrological=True)
        return True

    def restart(self):
        reset = getattr(getattr(self.ctx, "board", None), "reset", None)
        if reset:
            reset()
        try:
            import machine

            reset = machine.reset
        except (ImportError, AttributeError):  # unix port: the process ends, vboard restarts
            raise SystemExit(3)
        reset()
