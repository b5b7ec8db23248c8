"""RAM regression guard for the wmbus layer (docs/memory.md): the heap that importing its
modules from a built ROMFS image costs, measured in the unix port (x64: objects are about
twice their size on the 32-bit boards). The qstr pool's own growth is left out: it comes
in doubling steps whose position depends on everything imported before."""
from gwtool.testing import import_heap


def test_wmbus_heap_budget(tmp_path):
    (boot, nq_boot), (dec, nq_dec), (cry, _) = import_heap(
        tmp_path, ["asyncio", "app", "app.leds"],
        [["wmbus.service", "drivers.cc1101"],  # what the radio service loads at boot
         ["wmbus.telegram", "wmbus.obis"],  # the decoder: on the first frame
         ["crypto.aes", "crypto.cmac", "crypto.ccm"]])  # on the first encrypted telegram
    print("wmbus boot", boot, nq_boot, "decoder", dec, nq_dec, "crypto", cry)
    # measured 2026-11-24 after the heap cut (x64): boot 8.4 KB / 171 qstrs (was 10.0 KB),
    # decoder 5.2 KB / 86 qstrs (was 7.0 KB / 139), crypto 4.2 KB (was 4.8 KB)
    assert boot < 9300 and nq_boot < 190
    assert dec < 5900 and nq_dec < 110
    assert cry < 4700
