"""The AT modem emulator itself, driven over its pty with pyserial (CPython)."""
import time

import pytest
import serial

from gwtool.modem_emu import ModemEmulator


class At:
    def __init__(self, path):
        self.s = serial.Serial(path, 115200, timeout=0.05)
        self.buf = b""

    def lines(self, until=("OK", "ERROR"), timeout=2.0):
        out = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.buf += self.s.read(256)
            while b"\r\n" in self.buf:
                ln, self.buf = self.buf.split(b"\r\n", 1)
                if ln:
                    out.append(ln.decode("ascii", "replace"))
                    if out[-1] in until or out[-1].startswith(("+CME ERROR", "CONNECT")):
                        return out
        return out

    def cmd(self, c):
        self.s.write(c.encode() + b"\r")
        return [x for x in self.lines() if x != c]


@pytest.fixture
def emu():
    e = ModemEmulator(reg_delay=0.3, boot_delay=0.05)
    time.sleep(0.1)
    yield e
    e.close()


def test_boot_urcs_echo_and_registration_urcs(emu):
    at = At(emu.path)  # pyserial flushes the input on open: reboot to see the start-up
    emu.reboot()
    assert at.lines(until=("+CPIN: READY",))[-2:] == ["RDY", "+CPIN: READY"]
    assert at.cmd("AT") == ["OK"]  # echo is filtered by cmd(); ATE0 switches it off
    assert at.cmd("ATE0") == ["OK"]
    assert at.cmd("AT+CEREG=2") == ["OK"]
    urcs = at.lines(until=('+CEREG: 1,"1A2B","01A2B3C4",7',), timeout=2)
    assert urcs[-1] == '+CEREG: 1,"1A2B","01A2B3C4",7'
    assert at.cmd("AT+CEREG?") == ['+CEREG: 2,1,"1A2B","01A2B3C4",7', "OK"]
    assert at.cmd("AT+CSQ") == ["+CSQ: 20,99", "OK"]
    emu.set_signal(31)
    assert at.cmd("AT+CSQ") == ["+CSQ: 31,99", "OK"]
    assert at.cmd("AT+CGACT=1,1") == ["OK"] and emu.stats["activations"] == 1
    emu.drop(recover_after=0.5)
    assert at.lines(until=("+CEREG: 2",))[-1] == "+CEREG: 2"
    assert at.cmd("AT+CGACT=1,1") == ["+CME ERROR: 30"]
    assert at.lines(until=('+CEREG: 1,"1A2B","01A2B3C4",7',))[-1].startswith("+CEREG: 1")
    assert at.cmd("AT+BOGUS") == ["ERROR"]


def test_three_wrong_pins_lock_the_sim(emu):
    emu.set(pin="1234")
    at = At(emu.path)
    at.cmd("ATE0")
    assert at.cmd("AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]
    for _ in range(3):
        assert at.cmd('AT+CPIN="0000"') == ["+CME ERROR: 16"]
    assert at.cmd("AT+CPIN?") == ["+CPIN: SIM PUK", "OK"]
    assert at.cmd('AT+CPIN="1234"') == ["+CME ERROR: 12"]
    assert emu.stats["pin_attempts"] == 4


def test_no_sim_hung_and_reboot(emu):
    at = At(emu.path)
    at.cmd("ATE0")
    emu.set(sim="absent")
    assert at.cmd("AT+CPIN?") == ["+CME ERROR: 10"]
    emu.set(hung=True)
    at.s.write(b"AT\r")
    assert at.lines(timeout=0.5) == []
    emu.set(hung=False, sim="ready")
    assert at.cmd("AT+CFUN=1,1") == ["OK"]
    assert "RDY" in at.lines(until=("RDY",))
    assert emu.stats["resets"] == 1
    emu.set(chatter=True)
    junk = at.lines(until=(), timeout=1.0)
    assert any(x in ("RING", '+CMTI: "SM",1', "+CTZV: 32,0") for x in junk)
    assert emu.stats["garbage"] >= 1
