# Board manifest: everything the application ships, plus this board's module and the
# machine-based hal. Frozen entry points (boot.py/main.py) come from ../../frozen.
include("../../manifest.py")
module("board.py")
package("hal/mcu", base_path="../../firmware")
