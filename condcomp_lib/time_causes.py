"""Where a call's time goes, by cause: arithmetic, data movement, the operators' other
work (bookkeeping), and the time between operators (Python, dispatch, allocation).

Used by chapter 5. torch.profiler gives each operator's own (self) time; the operators
are sorted into causes by name, and what the wall clock measures beyond their sum is
the time spent outside any operator. The sort is by name, so a name missing from the
lists below counts as bookkeeping: the lists hold the operators the book's routed paths
and networks call.
"""

from __future__ import annotations

import contextlib
import os
import time

import torch

CAUSES = ("arithmetic", "data movement", "bookkeeping", "outside the operators")

ARITHMETIC = frozenset(
    "mm bmm addmm baddbmm _grouped_mm convolution mkldnn_convolution _convolution "
    "linear matmul".split()
)
MOVEMENT = frozenset(
    "copy_ index_select index_copy_ index_fill_ index_put_ index_add_ gather scatter "
    "scatter_ cat fill_ zero_ where mul clone contiguous constant_pad_nd unfold "
    "masked_fill masked_fill_ _index_put_impl_ stack".split()
)


def cause_of(operator: str) -> str:
    """The cause an operator's own time counts under ("aten::mm" -> arithmetic)."""
    name = operator.removeprefix("aten::")
    if name in ARITHMETIC:
        return "arithmetic"
    return "data movement" if name in MOVEMENT else "bookkeeping"


@contextlib.contextmanager
def quiet_stderr():
    """The profiler's C++ side prints a line on every start and stop: keep it off the
    page (file descriptor 2, which Python's own ``sys.stderr`` does not cover)."""
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def by_cause(fn, calls: int = 10, warmup: int = 3) -> dict[str, float]:
    """Milliseconds of one call of ``fn`` in each of :data:`CAUSES`: the profiled
    operators' own time by cause, and the rest of an unprofiled call's wall time
    (never below zero: the profiler's own overhead can exceed it)."""
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    for _ in range(warmup):
        fn()
    cpu = torch.profiler.ProfilerActivity.CPU
    with quiet_stderr(), torch.profiler.profile(activities=[cpu]) as prof:
        for _ in range(calls):
            fn()
    out = dict.fromkeys(CAUSES[:3], 0.0)
    for e in prof.key_averages():
        out[cause_of(e.key)] += e.self_cpu_time_total / calls / 1e3
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    wall = (time.perf_counter() - t0) / calls * 1e3
    out["outside the operators"] = max(0.0, wall - sum(out.values()))
    return out
