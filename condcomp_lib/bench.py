"""Wall-clock timing that tells a measurement from noise.

Used by every chapter and by ``benchmarks/``. MACs are a promise; time is what a user
gets. A timing on a shared machine is a measurement of the network *and* of whatever else
runs, so this file does three things besides reading a clock:

* **interleave** the variants compared (A B C A B C ...), so that a slow moment of the
  machine hits all of them alike, and summarise each by its median, a low quantile and its
  spread;
* **watch the machine** while it times: the CPU that *other* processes used meanwhile is
  read from the operating system, and a timing taken while they used the cores it needed
  is marked noisy;
* **judge a claim by a ratio** of interleaved rounds (:class:`Ratio`), with the spread of
  the per-round ratios as its margin; :func:`check` asserts a timing claim only where the
  run can support it and otherwise prints why it was skipped. No check fails because the
  machine was busy, and no noisy number is presented as a finding.

On a GPU the clock is a pair of CUDA events around each call; on a CPU it is
``time.perf_counter``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch

# A timing whose interquartile range exceeds this share of its median is too scattered to
# conclude from: on a quiet machine the book's timings stay below 0.15.
NOISY_SPREAD = 0.3
# Cores that other processes may use, beyond those this process leaves free, before the
# machine counts as busy (background daemons use a few hundredths of a core).
BUSY_CORES = 0.25


# ---------------------------------------------------------------- one measured quantity


@dataclass
class Timing:
    """Seconds per call: median, low quantile, interquartile range, and every sample."""

    median: float
    iqr: float
    samples: list = field(repr=False)
    low: float = 0.0  # the 10th percentile: the least disturbed calls
    busy: bool = False  # other processes used the cores this timing needed

    @property
    def ms(self) -> float:
        return 1e3 * self.median

    @property
    def spread(self) -> float:
        """Interquartile range as a share of the median."""
        return self.iqr / self.median if self.median > 0 else 0.0

    @property
    def noisy(self) -> bool:
        return self.busy or self.spread > NOISY_SPREAD

    def __str__(self) -> str:
        flag = " [noisy]" if self.noisy else ""
        return f"{1e3 * self.median:.3f} ms (IQR {1e3 * self.iqr:.3f}){flag}"


def _quantile(samples: list[float], q: float) -> float:
    s = sorted(samples)
    pos = q * (len(s) - 1)
    i = int(pos)
    return s[i] + (s[min(i + 1, len(s) - 1)] - s[i]) * (pos - i)


def _summary(samples: list[float], busy: bool = False) -> Timing:
    iqr = _quantile(samples, 0.75) - _quantile(samples, 0.25)
    return Timing(statistics.median(samples), iqr, samples, _quantile(samples, 0.1), busy)


# ---------------------------------------------------------------- how busy the machine is


@dataclass
class Load:
    """CPU used by other processes while a block of code ran, in cores (1.0 = one full
    core)."""

    others: float = 0.0
    free: float = float(os.cpu_count() or 1)  # cores this process did not ask for

    @property
    def busy(self) -> bool:
        return self.others > max(0.0, self.free) + BUSY_CORES

    def __str__(self) -> str:
        return f"other processes used {self.others:.2f} of {os.cpu_count()} cores"


def _cpu_seconds():
    """(seconds of CPU the whole machine spent busy, seconds this process spent), or
    None."""
    try:
        import psutil
    except ImportError:
        return None
    t = psutil.cpu_times()
    busy = sum(
        getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal")
    )
    own = psutil.Process().cpu_times()
    return busy, own.user + own.system


@contextmanager
def watch_load():
    """Measure what other processes used while the ``with`` block ran; yields a
    :class:`Load` that is filled in when the block ends (all zeros where psutil is
    missing)."""
    load = Load(free=(os.cpu_count() or 1) - torch.get_num_threads())
    start, t0 = _cpu_seconds(), time.perf_counter()
    try:
        yield load
    finally:
        end, wall = _cpu_seconds(), time.perf_counter() - t0
        if start is not None and end is not None and wall > 0:
            others = (end[0] - start[0]) - (end[1] - start[1])
            load.others = max(0.0, others / wall)


# ---------------------------------------------------------------- clocks


def _timer(device: torch.device | str | None):
    """A function that times one call of ``fn`` in seconds on the right clock."""
    if device is not None and torch.device(device).type == "cuda":

        def run(fn):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3
    else:

        def run(fn):
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

    return run


def time_fn(
    fn: Callable[[], object],
    *,
    warmup: int = 3,
    repeats: int = 20,
    device: torch.device | str | None = None,
) -> Timing:
    """Median seconds per call of ``fn()`` (no arguments: close over the inputs)."""
    return compare({"fn": fn}, warmup=warmup, repeats=repeats, device=device)["fn"]


# ---------------------------------------------------------------- comparisons


@dataclass
class Ratio:
    """time(a) / time(b) from interleaved rounds: the median of the per-round ratios, and
    their quartiles as the margin a conclusion needs."""

    value: float
    low: float
    high: float
    noisy: bool = False
    why: str = ""

    def above(self, x: float) -> bool | None:
        """True if the whole margin is above ``x``, False if it is below, None if it
        straddles."""
        return True if self.low > x else False if self.high < x else None

    def __str__(self) -> str:
        flag = f" [noisy: {self.why}]" if self.noisy else ""
        return f"{self.value:.2f}x (rounds {self.low:.2f} to {self.high:.2f}){flag}"


class Comparison(dict):
    """A :class:`Timing` per name, measured interleaved, and the load of the machine
    meanwhile."""

    def __init__(self, timings: dict, load: Load):
        super().__init__(timings)
        self.load = load

    @property
    def noisy(self) -> bool:
        return self.load.busy or any(t.noisy for t in self.values())

    def why(self) -> str:
        """Why the comparison is noisy ("" when it is not)."""
        if self.load.busy:
            return str(self.load)
        wide = [
            f"{k} (IQR {100 * t.spread:.0f}% of the median)"
            for k, t in self.items()
            if t.spread > NOISY_SPREAD
        ]
        return ("scattered timings: " + ", ".join(map(str, wide))) if wide else ""

    def note(self) -> str:
        """A line for a table or a figure: empty when the measurement is clean."""
        return f"noisy measurement ({self.why()}): read with care" if self.noisy else ""

    def ratio(self, a, b) -> Ratio:
        """time(a) / time(b), round by round."""
        r = [x / y for x, y in zip(self[a].samples, self[b].samples) if y > 0]
        noisy = self.load.busy or self[a].noisy or self[b].noisy
        return Ratio(
            statistics.median(r),
            _quantile(r, 0.25),
            _quantile(r, 0.75),
            noisy,
            self.why() if noisy else "",
        )


def compare(
    fns: dict[str, Callable[[], object]],
    *,
    warmup: int = 3,
    repeats: int = 20,
    device: torch.device | str | None = None,
) -> Comparison:
    """Time several functions interleaved (a, b, c, b, c, a, ...), so that slow drifts of
    the machine hit all of them alike, while watching what other processes use."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    run = _timer(device)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    samples = {name: [] for name in fns}
    names = list(fns)
    with watch_load() as load:
        for i in range(repeats):
            # the order turns each round (a b c, b c a, c a b, ...): a function that
            # runs after one that fills the caches with its own data, or leaves the
            # threads asleep, pays for it, and every function must pay equally
            k = i % len(names)
            for name in names[k:] + names[:k]:
                samples[name].append(run(fns[name]))
    return Comparison({n: _summary(s, load.busy) for n, s in samples.items()}, load)


