"""EMT control channel for the gateway's own switching outputs (an internal CLS device).

A CLS pair with "device": "outputs" has no HAN port: the gateway itself is the CLS
device. It keeps a TLS session to the pair's EMT (through the firewall: WAN, purpose
"cls-proxy", only that EMT; reconnect after retry_s) and executes newline-delimited JSON
commands from it, answering one JSON line each:
  {"cmd": "switch", "output": "OUT1"|"OUT2"|"OUT3"|"RELAY", "on": true}
      -> {"ok": true, "output": "OUT1", "on": true, "changed": true}
  {"cmd": "state"} -> {"ok": true, "state": {"OUT1": 0, ...}}
  anything else -> {"ok": false, "error": "..."}
Every switch is persisted and logged by drivers.outputs with source "emt:<pair name>".
"""
import asyncio
import json

_LINE = const(512)


_LONG = const(1)  # _line(): a line longer than _LINE (skipped up to its newline)


async def _line(r, rx):
    """The next line from the EMT, at most _LINE bytes: StreamReader.readline would
    gather a line of any length in the heap. rx holds what came after the last line;
    returns b"" at the end of the stream, _LONG for a line that was too long."""
    skip = False
    while True:
        i = rx.find(b"\n")
        if i >= 0:
            line = bytes(rx[:i + 1])
            rx[:i + 1] = b""
            if skip or len(line) > _LINE:
                return _LONG
            return line
        if len(rx) > _LINE:
            skip = True
            rx[:] = b""
        d = await r.read(256)
        if not d:  # the end: a last line without its newline is still a line
            line = bytes(rx)
            rx[:] = b""
            return _LONG if skip else line
        rx.extend(d)


class OutputControl:
    def __init__(self, fw, pair, outputs, log, tls_context, retry_s=30):
        self.fw = fw
        self.pair = pair
        self.outputs = outputs
        self.log = log
        self.tls_context = tls_context
        self.retry_s = retry_s
        self.commands = 0
        self.sessions = 0
        e = pair["emt"]
        fw.allow("wan", "out", "cls-proxy", e["host"], e["port"])

    def execute(self, line):
        try:
            c = json.loads(line)
            if not isinstance(c, dict):
                raise ValueError("not an object")
            cmd = c.get("cmd")
            if cmd == "state":
                return {"ok": True, "state": self.outputs.state}
            if cmd == "switch":
                name = c.get("output")
                on = c.get("on")
                if not isinstance(on, bool):
                    raise ValueError("on must be true or false")
                changed = self.outputs.switch(name, on, "emt:" + self.pair["name"])
                return {"ok": True, "output": name, "on": on, "changed": changed}
            raise ValueError("unknown cmd %r" % (cmd,))
        except (ValueError, TypeError) as e:  # OutputError is a ValueError
            self.log(2, "out.command", "%s: refused: %s" % (self.pair["name"], e))
            return {"ok": False, "error": str(e)}

    async def session(self):
        e = self.pair["emt"]
        r, w = await self.fw.open_connection("wan", "cls-proxy", e["host"], e["port"],
                                             ssl=self.tls_context(),
                                             server_hostname=e.get("name") or e["host"])
        self.sessions += 1
        self.log(1, "cls.open", "%s: control session to %s:%s" % (
            self.pair["name"], e["host"], e["port"]))
        try:
            rx = bytearray()
            while True:
                line = await _line(r, rx)
                if not line:
                    break
                if line == _LONG:
                    out = {"ok": False, "error": "line too long"}
                else:
                    self.commands += 1
                    out = self.execute(line)
                w.write(json.dumps(out).encode() + b"\n")
                await w.drain()
        finally:
            await w.wait_closed()
            self.log(1, "cls.close", "%s: control session, %d commands" % (
                self.pair["name"], self.commands))

    async def run(self):
        while True:
            try:
                await self.session()
            except Exception as ex:  # noqa: BLE001 - EMT away/TLS failed: retry later
                self.log(2, "cls.emt", "%s: %s" % (self.pair["name"], ex))
            await asyncio.sleep(self.retry_s)
