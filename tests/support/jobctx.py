"""The gateway's one-big-heap-job-at-a-time hold (app.Context.hold/take/give) for the
tests' own contexts: the same code, borrowed, so a test context behaves like the board's."""
from app import Context as _C


class Jobs:
    job = None
    jobs = 0
    hold = _C.hold
    take = _C.take
    give = _C.give
