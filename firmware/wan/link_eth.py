"""WAN link, variant -E: an Ethernet port (W5500 on the RP2040 board, the host's sockets on
the virtual board) for any transparent modem/router in front of the gateway.

The NIC is injected (board.py builds it; drivers.eth keeps it thin) and needs only
`active([bool])`, `isconnected()` (carrier and an address) and `ifconfig([cfg])`.
Addressing from the GWA profile/configuration: `"static": {"ip", "mask", "gw", "dns"}`,
otherwise DHCP.
"""
from wan.link import Link, LinkError
from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const(" (Ethernet %s %s)|Ethernet carrier lost|down requested"
           "|no Ethernet interface on this board|no carrier or no address (%s) after %d s")



class EthLink(Link):
    variant = "E"

    def __init__(self, ctx, nic, cfg=None):
        super().__init__(ctx, cfg)
        self.nic = nic
        self.details = {"ip": None, "addressing": "static" if self.cfg.get("static") else "dhcp"}

    def _summary(self):
        return msg(_T, 0) % (self.details["addressing"], self.details["ip"])

    def try_up_now(self):
        """At boot: a NIC that is already connected (the virtual board's host network)
        is up at once, so the WAN layer need not wait for the first loop turn."""
        nic = self.nic
        if nic is not None and nic.active() and nic.isconnected():
            self.details["ip"] = _ip(nic)
            self.up_since = self.ctx.now()
            self.counters["ups"] += 1
            self._set("up", None)

    async def _bring_up(self):
        nic = self.nic
        if nic is None:
            raise LinkError(msg(_T, 3))
        nic.active(True)
        st = self.cfg.get("static")
        if st:
            self.details["addressing"] = "static"
            nic.ifconfig((st["ip"], st.get("mask", "255.255.255.0"), st["gw"],
                          st.get("dns", st["gw"])))
        else:
            self.details["addressing"] = "dhcp"
            try:
                nic.ifconfig("dhcp")
            except (TypeError, ValueError, OSError):
                pass  # ports that run DHCP by themselves once active
        for _ in range(self.cfg["carrier_timeout_s"] * 10):
            if nic.isconnected():
                self.details["ip"] = _ip(nic)
                return
            await self._wait(100)
            if not self.wanted:
                raise LinkError(msg(_T, 2))
        raise LinkError(msg(_T, 4)
                        % (self.details["addressing"], self.cfg["carrier_timeout_s"]))

    async def _check(self):
        return None if self.nic.isconnected() else msg(_T, 1)

    async def _teardown(self):
        self.details["ip"] = None

    async def _reset(self):
        try:
            self.nic.active(False)
        except (AttributeError, OSError):
            pass


def _ip(nic):
    try:
        return nic.ifconfig()[0]
    except (AttributeError, OSError, TypeError):
        return None
