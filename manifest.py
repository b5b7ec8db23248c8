# The single list of what ships in the application image (ROMFS). Each board's
# manifest.py includes this file and adds its board module and hal implementation.
metadata(description="Open Smart Meter Gateway firmware", version="0.1.0")

module("diag.py", base_path="firmware")
module("texts.py", base_path="firmware")
package("app", base_path="firmware")
package("hal", files=["__init__.py"], base_path="firmware")
package("drivers", base_path="firmware")
package("store", base_path="firmware")
package("core", base_path="firmware")
package("lmn", base_path="firmware")
package("wmbus", base_path="firmware")
package("crypto", base_path="firmware")
package("taf", base_path="firmware")
package("wan", base_path="firmware")
package("han", base_path="firmware")
package("net", base_path="firmware")
