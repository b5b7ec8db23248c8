"""Console streams on a board: the USB/UART REPL's sys.stdin/sys.stdout."""
import sys


def streams():
    return sys.stdin, sys.stdout
