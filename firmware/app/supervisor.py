"""Supervisor: one asyncio task per concern; a crashed task is logged and restarted.

Restart backoff doubles from 1 s to 60 s and resets after a task ran 5 min cleanly, so
a fault loop cannot starve the rest of the gateway; the other tasks keep running. A
task that crashes when the heap has no room even for its restart stays crashed; the
error never leaves the scheduler, which would stop every task.
"""
import asyncio
import sys
import io
import time

_BACKOFF_MIN_MS = const(1000)
_BACKOFF_MAX_MS = const(60000)
_HEALTHY_MS = const(300000)


class TaskState:
    # defaults until a task sets its own (fewer instance attributes: RAM per task)
    state = "new"  # new / running / crashed / done / stopped
    restarts = 0
    last_error = None
    started_ms = 0
    task = None  # the running asyncio.Task (or the one waiting out the restart backoff)
    backoff = _BACKOFF_MIN_MS

    def __init__(self, name, factory, sup):
        self.name = name
        self.factory = factory
        self.sup = sup

    def as_dict(self):
        e = self.last_error
        if self.state == "crashed" and self.task is None:  # __call__ found no heap
            e = "MemoryError: no heap to restart the task"
        return {"state": self.state, "restarts": self.restarts, "last_error": e}

    def start(self):
        self.state = "running"
        self.started_ms = time.ticks_ms()
        try:
            t = self.task = asyncio.create_task(self.factory())
        except Exception as e:  # noqa: BLE001 - a factory that fails counts as a crash
            self(None, e)
            return
        # asyncio calls a callable Task.state with (task, exception) when the task ends
        # (StopIteration = returned): no guard coroutine per task (~260 B each, x64)
        t.state = self

    def __call__(self, t, e):
        if isinstance(e, StopIteration):
            self.state = "done"
        elif isinstance(e, asyncio.CancelledError):
            self.state = "stopped"
        else:  # (runs inside the scheduler: nothing may escape from here)
            self.state = "crashed"  # (set before: no allocation)
            try:
                self.restarts += 1
                if time.ticks_diff(time.ticks_ms(), self.started_ms) > _HEALTHY_MS:
                    self.backoff = _BACKOFF_MIN_MS
                self.task = asyncio.create_task(self._restart())
            except MemoryError:
                # no heap left even for the restart: a MemoryError escaping here would
                # stop the scheduler, i.e. every task (seen at boot in a too small heap);
                # this one stays crashed (diag shows it) and the others go on
                self.task = None
                return
            try:
                self.last_error = "%s: %s" % (type(e).__name__, e)
                buf = io.StringIO()
                sys.print_exception(e, buf)
                self.sup.log(3, "task.crash", "%s crashed: %s" % (self.name, self.last_error),
                             detail=buf.getvalue())
            except Exception:  # noqa: BLE001 - a failing log must not stop the scheduler
                pass

    async def _restart(self):
        b = self.backoff
        await asyncio.sleep_ms(b)
        self.backoff = min(b * 2, _BACKOFF_MAX_MS)
        self.start()


class Supervisor:
    def __init__(self, log):
        self.log = log
        self.tasks = {}

    def add(self, name, factory):
        """factory() returns a coroutine; called again on every restart."""
        st = TaskState(name, factory, self)
        self.tasks[name] = st
        st.start()
        return st

    def states(self):
        return {n: st.as_dict() for n, st in self.tasks.items()}

    def stop(self):
        """Cancel every task, also when called from one of them or after the scheduler
        stopped with an error inside one (asyncio's "can't cancel self" must not replace
        that error: app.main calls this in a finally)."""
        for st in self.tasks.values():
            if st.task:
                try:
                    st.task.cancel()
                except RuntimeError:  # the running task: it ends with its caller
                    pass