def check(claim: str, ratio: Ratio, above: float) -> bool | None:
    """Assert the timing claim "``ratio`` is above ``above``" where the run supports a
    verdict.

    Noisy measurement: the check is skipped and says why (returns None). Otherwise the
    whole margin of the per-round ratios must clear ``above`` (returns True), or the claim
    fails."""
    if ratio.noisy:
        print(f"timing check skipped, {claim}: {ratio.why} (measured {ratio})")
        return None
    assert ratio.low > above, f"{claim}: measured {ratio}, needs more than {above}"
    print(f"timing check passed, {claim}: {ratio}")
    return True


# ---------------------------------------------------------------- models


def _device_of(model: torch.nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def on(device: torch.device | str, *modules: torch.nn.Module):
    """Move ``modules`` to ``device`` for the ``with`` block and back to where they
    were."""
    homes = [_device_of(m) for m in modules]
    for m in modules:
        m.to(device)
    try:
        yield
    finally:
        for m, home in zip(modules, homes):
            m.to(home)


@torch.no_grad()
def latency(
    model: torch.nn.Module, sample: torch.Tensor, *, warmup: int = 10, repeats: int = 50
) -> Timing:
    """Batch-1 latency: seconds for ``model`` on one sample (``sample`` [1, ...] or
    [...])."""
    model.eval()
    dev = _device_of(model)
    x = (sample if sample.dim() == 4 else sample.unsqueeze(0))[:1].to(dev)
    return time_fn(lambda: model(x), warmup=warmup, repeats=repeats, device=dev)


@torch.no_grad()
def throughput(
    model: torch.nn.Module, batch: torch.Tensor, *, warmup: int = 3, repeats: int = 20
) -> tuple[float, Timing]:
    """Samples per second for ``model`` on ``batch`` (e.g. 256 samples), and the
    Timing."""
    model.eval()
    dev = _device_of(model)
    x = batch.to(dev)
    t = time_fn(lambda: model(x), warmup=warmup, repeats=repeats, device=dev)
    return len(x) / t.median, t


def device_name(device: torch.device | str | None = None) -> str:
    """A readable name of the machine doing the work, for stamping results."""
    if device is not None and torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    n = torch.get_num_threads()
    return f"{cpu} ({n} thread{'' if n == 1 else 's'})"
