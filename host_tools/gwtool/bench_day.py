"""The scripted simulated day for `gwtool bench`: heap peak and the smallest heap.

run(quick) -> {
  "day_hours": simulated hours of the day (24 full, 2 quick); "day_accelerate": 1800,
  "heap_peak_bytes": diag heap.peak at the end of the day on a generous heap (1 MiB +
      image): the gc.mem_alloc() high-water mark sampled by the firmware, garbage and the
      ROMFS image included (the unix port reads the image into its heap),
  "heap_live_peak_bytes" / "_app_bytes": the largest heap.used of diag.status_dict()
      (which collects first) polled during that day; _app without the image,
  "day_completes_in_128k": the day completes at 128 KiB + image + 4096 (what the vboard
      gives a board with HEAP_BYTES = 128K); "day_failure_in_128k": why not;
      "day_completes_in_heap_budget" the same at boards/unix HEAP_BYTES if that differs
      (full: every one of 2 probes side by side; "day_heap_budget_probes": how many),
  "day_min_heapsize_bytes": the smallest -X heapsize at which the day completes
      (bisection above the live peak and the failed budgets, probes side by side: one
      round of 3 quick, two rounds of 4 full; the achieved resolution is
      "day_min_heap_resolution_bytes"),
  "day_min_heap_app_bytes": the same minus image and 4096, comparable with HEAP_BYTES,
  "boot_min_heap_app_bytes" (full only): the same for boot + 0.5 s (first GWA session),
  "heap_live_by_area_app_bytes" (full only): live heap after one simulated hour with no
      peer ("base") and what each simulated peer alone adds to it (meters: 3 TLS wired
      meters; air: 20 wM-Bus meters; wan: GWA + 3 EMTs; han: portal users + CLS),
  "import_heap_bytes_all_modules", "import_heap_top_modules": heap taken by importing
      every application module from the image,
  "day_telegrams", "day_wired_readings", "day_han_requests_ok", "day_wan_deliveries":
      what the day did; "day_probes": [heapsize, completed, reason, diag.status() result]
      for every probe (the evidence); a probe stops at the
      first MemoryError in trace.log, so failing probes are short }

The day: gwtool.sim.Sim with the peers sim_meters (3 wired meters, TLS, SML), sim_air
(20 wireless meters: the 6 of air_sim.default_meters() plus 14 more of mixed media and
security modes, intervals 120..900 s of simulated time), sim_wan (GWA + 3 EMTs, TAF
deliveries) and sim_han (HAN portal users and the CLS EMT); a HAN client logs in
(discovery + a readings request) every 30 simulated minutes. A day "completes" when the
board process is alive at the end, diag.status_dict() can be read over the REPL (streamed
with json.dump), no MemoryError appears in diag last_errors, the task states or
trace.log, and no service failed to import/set up at boot (a missing layer is not a
completed day). Whether the operator's diag.status() (one JSON string of several KiB)
still works is recorded per probe but not counted: after a day the heap is fragmented
enough that it fails on heaps where the gateway itself runs on (BENCHMARKS.md).
"""
import json
import shutil
import tempfile
import time
from pathlib import Path

from . import air_sim
from .boards import board_facts
from .build import build
from .paths import romfs_path
from .rawrepl import run as raw_exec
from .sim import Sim

START = 1764028800  # 2025-11-25T00:00:00Z
PEERS = ("gwtool.sim_meters", "gwtool.sim_air", "gwtool.sim_wan", "gwtool.sim_han")
TARGET_HEAP = 131072  # the issue: "the 24 h day completes in a 128K heap"
SLACK = 4096  # the vboard's -X heapsize = HEAP_BYTES + image + 4096

# diag.status_dict() streamed with json.dump: the day is judged on the gateway's tasks,
# not on diag.status(), which builds its whole JSON text (several KiB with 23 meters) in
# one string; whether that operator command works is recorded apart ("diag_status_ok").
_DIAG = "import diag, json, sys\njson.dump(diag.status_dict(), sys.stdout)\nprint()\n"
_DIAG_OPERATOR = "import diag\ndiag.status()\n"


