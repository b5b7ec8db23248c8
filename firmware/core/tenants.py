"""End consumers (tenants): at most 3 active plus archived ones.

Configuration ("tenants" in /data/config/active.json), one dict per consumer:
  {"id": "1", "user": "consumer1", "password": "..." (optional, HAN login),
   "meters": [meter ids], "channels": [[meter, obis], ...] (empty = all of the meters),
   "contracts": [{"taf": "TAF7", "emt": "emt1", "valid_from": s, "valid_to": s|None}],
   "archived": false}
A consumer sees a value only if its meter (and channel, when listed) is bound to it and
one of its contracts is valid at the value's time (inclusive window). Archiving keeps
the data readable for the archived consumer but refuses new assignments (`assign`).
"""

from texts import msg as _m

MAX_ACTIVE = const(3)
# errors, _m(_T, i) (one string constant: RAM, see texts.py)
_T = const("tenant needs id and user|tenant %s: contract needs valid_from"
           "|tenant %s: contract ends before it starts|duplicate user %s"
           "|more than %d active consumers|user exists: %s|already %d active consumers"
           "|no such consumer|consumer %s is archived|duplicate id %s"
           "|tenant %s: contract window: UTC seconds|tenant %s: meters/channels: lists of ids"
           "|tenant id: letters, digits, '_' or '-'")


class TenantError(Exception):
    pass


def _secs(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _contract(c, tid):
    """A checked copy of one contract (numbers for the window, the end not before the
    start): a bad window is a TenantError now, not a TypeError in a later visible()."""
    if not isinstance(c, dict) or "valid_from" not in c:
        raise TenantError(_m(_T, 1) % tid)
    vt = c.get("valid_to")
    if not _secs(c["valid_from"]) or not (vt is None or _secs(vt)):
        raise TenantError(_m(_T, 10) % tid)
    if vt is not None and vt < c["valid_from"]:
        raise TenantError(_m(_T, 2) % tid)
    return {"taf": c.get("taf"), "emt": c.get("emt"), "valid_from": c["valid_from"],
            "valid_to": vt}


class Tenant:
    def __init__(self, d):
        try:
            self.id = str(d["id"])
            self.user = str(d["user"])
        except (KeyError, TypeError):
            raise TenantError(_m(_T, 0))
        # the id names the consumer's log (list "log-consumer-<id>", a directory)
        for ch in self.id:
            if not (ch.isalpha() or ch.isdigit() or ch in "_-"):
                raise TenantError(_m(_T, 12))
        if not self.id or not self.user:
            raise TenantError(_m(_T, 0))
        self.password = d.get("password")
        self.ha1 = d.get("ha1")
        meters = d.get("meters") or []
        chans = d.get("channels") or []
        if (not isinstance(meters, (list, tuple)) or not isinstance(chans, (list, tuple))
                or not all(isinstance(m, str) for m in meters)
                or not all(isinstance(c, (list, tuple)) and len(c) == 2 for c in chans)):
            raise TenantError(_m(_T, 11) % self.id)
        self.meters = list(meters)
        self.channels = [tuple(c) for c in chans]
        self.contracts = []
        for c in d.get("contracts") or ():
            self.contracts.append(_contract(c, self.id))
        self.archived = bool(d.get("archived"))

    def covers(self, meter, obis, t):
        if meter not in self.meters:
            return False
        if self.channels and (meter, obis) not in self.channels:
            return False
        for c in self.contracts:
            if c["valid_from"] <= t and (c["valid_to"] is None or t <= c["valid_to"]):
                return True
        return False

    def as_dict(self):
        return {"id": self.id, "user": self.user, "meters": self.meters,
                "channels": [list(c) for c in self.channels], "contracts": self.contracts,
                "archived": self.archived}


class Tenants:
    def __init__(self, core=None):
        self.core = core
        self.by_user = {}

    def load(self, items):
        """Replace the tenant set from configuration; invalid input keeps the old set."""
        new = {}
        ids = set()
        for d in items or ():
            t = Tenant(d)
            if t.user in new:
                raise TenantError(_m(_T, 3) % t.user)
            if t.id in ids:  # two consumers would share one consumer log
                raise TenantError(_m(_T, 9) % t.id)
            ids.add(t.id)
            new[t.user] = t
        if sum(1 for t in new.values() if not t.archived) > MAX_ACTIVE:
            raise TenantError(_m(_T, 4) % MAX_ACTIVE)
        self.by_user = new
        return self

    def get(self, user):
        return self.by_user.get(user)

    def by_id(self, tid):
        for t in self.by_user.values():
            if t.id == str(tid):
                return t
        return None

    def active(self):
        return [t for t in self.by_user.values() if not t.archived]

    def archived(self):
        return [t for t in self.by_user.values() if t.archived]

    def visible(self, user, meter, obis, t):
        tn = self.by_user.get(user)
        return tn is not None and tn.covers(meter, obis, t)

    def filter(self, user, rows):
        """Only the rows (OML/TAF value dicts) the user may see."""
        tn = self.by_user.get(user)
        if tn is None:
            return []
        return [r for r in rows if tn.covers(r["meter"], r["obis"], r.get("target_time",
                                                                            r["capture_time"]))]

    def add(self, d):
        t = Tenant(d)
        if t.user in self.by_user:
            raise TenantError(_m(_T, 5) % t.user)
        if self.by_id(t.id) is not None:
            raise TenantError(_m(_T, 9) % t.id)
        if not t.archived and len(self.active()) >= MAX_ACTIVE:
            raise TenantError(_m(_T, 6) % MAX_ACTIVE)
        self.by_user[t.user] = t
        return t

    def assign(self, user, meter, contract=None):
        """Bind a meter (and optionally a contract) to an active consumer."""
        t = self.by_user.get(user)
        if t is None:
            raise TenantError(_m(_T, 7))
        if t.archived:
            raise TenantError(_m(_T, 8) % user)
        if not isinstance(meter, str):
            raise TenantError(_m(_T, 11) % t.id)
        c = _contract(contract, t.id) if contract else None
        if meter not in t.meters:
            t.meters.append(meter)
        if c:
            t.contracts.append(c)
        return t

    def archive(self, user, t_end):
        """End all open contracts at t_end and archive the consumer."""
        t = self.by_user.get(user)
        if t is None:
            raise TenantError(_m(_T, 7))
        if not _secs(t_end):
            raise TenantError(_m(_T, 10) % t.id)
        for c in t.contracts:
            if c["valid_to"] is None or c["valid_to"] > t_end:
                c["valid_to"] = t_end
        t.archived = True
        return t
