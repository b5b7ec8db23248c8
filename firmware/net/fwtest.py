"""The firewall's self-test (Firewall.self_test): every forbidden combination is
refused, a refusal raises and is logged, every configured rule lies inside the policy.
Its own module: the self-test runs rarely (the API allows it every 10 minutes), the
firewall is loaded all the time."""
from net.firewall import FirewallError, permitted


def run(fw):
    """Check the policy: every forbidden combination is refused, and a refusal
    raises and is logged. Returns {"ok": bool, "checks": [[name, passed], ...],
    "rules": n}. The probes never touch the network."""
    checks = []
    probes = [
        ("lmn out", "lmn", "out", "gwa", "127.0.0.1", 443),
        ("lmn in", "lmn", "in", "han-https", "*", 443),
        ("han out", "han", "out", "emt", "127.0.0.1", 443),
        ("cls out direct", "cls", "out", "cls-proxy", "127.0.0.1", 443),
        ("wan in (not wake-up)", "wan", "in", "han-https", "*", 443),
        ("wan out unconfigured", "wan", "out", "emt", "192.0.2.1", 9),
        ("han in foreign service", "han", "in", "telnet", "*", 23),
    ]
    for name, net, d, purpose, host, port in probes:
        checks.append([name, not fw.check(net, d, purpose, host, port)])
    # the refusal path itself: raises, counts and logs (captured, not reported as
    # a warning, and not counted as a real refusal)
    seen = []
    log, fw.log = fw.log, lambda lvl, ev, msg: seen.append(ev)
    last = fw.last_refusal  # the probe is not a refusal to show (diag, technician page)
    try:
        fw.enforce("lmn", "out", "gwa", "127.0.0.1", 443)
        raised = False
    except FirewallError:
        raised = True
        fw.refused -= 1
    finally:
        fw.log = log
        fw.last_refusal = last
    checks.append(["refusal raises and logs", raised and seen == ["fw.refuse"]])
    # every configured rule must lie inside the policy matrix
    inside = all(permitted(r[0], r[1], r[2]) and (r[3] != "*" or r[1] == "in")
                 for r in fw.rules)
    checks.append(["rules inside policy", inside])
    ok = all(c[1] for c in checks)
    if fw.log:
        fw.log(1 if ok else 4, "fw.selftest", "ok" if ok else "FAILED %s" % [
            c[0] for c in checks if not c[1]])
    return {"ok": ok, "checks": checks, "rules": len(fw.rules)}
