# Virtual board manifest: the application plus the unix (pty/socket/file) hal.
include("../../manifest.py")
module("board.py")
package("hal/unix", base_path="../../firmware")
