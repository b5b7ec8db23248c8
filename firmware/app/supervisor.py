"""Supervisor: one asyncio task per concern; a crashed task is logged and restarted.

Restart backoff doubles from 1 s to 60 s and resets after a task ran 5 min cleanly, so
a fault loop cannot starve the rest of the gateway; the other tasks keep running.
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
    task = None

    def __init__(self, name, factory):
        self.name = name
        self.factory = factory

    def as_dict(self):
        return {"state": self.state, "restarts": self.restarts, "last_error": self.last_error}


class Supervisor:
    def __init__(self, log):
        self.log = log
        self.tasks = {}

    def add(self, name, factory):
        """factory() returns a coroutine; called again on every restart."""
        st = TaskState(name, factory)
        self.tasks[name] = st
        st.task = asyncio.create_task(self._guard(st))
        return st

    async def _guard(self, st):
        backoff = _BACKOFF_MIN_MS
        while True:
            st.state = "running"
            st.started_ms = time.ticks_ms()
            try:
                await st.factory()
                st.state = "done"
                return
            except asyncio.CancelledError:
                st.state = "stopped"
                raise
            except Exception as e:  # noqa: BLE001 - the supervisor's job is to catch all
                buf = io.StringIO()
                sys.print_exception(e, buf)
                st.state = "crashed"
                st.last_error = "%s: %s" % (type(e).__name__, e)
                st.restarts += 1
                self.log(3, "task.crash", "%s crashed: %s" % (st.name, st.last_error),
                         detail=buf.getvalue())
                if time.ticks_diff(time.ticks_ms(), st.started_ms) > _HEALTHY_MS:
                    backoff = _BACKOFF_MIN_MS
                await asyncio.sleep_ms(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_MS)

    def states(self):
        return {n: st.as_dict() for n, st in self.tasks.items()}

    def stop(self):
        for st in self.tasks.values():
            if st.task:
                st.task.cancel()
