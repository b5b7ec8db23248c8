# MicroPython side of the test harness: import one test module, run its test_* functions,
# report each result as one marked JSON line. Runs inside the unix port, never CPython.
import sys
import json
import io

MARK = "\x1eMPUNIT "


def _tb(e):
    s = io.StringIO()
    sys.print_exception(e, s)
    return s.getvalue()


def _run(fn):
    r = fn()
    if type(r).__name__ == "generator" or type(r).__name__ == "coroutine":
        import asyncio

        async def _wrap():
            return await r

        asyncio.run(_wrap())


def main(modname, only):
    try:
        mod = __import__(modname)
    except BaseException as e:  # noqa
        print(MARK + json.dumps({"name": "<import>", "ok": False, "tb": _tb(e)}))
        return
    names = sorted(n for n in dir(mod) if n.startswith("test_"))
    print(MARK + json.dumps({"collected": names}))
    for n in names:
        if only and n not in only:
            continue
        try:
            _run(getattr(mod, n))
            print(MARK + json.dumps({"name": n, "ok": True}))
        except BaseException as e:  # noqa
            skip = type(e).__name__ == "SkipTest"
            print(MARK + json.dumps({"name": n, "ok": skip, "skip": skip, "tb": _tb(e)}))


main(sys.argv[1], sys.argv[2:])
