"""Wall-clock timing: batch-1 latency and large-batch throughput.

Used by every chapter and by ``benchmarks/``. MACs are a promise; time is what a user gets.
Each measurement warms up first (allocator, caches, lazy initialisation), then repeats the
call and reports the median and the interquartile range: these machines are noisy, and a
median over repeats is the figure that survives the noise. On a GPU the clock is a pair of
CUDA events around each call; on a CPU it is ``time.perf_counter``.

Compare two things by timing them in the same run, interleaved (:func:`compare`), and quote
the ratio of medians.
"""
from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Timing:
    """Seconds per call: median, interquartile range, and every sample."""
    median: float
    iqr: float
    samples: list = field(repr=False)

    @property
    def ms(self) -> float:
        return 1e3 * self.median

    def __str__(self) -> str:
        return f"{1e3 * self.median:.3f} ms (IQR {1e3 * self.iqr:.3f})"


def _summary(samples: list[float]) -> Timing:
    if len(samples) >= 4:
        q = statistics.quantiles(samples, n=4)
        iqr = q[2] - q[0]
    else:
        iqr = max(samples) - min(samples)
    return Timing(statistics.median(samples), iqr, samples)


def _timer(device: torch.device | str | None):
    """A function that times one call of ``fn`` in seconds on the right clock."""
    if device is not None and torch.device(device).type == "cuda":
        def run(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
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


def time_fn(fn: Callable[[], object], *, warmup: int = 3, repeats: int = 20,
            device: torch.device | str | None = None) -> Timing:
    """Median seconds per call of ``fn()`` (no arguments: close over the inputs)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    run = _timer(device)
    for _ in range(warmup):
        fn()
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return _summary([run(fn) for _ in range(repeats)])


def compare(fns: dict[str, Callable[[], object]], *, warmup: int = 3, repeats: int = 20,
            device: torch.device | str | None = None) -> dict[str, Timing]:
    """Time several functions interleaved (a, b, c, a, b, c, ...), so that slow drifts of the
    machine hit all of them alike; returns a Timing per name."""
    run = _timer(device)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(run(fn))
    return {name: _summary(s) for name, s in samples.items()}


def _device_of(model: torch.nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def latency(model: torch.nn.Module, sample: torch.Tensor, *, warmup: int = 10,
            repeats: int = 50) -> Timing:
    """Batch-1 latency: seconds for ``model`` on one sample (``sample`` [1, ...] or [...])."""
    model.eval()
    dev = _device_of(model)
    x = (sample if sample.dim() == 4 else sample.unsqueeze(0))[:1].to(dev)
    return time_fn(lambda: model(x), warmup=warmup, repeats=repeats, device=dev)


@torch.no_grad()
def throughput(model: torch.nn.Module, batch: torch.Tensor, *, warmup: int = 3,
               repeats: int = 20) -> tuple[float, Timing]:
    """Samples per second for ``model`` on ``batch`` (e.g. 256 samples), and the Timing."""
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
    return f"{cpu} ({torch.get_num_threads()} threads)"
