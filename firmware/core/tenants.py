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
           "|no such consumer|consumer %s is archived")


class TenantError(Exception):
    pass


class Tenant:
    def __init__(self, d):
        try:
            self.id = str(d["id"])
            self.user = str(d["user"])
        except (KeyError, TypeError):
            raise TenantError(_m(_T, 0))
        self.password = d.get("password")
        self.ha1 = d.get("ha1")
        self.meters = list(d.get("meters") or ())
        self.channels = [tuple(c) for c in d.get("channels") or ()]
        self.contracts = []
        for c in d.get("contracts") or ():
            if not isinstance(c, dict) or "valid_from" not in c:
                raise TenantError(_m(_T, 1) % self.id)
            vt = c.get("valid_to")
            if vt is not None and vt < c["valid_from"]:
                raise TenantError(_m(_T, 2) % self.id)
            self.contracts.append({"taf": c.get("taf"), "emt": c.get("emt"),
                                   "valid_from": c["valid_from"], "valid_to": vt})
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
        for d in items or ():
            t = Tenant(d)
            if t.user in new:
                raise TenantError(_m(_T, 3) % t.user)
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
        if meter not in t.meters:
            t.meters.append(meter)
        if contract:
            t.contracts.append({"taf": contract.get("taf"), "emt": contract.get("emt"),
                                "valid_from": contract["valid_from"],
                                "valid_to": contract.get("valid_to")})
        return t

    def archive(self, user, t_end):
        """End all open contracts at t_end and archive the consumer."""
        t = self.by_user.get(user)
        if t is None:
            raise TenantError(_m(_T, 7))
        for c in t.contracts:
            if c["valid_to"] is None or c["valid_to"] > t_end:
                c["valid_to"] = t_end
        t.archived = True
        return t
