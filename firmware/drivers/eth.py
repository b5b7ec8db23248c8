"""Ethernet NICs for the -E variant: thin wrappers over the port's network drivers.

WIZnet W5500 on SPI (RP2040 board): network.WIZNET5K(spi, cs, rst), lwIP inside
MicroPython, DHCP via ifconfig("dhcp"). An on-chip MAC (ESP32 + PHY): network.LAN.
Both already offer active()/isconnected()/ifconfig(), which is all wan.link_eth needs;
the bus and pins are injected by board.py.
"""


def w5500(spi, cs, rst):
    import network

    return network.WIZNET5K(spi, cs, rst)


def lan(**kw):
    import network

    return network.LAN(**kw)
