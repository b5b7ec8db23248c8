"""Unix (virtual board) implementations of the hal interfaces: pty, socket, file backed."""
