"""Board facts the host needs (arch, heap budget), read from boards/<b>/board.py.

board.py is firmware (it ships in the image and wires the drivers on the device); the
host reads only its literal top-level constants with `ast`, never executes it.
"""
import ast

from .paths import board_dir


def board_facts(board):
    path = board_dir(board) / "board.py"
    facts = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            t = node.targets[0]
            if isinstance(t, ast.Name) and t.id.isupper():
                try:
                    facts[t.id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    for key in ("NAME", "ARCH", "HEAP_BYTES"):
        if key not in facts:
            raise ValueError(f"{path}: missing literal {key}")
    return facts
