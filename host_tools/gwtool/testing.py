"""pytest plugin: firmware tests run inside the MicroPython unix port.

- Files named `mp_test_*.py` are MicroPython test modules: one interpreter process per
  file runs every `test_*` function (sync or async) via mp/mpunit.py; each function
  becomes a pytest item, and a failure shows MicroPython's traceback.
  Header comments tune the run: `# heapsize: 128K`, `# timeout: 300`.
  The process gets GW_TEST_TMP (a fresh directory) and GW_VECTORS (../shared/vectors).
- Fixture `mpy`: run a snippet or script in MicroPython from a CPython test.
- Option `--port P`: end-to-end tests that use the `gateway` fixture run against the real
  board on serial port P instead of booting a virtual board (see docs/toolchain.md).
  `gateway.port` is the REPL port either way; `gateway.link()` opens a raw-REPL client;
  `gateway.hard_reset()` power-cycles (vboard: kill + restart, same flash image; board:
  machine.reset() and wait for the REPL); `gateway.virtual` tells which one it is.
"""
import json
import re
import tempfile
import time
from pathlib import Path

import pytest

from . import mpy as _mpy
from .paths import VECTORS
from .rawrepl import raw_exec  # noqa: F401 - the tests' REPL client

MARK = "\x1eMPUNIT "
RUNNER = Path(__file__).parent / "mp" / "mpunit.py"


def pytest_addoption(parser):
    g = parser.getgroup("gwtool")
    g.addoption("--port", default=None, help="run e2e tests against a board on this serial port")
    g.addoption("--mp-heap", default=None, help="override the heap size of mp_test_* files")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long end-to-end tests")
    config.addinivalue_line("markers", "board: runs against --port or the virtual board")


def _is_mp_test(path):
    return path.suffix == ".py" and path.name.startswith("mp_test_")


def pytest_collect_file(parent, file_path):
    # Paths named on the command line are offered to the python plugin, which then asks
    # pytest_pycollect_makemodule below; everything else is collected here.
    if _is_mp_test(file_path) and not parent.session.isinitpath(file_path):
        return MpFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path, parent):
    if _is_mp_test(module_path):
        return MpFile.from_parent(parent, path=module_path)
    return None


def _header(text, key, default):
    m = re.search(rf"^#\s*{key}:\s*(\S+)", text, re.M)
    return m.group(1) if m else default


class MpFile(pytest.File):
    """One MicroPython test module; runs once, results are shared by its items."""

    def collect(self):
        text = self.path.read_text()
        names = sorted(set(re.findall(r"^(?:async\s+)?def\s+(test_\w+)\s*\(", text, re.M)))
        self._results = None
        for n in names:
            yield MpItem.from_parent(self, name=n)

    def results(self):
        if self._results is None:
            text = self.path.read_text()
            heap = self.config.getoption("--mp-heap") or _header(text, "heapsize", "1M")
            timeout = int(_header(text, "timeout", "300"))
            tmp = tempfile.mkdtemp(prefix="mpunit-")
            env = {"GW_TEST_TMP": tmp, "GW_VECTORS": str(VECTORS)}
            try:
                out = _mpy.run(script=RUNNER, args=[self.path.stem], heapsize=heap,
                               path=[self.path.parent], env=env, timeout=timeout, check=False,
                               cwd=tmp)
            except _mpy.MicroPythonError as e:
                out = e.output + "\n" + str(e).splitlines()[0]
            res, other = {}, []
            for line in out.split("\n"):
                if line.startswith(MARK):
                    d = json.loads(line[len(MARK):])
                    if "name" in d:
                        res[d["name"]] = d
                else:
                    other.append(line)
            self._results = (res, "\n".join(other[-60:]))
        return self._results


class MpFailure(Exception):
    pass


class MpItem(pytest.Item):
    def runtest(self):
        res, other = self.parent.results()
        if "<import>" in res:
            raise MpFailure("import failed in MicroPython:\n" + res["<import>"]["tb"])
        r = res.get(self.name)
        if r is None:
            raise MpFailure("no result (MicroPython crashed or hung?); output tail:\n" + other)
        if r.get("skip"):
            pytest.skip(r.get("tb", "").strip().splitlines()[-1])
        if not r["ok"]:
            raise MpFailure(r["tb"])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MpFailure):
            return f"[MicroPython] {self.name}\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"[mp] {self.name}"


class _Runner:
    MicroPythonError = _mpy.MicroPythonError

    def run(self, code=None, **kw):
        return _mpy.run(code, **kw)

    def json(self, code, **kw):
        """Run code whose last printed line is JSON; return it decoded."""
        out = _mpy.run(code, **kw).strip().splitlines()
        return json.loads(out[-1])


@pytest.fixture
def mpy():
    return _Runner()


@pytest.fixture
def gateway_port(request):
    return request.config.getoption("--port")


class Gateway:
    """The gateway under test: a real board on --port, or a virtual board."""

    def __init__(self, port=None, vboard=None):
        self.vboard = vboard
        self._port = port
        self.virtual = vboard is not None

    @property
    def port(self):
        return self.vboard.endpoints["repl"] if self.vboard else self._port

    def link(self, **kw):
        from .board_link import BoardLink

        return BoardLink(self.port, **kw)

    def exec(self, code, timeout=None):
        with self.link() as link:
            return link.exec(code, timeout)

    def hard_reset(self, timeout=60):
        """Power cycle. The virtual board cannot restart itself: its host (here) does."""
        from .board_link import BoardLink, wait_for_repl

        if self.vboard:
            self.vboard.kill()
            self.vboard.stop()
            self.vboard.rebuild = False  # a power cycle boots the image that is there
            self.vboard.start()
        else:
            link = BoardLink(self._port)
            try:
                link.ser.write(b"\r\x01")
                link.ser.write(b"import machine; machine.reset()\x04")
            finally:
                link.ser.close()
            time.sleep(1.0)
        return wait_for_repl(self.port, timeout)


