"""Console streams on a board: the USB/UART REPL's sys.stdin/sys.stdout.

Ctrl-C must reach the REPL task as a byte (mpremote sends it to get a prompt), not raise
KeyboardInterrupt in whatever task runs: that would stop the gateway.
"""
import sys
import micropython


def streams():
    micropython.kbd_intr(-1)
    return sys.stdin, sys.stdout
