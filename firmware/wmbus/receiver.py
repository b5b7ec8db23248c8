"""Telegram handling between the radio and the core: decode, filter, map, ingest.

`Receiver(ctx, keys).handle(frame, fmt, rssi)` for every frame the radio delivers:
- decode (wmbus.telegram) with the key store; WmbusError -> counted by layer and logged
  (decryption failures with the meter id, rate-limited per meter);
- unknown meters (not in the key store) are counted and logged once, never ingested; at
  most 64 are listed (a gateway hears its neighbours' meters: bounded RAM);
- replay protection per meter: the AFL/CCM message counter must increase (a meter that
  restarted its counter is accepted after 3 telegrams in a row with increasing counters);
  otherwise the access number must differ from the last one (repeaters resend the same
  telegram, and the 8-bit access number wraps, so "differ" is the test); a telegram with
  neither (CI 0x78 without ELL) must differ from the last one in content (its CRC-16);
  duplicates are dropped;
- good telegrams: wMT LED pulse, ctx.meter_seen, one ctx.ingest per OBIS channel.
"""
import time

from texts import msg
from wmbus import WmbusError
from wmbus.crc import crc

# The decoder (wmbus.telegram, .apl, .frame, .obis: ~12 KB of heap on x64) is imported on
# the first frame, not at boot: a gateway without wireless meters never pays for it.

try:  # the app's LED renderer (80 ms pulse); absent in bare tests
    from app.leds import pulse as _pulse
except ImportError:
    _pulse = None

_LOG_EVERY = const(100)
_RESYNC = const(3)
_UNKNOWN_MAX = const(64)  # unknown meters listed (ids + telegram counts) for diag
# log events and texts, diag keys: msg(_T, i) (one string constant: RAM)
_T = const(("wmbus.ingest"  # 0
            "|wmbus.unknown"  # 1
            "|more than %d unknown meters: further ones are counted, not listed"  # 2
            "|unknown meter %s (encrypted, no key)"  # 3
            "|unknown meter %s (type 0x%02x, mode %s)"  # 4
            "|wmbus.counter"  # 5
            "|meter %s restarted its message counter"  # 6
            "|wmbus.decrypt"  # 7
            "|decryption failed for meter %s (%s, %d times)"  # 8
            "|errors_by_layer"  # 9
            "|unknown_meters"  # 10
            "|decrypt_failures"  # 11
            "|last_decode_us"))  # 12