def air_meters(n=20):
    """20 wireless meters: the default neighbourhood plus more of mixed media/modes."""
    ms = air_sim.default_meters()
    for m in ms:
        m.interval = {20: 300, 15: 120, 30: 300, 45: 900, 60: 900}.get(m.interval, 300)
    kinds = ("water", "heat", "gas", "electricity", "hca", "warm_water")
    i = 0
    while len(ms) < n:
        kind = kinds[i % len(kinds)]
        mode = (5, 7, 0)[i % 3]
        key = bytes((i * 17 + j) & 0xFF for j in range(16)) if mode else None
        ms.insert(-1, air_sim.Meter(("KAM", "ELS", "DME", "QDS")[i % 4], f"7{i:07d}", kind,
                                    mode, key, interval=(120, 300, 900)[i % 3],
                                    link=("T1", "C1A")[i % 2], long_tpl=mode == 7))
        i += 1
    return ms


def _diag(sim):
    out = raw_exec(sim.vboard.endpoints["repl"], _DIAG)
    return json.loads(out.strip().splitlines()[-1])


class _Han:
    """A HAN user asking for discovery and readings every `every` simulated seconds."""

    def __init__(self, sim, every):
        self.sim, self.every, self.next = sim, every, None
        self.ok = self.err = 0
        self.client = None

    def step(self):
        eps = self.sim.vboard.endpoints
        if not eps.get("han") or not eps.get("users"):
            return
        now = self.sim.now()
        if self.next is None:
            self.next = now + 60
        if now < self.next:
            return
        self.next = now + self.every
        from .han_client import HanClient, HanError

        try:
            u = eps["users"]["consumer1"]
            c = HanClient(eps["han"], u["user"], u["password"],
                          fingerprint=eps.get("han_sha256"), timeout=5)
            try:
                c.discover()
                self.ok += 1
                try:
                    c.call("readings", **{"usage-point-id": "up-1-1", "last-reading": True})
                except HanError:
                    pass  # the day's configuration may not know this usage point
            finally:
                c.close()
        except Exception:  # noqa: BLE001 - counted; a refused request is not a crash
            self.err += 1


def _failure(d, workdir):
    """Why the day did not complete (None if it did), from diag and trace.log."""
    mem = ("MemoryError", "memory allocation failed")
    for e in d.get("last_errors", []):
        if any(m in json.dumps(e) for m in mem):
            return "MemoryError: " + str(e.get("event")) + " " + str(e.get("msg", ""))[:100]
    for name, t in (d.get("tasks") or {}).items():
        if any(m in json.dumps(t) for m in mem):
            return "MemoryError in task " + name
    for e in d.get("last_errors", []):
        if e.get("event") in ("boot.import", "boot.setup"):
            return "boot: " + e.get("msg", "")[:120]
    tr = Path(workdir) / "trace.log"
    if tr.exists():
        for line in tr.read_text(errors="replace").splitlines():
            if any(m in line for m in mem):
                return "MemoryError (trace.log): " + line[:120]
    return None


class _TraceWatch:
    """Reads what the board appended to trace.log since the last look (at most once per
    wall second) and reports the first MemoryError line."""

    def __init__(self, workdir):
        self.path, self.pos, self.next = Path(workdir) / "trace.log", 0, 0.0

    def memory_error(self):
        if time.monotonic() < self.next:
            return None
        self.next = time.monotonic() + 1.0
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                new = f.read()
        except OSError:
            return None
        end = new.rfind(b"\n") + 1  # a line still being written is read next time
        self.pos += end
        for line in new[:end].decode(errors="replace").splitlines():
            if "MemoryError" in line or "memory allocation failed" in line:
                return line[:120]
        return None


def _fresh(workdir):
    """Reuse the PKI and certificates of an earlier run (idempotent), not its state."""
    w = Path(workdir)
    for f in ("flash.lfs2", "trace.log", "console.log", "stderr.log", "ready.json"):
        (w / f).unlink(missing_ok=True)
    if (w / "emt").exists():
        shutil.rmtree(w / "emt")


