# AT parser and modem driver (drivers.modem) against a scripted fake stream.
# heapsize: 256K
import asyncio
import random
from mptest import eq, raises
from drivers import modem as M
from drivers.modem import Modem, ModemError, LineSplitter
from fakemodem import FakeModem


def test_fields_respect_quotes():
    eq(M.fields('0,0,"Telekom.de, LTE",7'), ["0", "0", "Telekom.de, LTE", "7"])
    eq(M.fields(""), [""])
    eq(M.params("+CSQ: 20,99", "+CSQ:"), ["20", "99"])


def test_parse_registration_response_and_urc_forms():
    eq(M.parse_reg('+CEREG: 2,1,"1A2B","01A2B3C4",7'), (1, "1A2B", "01A2B3C4", 7))
    eq(M.parse_reg("+CEREG: 2,5"), (5, None, None, None))
    eq(M.parse_reg('+CEREG: 1,"1A2B","01A2B3C4",7'), (1, "1A2B", "01A2B3C4", 7))  # URC
    eq(M.parse_reg("+CREG: 2"), (2, None, None, None))  # URC n=1
    eq(M.parse_reg("+CREG: 0,3"), (3, None, None, None))
    eq(M.parse_reg("+CEREG: x"), None)
    eq(M.parse_reg("+CEREG: 99"), None)
    eq(M.parse_reg("garbage"), None)
    assert M.registered(1) and M.registered(5) and not M.registered(2)


def test_signal_conversions_27007():
    eq(M.csq_dbm(0), -113)
    eq(M.csq_dbm(31), -51)
    eq(M.csq_dbm(20), -73)
    eq(M.csq_dbm(99), None)
    eq(M.cesq_rsrp_dbm(0), -141)
    eq(M.cesq_rsrp_dbm(97), -44)
    eq(M.cesq_rsrp_dbm(255), None)
    eq(M.cesq_rsrq_db(0), -20)
    eq(M.cesq_rsrq_db(34), -3)
    eq(M.cesq_rsrq_db(255), None)
    eq(M.act_tech(7), "LTE")
    eq(M.act_tech(2), "3G")
    eq(M.act_tech(0), "2G")


def test_line_splitter_garbage_and_fragments():
    s = LineSplitter()
    eq(s.feed(b"\r\nO"), [])
    eq(s.feed(b"K\r\n+CSQ: 1"), ["OK"])
    eq(s.feed(b"2,99\r\r\n"), ["+CSQ: 12,99"])
    eq(s.feed(b"\xff\x00\xfe junk\r\nRDY\n"), ["RDY"])
    eq(s.garbage, 1)
    eq(s.feed(b"A" * 300 + b"\r\nOK\r\n"), ["OK"])  # overlong line dropped whole
    eq(s.garbage, 2)
    eq(s.feed(b"> "), [])
    eq(s.pending(), "> ")


def test_line_splitter_fuzz_never_raises():
    random.seed(7)
    s = LineSplitter()
    n = 0
    for _ in range(300):
        data = bytes(random.getrandbits(8) for _ in range(random.getrandbits(6)))
        for line in s.feed(data):
            assert all(32 <= ord(c) <= 126 for c in line)
            n += 1
    assert s.garbage > 0


async def _modem(fake, urcs=None):
    m = Modem(fake, on_urc=(urcs.append if urcs is not None else None))
    m.start()
    return m


async def test_command_ok_error_cme_and_timeout():
    f = FakeModem()
    m = await _modem(f)
    eq(await m.command("AT"), [])
    eq(await m.query("AT+CSQ", "+CSQ:"), ["20", "99"])
    with raises(ModemError) as r:
        await m.command("AT+BOGUS")
    assert r.value.code is None and "ERROR" in str(r.value)
    f.sim = "NOT INSERTED"
    eq(await m.sim_status(), "NOT INSERTED")
    f.sim = "SIM PIN"
    f.pin = "1234"
    with raises(ModemError) as r:
        await m.enter_pin("0000")
    eq(r.value.code, M.CME_INCORRECT_PASSWORD)
    eq(r.value.reason, "wrong PIN")
    await m.enter_pin("1234")
    eq(await m.sim_status(), "READY")
    f.mute = True
    with raises(ModemError) as r:
        await m.command("AT", None, 100)
    assert "timeout" in r.value.reason
    eq(m.stats["timeouts"], 1)
    m.stop()


async def test_urcs_during_and_between_commands_and_noise():
    f = FakeModem()
    urcs = []
    m = await _modem(f, urcs)
    # a URC interleaved with a response, an echo, noise and garbage bytes
    f.rx.extend(b"AT+CSQ\r\n+CEREG: 2\r\n\xff\xfe\x00\r\nhello\r\n")
    eq(await m.query("AT+CSQ", "+CSQ:"), ["20", "99"])
    f.push("+CGEV: NW PDN DEACT 1")
    f.push("RDY")
    await asyncio.sleep_ms(50)
    eq(urcs, ["+CEREG: 2", "+CGEV: NW PDN DEACT 1", "RDY"])
    eq(m.ready_seen, 1)
    eq(m.stats["noise"], 1)  # "hello"
    eq(m.lines.garbage, 1)
    m.stop()


async def test_high_level_queries():
    f = FakeModem()
    m = await _modem(f)
    await m.power_on(2)
    assert "ATE0" in f.sent and "AT+CEREG=2" in f.sent
    eq(await m.registration(), (1, "1A2B", "01A2B3C4", 7))
    eq(await m.signal(), (-73, None))
    eq(await m.lte_quality(), {"rsrp_dbm": -91, "rsrq_db": -10})
    eq(await m.operator(), ("Fake Telecom", 7))
    eq(await m.identity(), ("861234567890123", "8949020000012345678"))
    f.rx.extend(b"\r\nRING\r\n")  # a URC ahead of a bare answer is not the answer
    eq((await m.identity())[0], "861234567890123")
    await m.set_apn("iot.example")
    assert 'AT+CGDCONT=1,"IP","iot.example"' in f.sent
    eq(await m.activate(), "10.64.1.2")
    eq(f.pdp, 1)
    f.stat = 3
    eq((await m.registration())[0], 3)
    m.stop()


async def test_power_on_fails_on_silent_module():
    f = FakeModem()
    f.mute = True
    m = await _modem(f)
    with raises(ModemError) as r:
        await m.sync(2, 50)
    eq(r.value.reason, "no answer to AT")
    m.stop()
