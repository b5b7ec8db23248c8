"""gwtool: host toolchain for the open Smart Meter Gateway (build, virtual board, tests)."""