def run_day(hours, heap, accelerate, workdir, han_every=1800, boot_only=False, poll_s=0,
            peers=PEERS):
    """One simulated day at -X heapsize=heap. Returns a dict (completed, reason, ...).

    A probe that logs a MemoryError has failed (see _failure): it stops there instead of
    running out the day, which keeps the bisection's failing probes short."""
    res = {"heap": heap, "completed": False, "reason": None}
    _fresh(workdir)
    sim = Sim(workdir, accelerate=accelerate, start=START, heap=heap, headless=True,
              peers=peers, options={"meters": {"count": 3}}, rebuild=False)
    trace = _TraceWatch(workdir)
    for p in sim.peers:
        if getattr(p, "name", "") == "air":
            p.meters = air_meters(20)
    t0 = time.monotonic()
    try:
        try:
            sim.start()
        except (RuntimeError, TimeoutError) as e:
            res["reason"] = "boot failed: " + str(e).strip().splitlines()[-1][-160:] \
                if str(e).strip() else "boot failed"
            return res
        res["boot_ms"] = round(sim.vboard.boot_ms, 1)
        han = _Han(sim, han_every)
        end = START + hours * 3600
        live = []
        next_poll = time.monotonic() + poll_s
        while not boot_only and sim.now() < end:
            if not sim.vboard.alive():
                res["reason"] = f"board died at +{sim.now() - START:.0f} s simulated"
                return res
            hit = trace.memory_error()
            if hit:
                res["reason"] = f"MemoryError (trace.log, +{sim.now() - START:.0f} s): {hit}"
                return res
            sim.step()
            han.step()
            if poll_s and time.monotonic() >= next_poll:
                try:  # diag.status() runs gc.collect() first: heap.used is the live set
                    live.append(_diag(sim)["heap"]["used"])
                except Exception:  # noqa: BLE001, S110 - judged at the end of the day
                    pass
                next_poll = time.monotonic() + poll_s
            time.sleep(0.1)
        if boot_only:
            time.sleep(0.5)
        if not sim.vboard.alive():
            res["reason"] = "board died"
            return res
        try:
            d = _diag(sim)
        except Exception as e:  # noqa: BLE001 - an unanswering board did not complete
            res["reason"] = f"diag failed: {type(e).__name__}: {str(e)[-200:]}"
            return res
        res["diag"] = d
        res["reason"] = _failure(d, workdir)
        res["completed"] = res["reason"] is None
        try:
            raw_exec(sim.vboard.endpoints["repl"], _DIAG_OPERATOR)
            res["diag_status_ok"] = True
        except Exception as e:  # noqa: BLE001 - recorded, not a failure of the day
            res["diag_status_ok"] = False
            res["diag_status_error"] = f"{type(e).__name__}: {str(e).strip()[-90:]}"
        res["heap_peak"] = d.get("heap", {}).get("peak")
        res["heap_used_end"] = d.get("heap", {}).get("used")
        res["heap_live_peak"] = max([res["heap_used_end"] or 0] + live)
        res["heap_live_samples"] = live
        res["han_ok"], res["han_err"] = han.ok, han.err
        res["telegrams"] = sum(m.get("count", 0) for k, m in d.get("meters", {}).items()
                               if m.get("via") == "wmbus")
        res["wired_readings"] = sum(m.get("count", 0) for m in d.get("meters", {}).values()
                                    if m.get("via") == "lmn")
        for p in sim.peers:
            if getattr(p, "name", "") == "wan":
                res["wan_deliveries"] = sum(len(e.index) for e in p.emts)
        return res
    finally:
        res["wall_s"] = round(time.monotonic() - t0, 1)
        sim.stop()


_IMPORTS = r"""
import vfs, sys, gc, json
img = open(%(romfs)r, "rb").read()
vfs.mount(vfs.VfsRom(img), "/rom")
sys.path.insert(0, "/rom")
gc.collect()
base = gc.mem_alloc()
out = {}
for m in %(mods)r:
    gc.collect()
    a = gc.mem_alloc()
    try:
        __import__(m)
    except Exception as e:
        continue
    gc.collect()
    out[m] = gc.mem_alloc() - a
gc.collect()
out["*total"] = gc.mem_alloc() - base
print(json.dumps(out))
"""


