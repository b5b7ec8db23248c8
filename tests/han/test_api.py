"""HAN HTTPS portal and JSON API, over real TLS on loopback, with real HTTP clients:
requests and httpx (Digest MD5, as they pick the MD5 challenge), gwtool.han_client
(RFC 7616 SHA-256 and MD5), against the han service on a fake core in MicroPython."""
import json

import httpx
import pytest
import requests
from hanfixture import NOW as NOW_
from hanfixture import FakeGateway

from gwtool.han_client import HanClient, HanError

MA = "0a01454d480000b8ef47"
MB = "0a01454d480000b8ef48"


def session(gw, key):
    s = requests.Session()
    s.trust_env = False
    s.verify = gw.ca
    s.auth = requests.auth.HTTPDigestAuth(*gw.user(key))
    return s


def post(s, gw, user, body):
    return s.post(gw.url + f"/smgw/m2m/{user}.sm/json", json=body)


def test_requests_digest_md5_discovery_and_session(gw):
    s = session(gw, "consumer1")
    r = s.get(gw.url + "/smgw/m2m", allow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == "/smgw/m2m/consumer1.sm/json"
    assert "smgw_sid" in s.cookies
    info = post(s, gw, "consumer1", {"method": "smgw-info"}).json()
    assert info["smgw-info"]["firmware-info"]["version"]
    assert info["smgw-info"]["han-certificate"]["sha256"] == gw.fp
    # the cookie session alone (no Digest) is enough afterwards
    s2 = requests.Session()
    s2.trust_env = False
    s2.verify = gw.ca
    s2.cookies.update(s.cookies)
    assert post(s2, gw, "consumer1", {"method": "user-info"}).status_code == 200
    s2.cookies.clear()
    assert post(s2, gw, "consumer1", {"method": "user-info"}).status_code == 401


def test_digest_challenges_offer_sha256_then_md5(gw):
    r = requests.get(gw.url + "/smgw/m2m", verify=gw.ca, allow_redirects=False)
    assert r.status_code == 401
    hdrs = r.raw.headers.getlist("WWW-Authenticate")
    assert len(hdrs) == 2 and "algorithm=SHA-256" in hdrs[0] and "algorithm=MD5" in hdrs[1]
    assert all('qop="auth"' in h for h in hdrs)


def test_httpx_digest(gw):
    u, p = gw.user("consumer2")
    import ssl
    with httpx.Client(verify=ssl.create_default_context(cafile=gw.ca), auth=httpx.DigestAuth(u, p), trust_env=False) as c:
        r = c.get(gw.url + "/smgw/m2m", follow_redirects=False)
        assert r.status_code == 307
        r = c.post(gw.url + r.headers["location"], json={"method": "user-info"})
        assert r.status_code == 200
        ups = r.json()["user-info"]["usage-points"]
        assert [up["taf-number"] for up in ups] == ["1"]
        assert ups[0]["meter"] == [{"meter-id": MB}]


@pytest.mark.parametrize("alg", ["SHA-256", "MD5"])
def test_interface_client_both_algorithms_keep_alive(gw, alg):
    c = HanClient(gw.url, *gw.user("consumer1"), fingerprint=gw.fp, algorithm=alg)
    try:
        assert c.discover() == "/smgw/m2m/consumer1.sm/json"
        assert c.chal["algorithm"] == alg
        ups = c.call("user-info")["user-info"]["usage-points"]
        up = ups[0]["usage-point-id"]
        upi = c.call("usage-point-info", **{"usage-point-id": up, "database": "origin"})
        chans = upi["usage-point-info"]["databases"][0]["channels"]
        assert {"obis": "1-0:1.8.0*255", "meter-id": MA, "scaler": -1, "unit": 30} in chans
        for _ in range(5):
            c.call("readings", **{"usage-point-id": up, "last-reading": True})
        assert c.connections == 1  # one TLS handshake, keep-alive for all requests
    finally:
        c.close()


def test_wrong_fingerprint_is_refused(gw):
    c = HanClient(gw.url, *gw.user("consumer1"), fingerprint="00" * 32)
    with pytest.raises(Exception, match="fingerprint"):
        c.discover()


def test_readings_day_of_values_fields(gw):
    s = session(gw, "consumer1")
    r = post(s, gw, "consumer1", {"method": "readings", "usage-point-id": "up-1-1",
                                  "database": "origin", "channels": [{"channel": "1-0:1.8.0*255"}],
                                  "fromtime": "2023-11-14T22:00:00Z",
                                  "totime": "2023-11-15T22:00:00+00:00"})
    assert r.status_code == 200, r.text
    ch = r.json()["readings"]["channels"]
    assert len(ch) == 1 and ch[0]["obis"] == "1-0:1.8.0*255" and ch[0]["meter-id"] == MA
    rs = ch[0]["readings"]
    assert len(rs) == 97
    assert rs[0] == {"capture-time": "2023-11-14T22:00:00Z", "target-time": "2023-11-14T22:00:00Z",
                     "value": "1000000", "scaler": -1, "unit": 30, "cosem-status": "00000100"}
    r = post(s, gw, "consumer1", {"method": "readings", "usage-point-id": "up-1-1",
                                  "fromtime": "2023-10-01", "totime": "2023-11-15"})
    assert r.status_code == 400 and "31 days" in r.json()["error"]


def test_tenant_isolation_everywhere(gw):
    a, b = session(gw, "consumer1"), session(gw, "consumer2")
    texts = []
    for body in ({"method": "user-info"}, {"method": "readings", "last-reading": True},
                 {"method": "readings", "fromtime": "2023-11-14T00:00:00Z",
                  "totime": "2023-11-16T00:00:00Z"},
                 {"method": "usage-point-info"}, {"method": "log", "count": 100},
                 {"method": "smgw-info"}):
        r = post(b, gw, "consumer2", body)
        assert r.status_code == 200, (body, r.text)
        texts.append(r.text)
    texts.append(b.get(gw.url + "/ui").text)
    texts.append(b.get(gw.url + "/smgw/export?from=2023-11-14&to=2023-11-16").text)
    texts.append(b.get(gw.url + "/smgw/export?format=json&from=2023-11-14&to=2023-11-16").text)
    for t in texts:
        assert MA not in t and "TAF7" not in t and "for A" not in t
    assert any(MB in t for t in texts)
    # B asking for A's usage point or A's endpoint
    r = post(b, gw, "consumer2", {"method": "readings", "usage-point-id": "up-1-1"})
    assert r.status_code == 404
    assert post(b, gw, "consumer1", {"method": "user-info"}).status_code == 403
    # and A sees only A
    ta = post(a, gw, "consumer1", {"method": "readings", "last-reading": True}).text
    assert MA in ta and MB not in ta


def test_technician_sees_no_consumption_data(gw):
    t = session(gw, "technician")
    info = post(t, gw, "technician", {"method": "user-info"}).json()["user-info"]
    assert info["role"] == "technician" and info["usage-points"] == []
    for m in ("readings", "usage-point-info"):
        r = post(t, gw, "technician", {"method": m, "usage-point-id": "up-1-1"})
        assert r.status_code == 403
    assert t.get(gw.url + "/smgw/export").status_code == 403
    page = t.get(gw.url + "/ui").text
    assert "service technician" in page and "RSSI" in page and "-91" in page
    assert "System log" in page and "gateway started" in page
    for value in ("1024150", "102415.0", "1234 W", "5558640", "TAF7 value"):
        assert value not in page
    log = post(t, gw, "technician", {"method": "log"}).json()["log"]
    assert log["log"] == "system"


def test_consumer_log_paging(gw):
    s = session(gw, "consumer1")
    r = post(s, gw, "consumer1", {"method": "log", "fromindex": 0, "count": 1}).json()
    ents = r["log"]["entries"]
    assert r["log"]["log"] == "consumer-1" and len(ents) == 1
    assert ents[0]["message"] == "TAF7 value for A" and ents[0]["index"] == 1
    r = post(s, gw, "consumer1", {"method": "log", "fromindex": 1, "count": 10}).json()
    assert all(e["index"] > 1 for e in r["log"]["entries"])
    assert post(s, gw, "consumer1", {"method": "log", "count": 1501}).status_code == 400
    assert post(s, gw, "consumer1", {"method": "log", "fromtime": "yesterday"}).status_code == 400


def test_export_csv_and_json(gw):
    s = session(gw, "consumer1")
    r = s.get(gw.url + "/smgw/export?format=csv&from=2023-11-14T22:00:00Z&to=2023-11-15T22:00:00Z")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv"
    lines = r.text.strip().split("\r\n")
    assert lines[0] == "meter,obis,capture_time,target_time,value,scaler,unit,status"
    energy = [ln for ln in lines[1:] if ",1-0:1.8.0*255," in ln]
    assert len(energy) == 97 and energy[0].startswith(MA + ",1-0:1.8.0*255,2023-11-14T22:00:00Z")
    r = s.get(gw.url + "/smgw/export?format=json&from=2023-11-14T22:00:00Z&to=2023-11-15T22:00:00Z")
    rows = r.json()["rows"]
    assert len([x for x in rows if x["obis"] == "1-0:1.8.0*255"]) == 97
    assert s.get(gw.url + "/smgw/export?format=xml").status_code == 400


def test_self_test_at_most_every_ten_minutes(gw):
    s = session(gw, "technician")
    r = post(s, gw, "technician", {"method": "self-test"})
    assert r.status_code == 200, r.text
    res = r.json()["self-test"]
    assert res["result"] == "ok" and res["checks"]["firewall"]["ok"]
    r = post(s, gw, "technician", {"method": "self-test"})
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 600
    log = post(s, gw, "technician", {"method": "log", "count": 100}).json()["log"]["entries"]
    assert any(e["event"] == "han.selftest" for e in log)


def test_bad_requests_answer_and_server_keeps_running(gw):
    s = session(gw, "consumer1")
    url = gw.url + "/smgw/m2m/consumer1.sm/json"
    assert s.post(url, data=b"{not json", headers={"Content-Type": "application/json"}
                  ).status_code == 400
    assert post(s, gw, "consumer1", {"method": "nope"}).status_code == 400
    assert post(s, gw, "consumer1", ["method"]).status_code == 400
    assert s.get(url).status_code == 405
    assert s.get(gw.url + "/nothing").status_code == 404
    assert s.post(url, data=b"x" * 20000).status_code == 413
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=gw.ca)
    with socket.create_connection(("127.0.0.1", gw.port)) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
        t.sendall(b"GARBAGE\r\n\r\n")
        assert t.recv(100).startswith(b"HTTP/1.1 400")
    # a client that connects and never speaks TLS does not block others
    idle = socket.create_connection(("127.0.0.1", gw.port))
    try:
        assert post(s, gw, "consumer1", {"method": "smgw-info"}).status_code == 200
    finally:
        idle.close()


