# A scripted AT modem inside MicroPython for the link unit tests: a pollable stream whose
# writes are answered by a small state model (SIM, PIN, registration, signal, PDP).
import io
import time

_POLL = const(3)
_RD = const(1)
_WR = const(4)


class FakeModem(io.IOBase):
    def __init__(self, sim="READY", pin=None, reg_after=0, stat=1, csq=20):
        self.rx = bytearray()  # bytes the firmware will read
        self.tx = bytearray()
        self.sent = []  # every command line received
        self.sim = sim  # READY / SIM PIN / NOT INSERTED
        self.pin = pin
        self.pin_attempts = 0
        self.reg_after = reg_after  # number of +CEREG? polls answered "searching" first
        self.stat = stat
        self.csq = csq
        self.mute = False  # a hung module: no answers at all
        self.pdp = 0
        self.polls = 0
        self.resets = 0
        self.data = False  # after CONNECT: the UART carries PPP

    # stream protocol
    def ioctl(self, req, arg):
        if req == _POLL:
            r = 0
            if arg & _RD and self.rx:
                r |= _RD
            if arg & _WR:
                r |= _WR
            return r
        return 0

    def readinto(self, buf):
        n = min(len(buf), len(self.rx))
        if not n:
            return None
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def read(self, n=-1):
        if not self.rx:
            return None
        if n < 0:
            n = len(self.rx)
        b = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return b

    def write(self, b):
        if b == b"+++":
            self.data = False
            self.push("OK")
            return 3
        self.tx.extend(b)
        while b"\r" in self.tx:
            i = self.tx.index(b"\r")
            line = bytes(self.tx[:i]).decode()
            self.tx = self.tx[i + 1:]
            self.sent.append(line)
            if not self.mute:
                for out in self.answer(line):
                    self.push(out)
        return len(b)

    def push(self, line):
        self.rx.extend(b"\r\n" + (line.encode() if isinstance(line, str) else line) + b"\r\n")

    def answer(self, c):
        if c in ("AT", "ATE0", "AT+CMEE=1", "AT+COPS=3,0") or c.startswith("AT+C") and \
                c[-2:] in ("=2",) and "REG" in c:
            return ["OK"]
        if c == "AT+CGSN":
            return ["861234567890123", "OK"]
        if c == "AT+CCID":
            return ["+CCID: 8949020000012345678", "OK"]
        if c == "AT+CPIN?":
            if self.sim == "NOT INSERTED":
                return ["+CME ERROR: 10"]
            return ["+CPIN: " + self.sim, "OK"]
        if c.startswith('AT+CPIN="'):
            self.pin_attempts += 1
            if c[9:-1] == self.pin:
                self.sim = "READY"
                return ["OK"]
            return ["+CME ERROR: 16"]
        if c.startswith("AT+CGDCONT="):
            return ["OK"]
        if c in ("AT+CEREG?", "AT+CGREG?", "AT+CREG?"):
            pre = c[2:-1]
            if self.sim != "READY":
                return [pre + ": 2,0", "OK"]
            if c == "AT+CEREG?":
                self.polls += 1
            st = 2 if self.polls <= self.reg_after else self.stat
            return ['%s: 2,%d,"1A2B","01A2B3C4",7' % (pre, st), "OK"]
        if c == "AT+CSQ":
            return ["+CSQ: %d,99" % self.csq, "OK"]
        if c == "AT+CESQ":
            return ["+CESQ: 99,99,255,255,20,50", "OK"]
        if c == "AT+COPS?":
            return ['+COPS: 0,0,"Fake Telecom",7', "OK"]
        if c == "AT+CGACT=1,1":
            self.pdp = 1
            return ["OK"]
        if c == "AT+CGACT=0,1":
            self.pdp = 0
            return ["OK"]
        if c == "AT+CGPADDR=1":
            return ['+CGPADDR: 1,"10.64.1.2"', "OK"]
        if c == "ATD*99#":
            self.data = True
            return ["CONNECT 150000000"]
        if c == "ATH":
            return ["OK"]
        if c == "AT+CFUN=1,1":
            self.resets += 1
            self.mute = False
            return ["OK", "RDY"]
        return ["ERROR"]


class FakeCtx:
    """The parts of app.Context the link uses; a settable gateway clock."""

    def __init__(self):
        self.t = 1700000000
        self.logs = []
        self.leds = {}
        self.hal = None

    def now(self):
        return self.t + time.ticks_ms() // 1000

    def log(self, level, event, msg, detail=None):
        self.logs.append((level, event, msg))

    def led(self, name, v):
        self.leds[name] = v

    def events(self, prefix="link."):
        return [e for _, e, _ in self.logs if e.startswith(prefix)]