def import_footprint():
    """Heap each application module costs when imported from the ROMFS image (x64 port:
    about twice a 32-bit board's), in import order; returns (total, {module: bytes})."""
    from . import mpy
    from .build import stage_modules

    mods = [m for m in stage_modules(romfs_path("unix").parent / "stage")
            if not m.startswith(("hal.mcu", "drivers", "_build"))]
    out = json.loads(mpy.run(_IMPORTS % {"romfs": str(romfs_path("unix")), "mods": mods},
                             heapsize="4M", path=[]).strip().splitlines()[-1])
    return out.pop("*total"), dict(sorted(out.items(), key=lambda kv: -kv[1]))


def bisect_rounds(ok_many, lo, hi, step, width=3, rounds=3):
    """Smallest heap h in (lo, hi] with ok(h), assuming ok(hi) and monotonicity.

    Each round asks ok_many() about `width` heaps spread over (lo, hi) at once (the
    probes run side by side, see _Probes), so a round narrows the interval in the wall
    time of one probe: to 1/(width+1) with the points spread evenly, which they are once
    hi <= 1.5 lo; before that they lie quadratically closer to lo. Stops after `rounds` rounds or when the
    interval is within `step`. Returns (h, resolution = hi - lo)."""
    for _ in range(rounds):
        if hi - lo <= step:
            break
        # far apart (the first round: hi is the generous heap), the points lie closer
        # to lo, where the answer is (the live peak plus a fragmentation margin)
        d = width + 1
        pts = sorted({(lo + (hi - lo) * ((i + 1) ** 2 if hi > 3 * lo // 2 else (i + 1) * d)
                       // (d * d)) // 1024 * 1024 for i in range(width)})
        pts = [h for h in pts if lo < h < hi]
        if not pts:
            break
        res = ok_many(pts)
        good = [h for h, ok in zip(pts, res) if ok]
        hi = min(good + [hi])
        lo = max([h for h, ok in zip(pts, res) if not ok and h < hi] + [lo])
    return hi, hi - lo


def _probe(args):
    """One probe in a worker process: (kwargs for run_day, template dir) -> slim result."""
    kw, template = args
    wd = Path(tempfile.mkdtemp(prefix="gwday-"))
    try:
        if template:
            shutil.copytree(template, wd, dirs_exist_ok=True)
        r = run_day(workdir=wd, **kw)
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    r.pop("diag", None)
    return r


class _Probes:
    """Runs day probes side by side in worker processes (each a board, its peers and its
    own copy of the PKI): the board processes mostly wait for the simulated clock, and
    separate processes keep the peers' Python threads off one GIL. Records every probe
    as [heapsize, completed, reason, diag.status() result] (the evidence)."""

    def __init__(self, width, template):
        import concurrent.futures
        import multiprocessing

        self.pool = concurrent.futures.ProcessPoolExecutor(
            width, mp_context=multiprocessing.get_context("spawn"))
        self.template, self.log = template, []

    def run(self, kws):
        rs = list(self.pool.map(_probe, [(kw, self.template) for kw in kws]))
        for kw, r in zip(kws, rs):
            what = "boot only: " if kw.get("boot_only") else ""
            diag = "diag.status() " + ("ok" if r.get("diag_status_ok") else
                                       "failed: " + r.get("diag_status_error", ""))
            self.log.append([kw["heap"], r["completed"], what + (r["reason"] or "")[:160]]
                            + ([] if kw.get("boot_only") else [diag]))
        return rs

    def close(self):
        self.pool.shutdown()


AREA_PEERS = {"base": (), "meters": ("gwtool.sim_meters",), "air": ("gwtool.sim_air",),
              "wan": ("gwtool.sim_wan",), "han": ("gwtool.sim_han",)}


def run(quick=True):
    build("unix")
    image = romfs_path("unix").stat().st_size
    budget = board_facts("unix")["HEAP_BYTES"]
    hours = 2 if quick else 24
    accel = 1800
    out = {"day_hours": hours, "day_accelerate": accel, "heap_budget_bytes": budget,
           "romfs_bytes_unix_in_heap": image}
    total, per_module = import_footprint()
    out["import_heap_bytes_all_modules"] = total
    out["import_heap_top_modules"] = dict(list(per_module.items())[:12])
    fixed = image + SLACK  # what -X heapsize adds to the board's heap on the vboard
    generous = fixed + 1024 * 1024
    width = 3 if quick else 4  # probes side by side (a board mostly waits for its clock)
    with tempfile.TemporaryDirectory() as d:
        tpl = Path(d) / "template"  # PKI and certificates, made once, copied per probe
        run_day(0, generous, 1, tpl, boot_only=True)
        _fresh(tpl)
        probes = _Probes(width, tpl)
        try:
            day = {"hours": hours, "accelerate": accel}
            kws = [dict(day, heap=generous, poll_s=1.0 if quick else 3.0),
                   dict(day, heap=TARGET_HEAP + fixed)]
            if budget != TARGET_HEAP:
                # near the smallest heap, whether a day completes depends on which jobs
                # meet when (docs/memory.md): the full run asks twice, in the same round
                kws += [dict(day, heap=budget + fixed)] * (1 if quick else width - 2)
            big, at128, *at_budget = probes.run(kws)
            out["day_wall_s"] = big.get("wall_s")
            out["diag_status_ok_at_1m"] = big.get("diag_status_ok")
            if not big["completed"]:
                out["day_failure_at_1m"] = big["reason"]
                return out
            out["heap_peak_bytes"] = big["heap_peak"]
            out["heap_live_peak_bytes"] = big["heap_live_peak"]
            out["heap_live_peak_app_bytes"] = big["heap_live_peak"] - image
            out["day_telegrams"] = big.get("telegrams")
            out["day_wired_readings"] = big.get("wired_readings")
            out["day_han_requests_ok"] = big.get("han_ok")
            out["day_han_requests_failed"] = big.get("han_err")
            if "wan_deliveries" in big:
                out["day_wan_deliveries"] = big["wan_deliveries"]
            # the target is 128K whatever HEAP_BYTES says; the board's budget apart
            out["day_completes_in_128k"] = at128["completed"]
            if not at128["completed"]:
                out["day_failure_in_128k"] = at128["reason"][:200]
            if budget != TARGET_HEAP:
                done = [r["completed"] for r in at_budget]
                out["day_completes_in_heap_budget"] = all(done)
                out["day_heap_budget_probes"] = "%d of %d completed" % (sum(done), len(done))
                failed = [r for r in at_budget if not r["completed"]]
                if failed:
                    out["day_failure_in_heap_budget"] = failed[0]["reason"][:200]
                at_budget = failed[0] if failed else at_budget[0]
            else:
                at_budget = at128
            # the day's smallest heap: above the sampled live peak and the failed budgets
            lo = max([big["heap_live_peak"] - 1024, fixed]
                     + [r["heap"] for r in (at128, at_budget) if not r["completed"]])
            hi = min([generous] + [r["heap"] for r in (at128, at_budget) if r["completed"]])
            day_min, res = bisect_rounds(
                lambda hs: [r["completed"] for r in probes.run([dict(day, heap=h)
                                                               for h in hs])],
                lo, hi, 4096, width, rounds=1 if quick else 2)
            out["day_min_heapsize_bytes"] = day_min
            out["day_min_heap_app_bytes"] = day_min - fixed
            out["day_min_heap_resolution_bytes"] = res
            if not quick:
                boot = {"hours": 0, "accelerate": 1, "boot_only": True}
                boot_min, res = bisect_rounds(
                    lambda hs: [r["completed"] for r in probes.run([dict(boot, heap=h)
                                                                   for h in hs])],
                    fixed + 32768, day_min, 2048, width, rounds=4)
                out["boot_min_heap_app_bytes"] = boot_min - fixed
                out["boot_min_heap_resolution_bytes"] = res
                # where the live heap goes: each simulated peer alone for an hour
                rs = probes.run([{"hours": 1, "accelerate": accel, "heap": generous,
                                  "peers": peers, "poll_s": 1.0}
                                 for peers in AREA_PEERS.values()])
                live = {a: r.get("heap_live_peak", 0) - image
                        for a, r in zip(AREA_PEERS, rs) if r["completed"]}
                if "base" in live:
                    out["heap_live_by_area_app_bytes"] = {
                        a: (v if a == "base" else v - live["base"]) for a, v in live.items()}
        finally:
            out["day_probes"] = probes.log
            probes.close()
    return out


if __name__ == "__main__":
    import sys

    print(json.dumps(run("--full" not in sys.argv), indent=1))