def test_failed_logins_rate_limited_with_retry_after(tmp_path):
    g = FakeGateway(tmp_path)
    try:
        bad = HanClient(g.url, "consumer1", "wrong", fingerprint=g.fp)
        codes = []
        for _ in range(6):  # one failed Digest attempt per call
            with pytest.raises(HanError) as e:
                bad.discover()
            codes.append(e.value.status)
        assert codes == [401] * 4 + [429, 429], codes
        r = requests.get(g.url + "/smgw/m2m", verify=g.ca, allow_redirects=False)
        wait = int(r.headers["Retry-After"])
        assert r.status_code == 429 and 1 <= wait <= 300
        good = requests.Session()
        good.trust_env = False
        good.verify = g.ca
        good.auth = requests.auth.HTTPDigestAuth(*g.user("consumer1"))
        assert good.get(g.url + "/smgw/m2m", allow_redirects=False).status_code == 429
        import time
        time.sleep(wait + 0.2)
        # not a lock-out: after Retry-After the right password works again
        assert good.get(g.url + "/smgw/m2m", allow_redirects=False).status_code == 307
    finally:
        g.stop()
    log = (tmp_path / "mp.log").read_text()
    assert log == "" or "Traceback" not in log


def test_page_consumer_has_chart_and_values(gw):
    s = session(gw, "consumer1")
    r = s.get(gw.url + "/ui")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    html = r.text
    assert "<svg" in html and html.count("<rect") > 90
    assert "1234 W" in html and "102415.0 Wh" in html
    assert "TAF7" in html and "emt1" in html and "TAF7 value for A" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "<script" not in html
    assert json.dumps(MB) not in html