@pytest.fixture(scope="module")
def gateway(request, tmp_path_factory):
    """The device under test for end-to-end tests (module scope): --port or a vboard.

    A test module may set `VBOARD_CONFIG = {...}` (extra vboard config) and
    `VBOARD_EXTRA_HEAP` (bytes on top of the board budget) for the virtual board;
    `VBOARD_RELOADABLE = True` leaves heap for `gwtool deploy`/`reset --soft` to mount a
    second ROMFS image in place."""
    port = request.config.getoption("--port")
    if port:
        yield Gateway(port=port)
        return
    from .boards import board_facts
    from .build import build
    from .vboard import VBoard

    wd = tmp_path_factory.mktemp("gateway")
    # a private image: concurrent builds of build/unix elsewhere cannot disturb this one
    build("unix", out_dir=wd / "rom")
    extra = {"romfs": str(wd / "rom" / "app.romfs"),
             **(getattr(request.module, "VBOARD_CONFIG", None) or {})}
    # the board's budget plus the image, which the vboard reads into its heap
    size = (wd / "rom" / "app.romfs").stat().st_size
    heap = board_facts("unix")["HEAP_BYTES"] + size + 4096
    if getattr(request.module, "VBOARD_RELOADABLE", False):
        heap += 3 * size + 65536  # room to mount a newly deployed image in place
    heap += getattr(request.module, "VBOARD_EXTRA_HEAP", 0)
    vb = VBoard(wd, heap=heap, rebuild=False, extra_config=extra)
    vb.start()
    try:
        yield Gateway(vboard=vb)
    finally:
        vb.stop()


# MicroPython code for a running board (raw_exec): every function reachable from the
# context and the loaded modules (through instances, their classes, dicts, lists, bound
# methods) must belong to a loaded module. A "PINNED" line names a function whose module
# was unloaded (texts.unload) but is kept alive by a kept object: an instance keeps its
# class, the class's functions their module's globals (docs/memory.md, seventh round).
PINNED_MODULES = r"""
import app, sys, gc
gc.collect()
mods = set()
for m in sys.modules.values():
    try:
        mods.add(id(m.__dict__))
    except Exception:
        pass
seen = set()
todo = [app.CTX] + list(sys.modules.values())
pinned = {}
while todo and len(seen) < 100000:
    o = todo.pop()
    if id(o) in seen:
        continue
    seen.add(id(o))
    t = type(o)
    if t in (int, str, bytes, float, bool, type(None), bytearray, memoryview):
        continue
    if t is dict:
        todo.extend(o.values())
        continue
    if t in (list, tuple, set):
        todo.extend(o)
        continue
    if t is type(sys):
        try:
            todo.extend(o.__dict__.values())
        except Exception:
            pass
        continue
    f = getattr(o, "__func__", None)
    if f is not None:
        todo.append(f)
        todo.append(getattr(o, "__self__", None))
        continue
    g = getattr(o, "__globals__", None)
    if g is not None:
        if id(g) not in mods:
            pinned[id(g)] = repr(o)[:80]
        continue
    if t is type:
        try:
            todo.extend(o.__dict__.values())
        except Exception:
            pass
        continue
    todo.append(t)
    d = getattr(o, "__dict__", None)
    if type(d) is dict:
        todo.extend(d.values())
print("SEEN", len(seen))
for r in pinned.values():
    print("PINNED", r)
"""


_HEAP_PROBE = r"""
import gc, json, micropython, sys, vfs
img = open(sys.argv[1], "rb").read()
vfs.mount(vfs.VfsRom(img), "/rom")
sys.path.insert(0, "/rom")
base, groups = json.loads(sys.stdin.read())  # stdin: the port aborts on long arguments
a = b = 0  # every global exists before the first figure (a growing dict would count)
for m in base:  # the application's boot-time base (asyncio, app)
    __import__(m)
for group in groups:
    gc.collect()
    print("Q<"); micropython.qstr_info()
    a = gc.mem_alloc()
    for m in group:
        __import__(m)
    gc.collect()
    b = gc.mem_alloc()
    print("Q>"); micropython.qstr_info()
    print("HEAP", b - a)
"""


def import_heap(tmp_path, base, groups):
    """Heap that importing each group of modules from a built ROMFS image costs, after the
    `base` modules, in the unix port: [(bytes without the qstr pool's own growth, new
    qstrs)] per group. The pool grows in doubling steps whose position depends on
    everything imported before, so it is left out (docs/memory.md)."""
    from .build import build
    build("unix", tmp_path)
    probe = tmp_path / "probe.py"
    probe.write_text(_HEAP_PROBE)
    out = _mpy.run(script=probe, args=[tmp_path / "app.romfs"], heapsize="2M",
                   input=json.dumps([base, groups]))
    q = [tuple(map(int, t)) for t in
         re.findall(r"n_qstr=(\d+), n_str_data_bytes=\d+, n_total_bytes=(\d+)", out)]
    heap = [int(h) for h in re.findall(r"HEAP (\d+)", out)]
    assert len(q) == 2 * len(groups) and len(heap) == len(groups), out
    res = []
    for i, h in enumerate(heap):
        (n0, t0), (n1, t1) = q[2 * i], q[2 * i + 1]
        res.append((h - (t1 - t0), n1 - n0))
    return res
