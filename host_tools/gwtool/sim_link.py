"""Simulator peer: the LTE modem emulator for the -M (mobile) variant of the virtual board.

Active when the simulation asks for the modem variant: Sim(options={"wan_variant": "M"})
or GW_WAN_VARIANT=M in the environment; otherwise the virtual board keeps its -E
variant (the host's network, link always up) and this peer does nothing.
Options (Sim(options={"modem": {...}})) are ModemEmulator keyword arguments, e.g.
{"reg_delay": 5, "pin": "1234"} (defaults here: drift on, 3 s attach); the firmware's link settings (PIN, APN, backoff...)
go to the board as vboard config key "link" (Sim(options={"link": {...}})).
"""
import os

from .modem_emu import ModemEmulator


class Peer:
    name = "link"

    def __init__(self, sim):
        self.sim = sim
        opts = getattr(sim, "options", {}) or {}
        variant = opts.get("wan_variant") or os.environ.get("GW_WAN_VARIANT", "E")
        self.enabled = variant == "M"
        self.link_cfg = opts.get("link")
        kw = {"drift": True, "reg_delay": 3.0}  # a live signal, a realistic attach
        kw.update(opts.get("modem") or {})
        self.emu = ModemEmulator(**kw) if self.enabled else None

    def vboard_config(self):
        if not self.enabled:
            return {}
        cfg = {"modem": self.emu.path, "wan_variant": "M"}
        if self.link_cfg:
            cfg["link"] = self.link_cfg
        return cfg

    def endpoints(self):
        return {"modem": self.emu.path} if self.enabled else {}

    def stop(self):
        if self.emu:
            self.emu.close()
            self.emu = None
