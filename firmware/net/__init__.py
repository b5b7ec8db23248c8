"""Network access of the firmware: every socket is opened through net.firewall."""
