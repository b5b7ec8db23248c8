# WAN link state machine (wan.link, wan.link_lte, wan.link_eth) with a scripted modem.
# heapsize: 512K
import asyncio
from mptest import eq
from drivers.modem import Modem
from wan.link import Link
from wan.link_lte import LteLink
from wan.link_eth import EthLink
from fakemodem import FakeModem, FakeCtx

FAST = {"backoff_min_s": 0.05, "backoff_max_s": 0.2, "poll_s": 0.05, "reg_timeout_s": 2,
        "supervision_s": 3600, "carrier_timeout_s": 1}


def lte(fake, **cfg):
    c = dict(FAST)
    c.update(cfg)
    ctx = FakeCtx()
    return ctx, LteLink(ctx, Modem(fake), c)


async def until(cond, ms=3000):
    for _ in range(ms // 10):
        if cond():
            return True
        await asyncio.sleep_ms(10)
    return False


async def test_lte_comes_up_with_rssi_operator_and_logs_states():
    f = FakeModem(reg_after=2, csq=17)
    ctx, link = lte(f, apn="iot.example")
    states = []
    link.on_change(lambda l, old, new: states.append(new))
    t = asyncio.create_task(link.run())
    assert await link.up(6)
    i = link.info()
    eq(i["state"], "up")
    eq(i["rssi_dbm"], -79)
    eq(i["operator"], "Fake Telecom")
    eq(i["tech"], "LTE")
    eq(i["ip"], "10.64.1.2")
    eq(i["variant"], "M")
    eq(states, ["registering", "up"])
    assert 'AT+CGDCONT=1,"IP","iot.example"' in f.sent
    eq(ctx.events(), ["link.registering", "link.up"])
    eq(ctx.leds["RSSI"], 1)
    assert await link.down(2)
    eq(f.pdp, 0)  # PDP context deactivated
    eq(ctx.leds["RSSI"], 0)
    t.cancel()


async def test_no_sim_fails_then_recovers_when_sim_appears():
    f = FakeModem(sim="NOT INSERTED")
    ctx, link = lte(f, reset_after=100)
    t = asyncio.create_task(link.run())
    assert await until(lambda: link.counters["failures"] >= 2)
    eq(link.state, "failed")
    assert "SIM not inserted" in link.reason, link.reason
    eq(f.pdp, 0)
    assert "AT+CGACT=1,1" not in f.sent  # no data session attempted without a SIM
    f.sim = "READY"
    assert await until(lambda: link.state == "up")
    t.cancel()


async def test_wrong_pin_is_sent_once_only_until_reconfigured():
    f = FakeModem(sim="SIM PIN", pin="1234")
    ctx, link = lte(f, pin="0000", reset_after=100)
    t = asyncio.create_task(link.run())
    assert await until(lambda: link.counters["failures"] >= 3)
    eq(f.pin_attempts, 1)  # never a second wrong PIN (three would lock the SIM)
    assert "wrong PIN" in link.reason
    link.configure({"pin": "1234"})
    assert await until(lambda: link.state == "up")
    eq(f.pin_attempts, 2)
    t.cancel()


async def test_registration_drop_urc_takes_link_down_and_it_recovers():
    f = FakeModem()
    ctx, link = lte(f, poll_s=60)  # no polling: only the URC can notice the loss
    t = asyncio.create_task(link.run())
    assert await link.up(3)
    ups = link.counters["ups"]
    f.stat = 2
    f.push('+CEREG: 2')
    assert await until(lambda: link.state != "up", 1000)
    f.stat = 1
    assert await until(lambda: link.counters["ups"] == ups + 1)
    eq(link.counters["losses"], 1)
    assert any("registration lost" in m for _, e, m in ctx.logs if e == "link.down")
    t.cancel()


async def test_pdn_deactivation_and_module_reboot_urcs():
    f = FakeModem()
    ctx, link = lte(f, poll_s=60)
    t = asyncio.create_task(link.run())
    assert await link.up(3)
    f.push("+CGEV: NW PDN DEACT 1")
    assert await until(lambda: link.counters["ups"] == 2)
    f.push("RDY")
    assert await until(lambda: link.counters["ups"] == 3)
    eq(link.counters["losses"], 2)
    t.cancel()


async def test_polling_notices_lost_registration_and_signal_change():
    f = FakeModem()
    ctx, link = lte(f)
    t = asyncio.create_task(link.run())
    assert await link.up(3)
    f.csq = 5
    assert await until(lambda: link.rssi_dbm == -103)
    f.stat = 4  # no URC: the poll has to find it
    assert await until(lambda: link.state != "up")
    f.stat = 1
    assert await until(lambda: link.state == "up")
    t.cancel()


async def test_denied_registration_fails_fast_and_backs_off():
    f = FakeModem(stat=3)
    ctx, link = lte(f, reset_after=100)
    t = asyncio.create_task(link.run())
    assert await until(lambda: link.counters["failures"] >= 2)
    eq(link.reason, "registration denied")
    eq(ctx.leds["RSSI"], 0)
    t.cancel()


async def test_hung_modem_is_reset_after_repeated_failures():
    f = FakeModem()
    f.mute = True
    ctx, link = lte(f, reset_after=2, sync_tries=2)
    t = asyncio.create_task(link.run())
    assert await until(lambda: link.counters["resets"] >= 1, 5000)
    assert "link.reset" in ctx.events()
    assert "AT+CFUN=1,1" in f.sent
    f.mute = False
    assert await until(lambda: link.state == "up", 9000), ctx.logs
    t.cancel()


async def test_supervision_cycles_link_without_wan_sessions():
    f = FakeModem()
    ctx, link = lte(f, supervision_s=100)
    t = asyncio.create_task(link.run())
    assert await link.up(3)
    ctx.t += 50
    link.session_ok()  # a WAN session: the timer restarts
    ctx.t += 60
    await asyncio.sleep_ms(100)
    eq(link.counters["cycles"], 0)
    eq(link.state, "up")
    ctx.t += 50  # 110 s after the last session
    assert await until(lambda: link.counters["cycles"] == 1)
    assert "link.supervision" in ctx.events()
    assert await until(lambda: link.counters["ups"] == 2)
    eq(link.state, "up")
    eq(link.counters["sessions_ok"], 1)
    t.cancel()


async def test_no_modem_uart_is_a_failed_link_not_a_crash():
    ctx = FakeCtx()
    link = LteLink(ctx, None, dict(FAST))
    t = asyncio.create_task(link.run())
    assert await until(lambda: link.state == "failed")
    assert "no modem" in link.reason
    t.cancel()


class FakePpp:
    def __init__(self, stream):
        self.stream = stream
        self.up = False
        self.connects = 0

    def connect(self):
        self.connects += 1
        self.up = True

    def isconnected(self):
        return self.up

    def ifconfig(self):
        return ("10.99.0.1", "255.255.255.255", "10.99.0.254", "8.8.8.8")

    def disconnect(self):
        self.up = False


async def test_ppp_data_session_dial_monitor_and_hangup():
    f = FakeModem()
    ctx = FakeCtx()
    ppps = []

    def factory(stream):
        ppps.append(FakePpp(stream))
        return ppps[-1]

    c = dict(FAST)
    c["data"] = "ppp"
    link = LteLink(ctx, Modem(f), c, factory)
    t = asyncio.create_task(link.run())
    assert await link.up(3)
    eq(f.data, True)
    assert "ATD*99#" in f.sent and "AT+CGACT=1,1" not in f.sent
    assert ppps[0].stream is f
    eq(link.info()["ip"], "10.99.0.1")
    polls = f.sent.count("AT+CSQ")
    ppps[0].up = False  # the PPP layer lost the peer
    assert await until(lambda: link.counters["ups"] == 2, 8000)
    eq(link.counters["losses"], 1)
    assert "ATH" in f.sent  # back to command mode (+++ / ATH) before redialling
    assert f.sent.count("AT+CSQ") == polls + 1  # no AT polling while PPP owns the UART
    t.cancel()


class Nic:
    def __init__(self):
        self.on = False
        self.carrier = True
        self.cfg = None

    def active(self, v=None):
        if v is None:
            return self.on
        self.on = v

    def isconnected(self):
        return self.on and self.carrier and self.cfg is not None

    def ifconfig(self, cfg=None):
        if cfg is None:
            return ("192.168.1.50" if self.cfg == "dhcp" else self.cfg[0], "", "", "")
        self.cfg = cfg


async def test_ethernet_dhcp_static_carrier_loss():
    ctx = FakeCtx()
    nic = Nic()
    link = EthLink(ctx, nic, dict(FAST))
    link.try_up_now()
    eq(link.state, "down")  # NIC not active yet: no shortcut
    t = asyncio.create_task(link.run())
    assert await link.up(2)
    eq(link.info()["ip"], "192.168.1.50")
    eq(link.info()["addressing"], "dhcp")
    eq(link.rssi_dbm, None)
    nic.carrier = False
    assert await until(lambda: link.state == "failed")
    assert "no carrier" in link.reason
    link.configure({"static": {"ip": "10.0.0.9", "gw": "10.0.0.1"}})
    nic.carrier = True
    assert await until(lambda: link.state == "up")
    eq(nic.cfg, ("10.0.0.9", "255.255.255.0", "10.0.0.1", "10.0.0.1"))
    t.cancel()


def test_settings_are_checked():
    from mptest import raises
    from wan.link import LinkError

    ctx = FakeCtx()
    link = Link(ctx, {"supervision_s": "soon", "apn": "x"})
    eq(link.cfg["supervision_s"], 3600)  # a bad file section is ignored and logged
    assert "link.config" in ctx.events()
    for bad in ({"poll_s": 0}, {"pin": 1234}, {"data": "slip"}, {"static": {"ip": "1"}},
                {"reset_after": True}, []):
        with raises(LinkError):
            link.configure(bad)
    eq(link.cfg["poll_s"], 30)
    link.configure({"supervision_s": 60, "apn": "m2m.example", "static": None})
    eq(link.cfg["supervision_s"], 60)


def test_guard_counts_lookups_by_state():
    class Net:
        calls = 0

        def getaddrinfo(self, host, port):
            Net.calls += 1
            return [(2, 1, 0, "", (host, port))]

    ctx = FakeCtx()
    link = Link(ctx)
    net = Net()
    link.guard_net(net)
    net.getaddrinfo("gwa.example", 443)
    eq(link.counters["lookups_while_down"], 1)
    link.state = "up"
    net.getaddrinfo("gwa.example", 443)
    eq(link.counters["lookups"], 2)
    eq(link.counters["lookups_while_down"], 1)
    eq(Net.calls, 2)
    assert net.link is link


def test_fuzzed_lines_and_urcs_never_raise():
    import random
    from drivers.modem import _URCS

    random.seed(11)
    ctx = FakeCtx()
    m = Modem(FakeModem())
    link = LteLink(ctx, m, dict(FAST))
    toks = ("0", "1", "2", "5", "7", "10", "11", "99", "-1", '"1A2B"', '""', '"', "x",
            "READY", "NOT INSERTED", "NW PDN DEACT 1", "", " ", ",")
    for i in range(600):
        link.state = ("up", "registering", "down")[i % 3]
        pre = random.choice(_URCS)
        tail = ",".join(random.choice(toks) for _ in range(random.getrandbits(3)))
        m.handle_line(pre + " " + tail)  # URC handlers must survive anything
    assert m.stats["urcs"] == 600
