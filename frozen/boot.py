# boot.py: frozen into every board's firmware; runs first.
# Makes the application image importable (ROMFS at /rom) and the data partition usable.
import sys

if sys.platform == "linux":
    # The unix board has no ROMFS partition: vboot maps the built image the same way.
    import vboot

    vboot.mount()
elif "/rom" not in sys.path:
    sys.path.insert(0, "/rom")