class Receiver:
    def __init__(self, ctx, keys):
        self.ctx = ctx
        self.keys = keys
        # meter -> (counter + 1 or 0) << 9 | access number (256: None); without either:
        # -1 - CRC-16 of the telegram
        self.last = {}
        self.unknown = {}  # meter -> telegrams seen
        self.fail = {}  # meter -> decryption failures
        self.frags = {}  # meter -> AFL reassembly state (bounded in wmbus.telegram)
        self.back = {}  # meter -> (last counter below the accepted one, run length)
        self.stats = {"frames": 0, "good": 0, "readings": 0, "errors": 0, "decrypt_failed": 0,
                      "replayed": 0, "unknown": 0, "unknown_unlisted": 0}
        self.errors = {}  # layer -> count
        self.last_us = 0
        self.led_until = None

    def _key(self, meter):
        sm = getattr(self.ctx, "secmod", None)
        if sm is not None and hasattr(sm, "meter_key"):
            k = sm.meter_key(meter)
            if k:
                return k
        return self.keys.get(meter)

    def handle(self, frame, fmt="auto", rssi=None, mode=""):
        """Process one frame (bytes starting at L). Returns the number of readings."""
        st = self.stats
        st["frames"] += 1
        t0 = time.ticks_us()
        from wmbus.telegram import decode

        try:
            t = decode(frame, self._key, fmt, False, self.frags)
        except WmbusError as e:
            return self._error(e)
        if "incomplete" in t:  # an AFL fragment: wait for the rest
            return 0
        meter = t["meter"]
        if not self.keys.known(meter):
            return self._unknown(meter, t)
        # a known meter's id interned (a qstr, bounded by the key store): the one object
        # in self.last, ctx.meters and the OML, and the decoder's next copies are it
        hasattr(Receiver, meter)
        meter = "%s" % meter
        acc = t["access_number"]
        ctr = t["counter"]
        # one int per meter, not a tuple (RAM; an immediate small int on x64)
        a9 = 256 if acc is None else acc
        if acc is None and ctr is None:  # nothing counts: a repeat is the same telegram
            a9 = -1 - crc(frame)
        prev = self.last.get(meter)
        if prev is not None:
            if ctr is not None and prev >= 512:
                if ctr <= (prev >> 9) - 1 and not self._reset(meter, ctr):
                    st["replayed"] += 1
                    return 0
            elif a9 == (prev if prev < 0 else prev & 511):
                st["replayed"] += 1
                return 0
        if self.back:
            self.back.pop(meter, None)
        self.last[meter] = a9 if a9 < 0 else (0 if ctr is None else (ctr + 1) << 9) | a9
        st["good"] += 1
        if _pulse is not None:
            _pulse(self.ctx, "WMT", 80)
        else:
            self.led_until = time.ticks_add(time.ticks_ms(), 80)
            self.ctx.led("WMT", 1)
        info = {"rssi_dbm": rssi, "mode": mode, "access_number": acc,
                "security_mode": t["security_mode"], "device_type": t["device_type"]}
        if "apl_error" in t:
            info["apl_error"] = t["apl_error"]
        self.ctx.meter_seen(meter, "wmbus", **info)
        now = self.ctx.now()
        n = 0
        from wmbus import obis

        for ob, raw, scaler, unit in obis.channels(t["device_type"], t["records"]):
            try:
                self.ctx.ingest(meter, ob, raw, scaler, unit, now, t["status"], via="wmbus")
                n += 1
            except Exception as e:  # noqa: BLE001 - a core problem must not stop the radio
                self.ctx.log(3, msg(_T, 0), "%s %s: %s" % (meter, ob, e))  # wmbus.ingest
        st["readings"] += n
        self.last_us = time.ticks_diff(time.ticks_us(), t0)
        return n

    def _unknown(self, meter, t):
        """A meter not in the key store: counted, logged once. Neighbours' meters are
        heard too, so at most _UNKNOWN_MAX are listed (RAM); telegrams of further ones
        are only counted in stats["unknown_unlisted"]."""
        n = self.unknown.get(meter)
        if n is None:
            st = self.stats
            if len(self.unknown) >= _UNKNOWN_MAX:
                if not st["unknown_unlisted"]:
                    self.ctx.log(2, msg(_T, 1), msg(_T, 2) % _UNKNOWN_MAX)
                st["unknown_unlisted"] += 1
                return 0
            n = 0
            st["unknown"] += 1
            if t is None:
                self.ctx.log(2, msg(_T, 1), msg(_T, 3) % meter)
            else:
                self.ctx.log(2, msg(_T, 1), msg(_T, 4)
                             % (meter, t["device_type"], t["security_mode"]))
        self.unknown[meter] = n + 1
        return 0

    def _reset(self, meter, ctr):
        """A counter below the last one is a replay - unless the meter restarted its counter
        (battery change, reset): _RESYNC telegrams in a row with increasing counters, all
        below the old one, are accepted as the new sequence (and logged)."""
        b = self.back.get(meter)
        if b is None or ctr <= b[0]:
            self.back[meter] = (ctr, 1)
            return False
        n = b[1] + 1
        self.back[meter] = (ctr, n)
        if n < _RESYNC:
            return False
        self.ctx.log(2, msg(_T, 5), msg(_T, 6) % meter)
        return True

    def _error(self, e):
        st = self.stats
        self.errors[e.layer] = self.errors.get(e.layer, 0) + 1
        if e.layer == "key" and e.meter and not self.keys.known(e.meter):
            return self._unknown(e.meter, None)
        if e.layer in ("decrypt", "mac") or e.layer == "key" and e.meter:
            # (a listed meter without a key that sends encrypted: no key is a wrong key)
            st["decrypt_failed"] += 1
            n = self.fail.get(e.meter, 0)
            self.fail[e.meter] = n + 1
            if n % _LOG_EVERY == 0:
                self.ctx.log(3, msg(_T, 7), msg(_T, 8)
                             % (e.meter, e.reason, n + 1))
            return 0
        st["errors"] += 1
        return 0

    def tick(self):
        """Turn the wMT LED off after its pulse (called from the radio task)."""
        if self.led_until is not None and time.ticks_diff(time.ticks_ms(), self.led_until) >= 0:
            self.ctx.led("WMT", 0)
            self.led_until = None

    def diag(self):
        d = dict(self.stats)
        d[msg(_T, 9)] = dict(self.errors)  # errors_by_layer
        d[msg(_T, 10)] = dict(self.unknown)  # unknown_meters
        d[msg(_T, 11)] = dict(self.fail)  # decrypt_failures
        d["keys"] = len(self.keys)
        d[msg(_T, 12)] = self.last_us  # last_decode_us
        return d