def test_client_certificate_login(tmp_path):
    import hashlib

    from gwtool.pki import Pki

    p = Pki(tmp_path / "clients")
    good = p.issue("ems-controller", server=False)
    other = p.issue("stranger", server=False)
    fp = hashlib.sha256(good["der"].read_bytes()).hexdigest()
    g = FakeGateway(tmp_path, {"now": NOW_, "han": {"users": {
        "ems": {"role": "consumer", "cert": fp}}}})
    try:
        def get(cert):
            s = requests.Session()
            s.trust_env = False
            s.verify = g.ca
            s.cert = cert
            return s.get(g.url + "/smgw/m2m", allow_redirects=False)

        r = get((str(good["crt"]), str(good["key"])))
        assert r.status_code == 307 and r.headers["Location"] == "/smgw/m2m/ems.sm/json"
        assert get((str(other["crt"]), str(other["key"]))).status_code == 401
        assert get(None).status_code == 401
        # Digest still works on the same server
        s = session(g, "consumer1")
        assert s.get(g.url + "/smgw/m2m", allow_redirects=False).status_code == 307
    finally:
        g.stop()


def test_derived_database_is_tenant_filtered(gw):
    a, b = session(gw, "consumer1"), session(gw, "consumer2")
    body = {"method": "readings", "database": "derived", "fromtime": "2023-11-14T22:00:00Z",
            "totime": "2023-11-15T22:00:00Z"}
    ra = post(a, gw, "consumer1", dict(body, **{"usage-point-id": "up-1-1"})).json()
    ch = ra["readings"]["channels"]
    assert [c["meter-id"] for c in ch] == [MA] and len(ch[0]["readings"]) == 97
    rb = post(b, gw, "consumer2", dict(body, **{"usage-point-id": "up-2-1"})).text
    assert MA not in rb and MB in rb
    assert post(a, gw, "consumer1", dict(body, database="daily")).status_code == 400


def test_idle_keep_alive_connection_is_closed(tmp_path):
    import socket
    import ssl
    import time

    g = FakeGateway(tmp_path, {"han": {"conn_idle_s": 1}})
    try:
        ctx = ssl.create_default_context(cafile=g.ca)
        with socket.create_connection(("127.0.0.1", g.port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
            t.sendall(b"GET /smgw/m2m HTTP/1.1\r\nHost: x\r\n\r\n")
            assert t.recv(4096).startswith(b"HTTP/1.1 401")
            t0 = time.monotonic()
            assert t.recv(100) == b""  # closed by the server, not by us
            assert 0.8 < time.monotonic() - t0 < 5
    finally:
        g.stop()
