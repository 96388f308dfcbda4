"""The static frontier: what a conditional network must beat at its own cost.

Used by chapter 0 (the LeNet family's frontier), the method chapters (each method placed
on its family's frontier) and chapter 10 (every method's distance to it).

A conditional network saves multiply-accumulates (MACs). Whether that was worth its
machinery is a question about the alternative: an *ordinary* network of the same family,
simply made narrower until it costs as much. The frontier of a family is that
alternative at several widths, each trained with the same recipe and budget on several
seeds, with its accuracy, its MACs and its measured time. A method is then read at its
own cost:

* **accuracy at equal MACs**: the method's accuracy minus the frontier's at the method's
  MACs. A gap inside the frontier's seed band there is no gap;
* **accuracy at equal time**: minus the frontier's accuracy at the width that runs as
  fast as the method (at batch 1 and at batch 256);
* **execution efficiency**: the frontier's time at the method's MACs over the method's
  time. 1 means the method runs as fast as an ordinary network of its MACs; the full
  network's "time proportional to MACs" line is one no network reaches, so it is not
  the yardstick.

Between widths the frontier is interpolated: accuracy linearly in log MACs, time
linearly in log-log (time grows as a power of MACs over a small range). Outside the
measured range nothing is extrapolated: asking there is an error that names the range.
Times are relative to the family's dense network (its ``latency_b1_ratio`` and
``throughput_b256_ratio`` in the results files), so a method and the frontier compare
only through ratios measured on the same kind of machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from . import results_schema


class OutsideFrontier(ValueError):
    """A cost outside the range the frontier measured."""


@dataclass(frozen=True)
class Width:
    """One width of a frontier: MACs per sample, accuracy over its seeds (mean and the
    band of the seeds' spread around it) and its time relative to the family's dense
    network at batch 1 and batch 256 (None where it was not timed)."""

    name: str
    macs: float
    accuracy: float
    spread: float  # max minus min over the seeds; 0 with one seed
    time_b1: float | None = None
    time_b256: float | None = None


@dataclass(frozen=True)
class Reading:
    """The frontier read at one cost: accuracy with its seed band, and times."""

    macs: float
    accuracy: float
    low: float
    high: float
    time_b1: float | None
    time_b256: float | None


def _lerp(x0: float, x1: float, y0: float, y1: float, x: float) -> float:
    return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class Frontier:
    """A family's widths, cheapest first (at least three distinct MACs)."""

    family: str
    widths: tuple[Width, ...]

    def __post_init__(self):
        ws = tuple(sorted(self.widths, key=lambda w: w.macs))
        if len({w.macs for w in ws}) < results_schema.MIN_WIDTHS:
            raise ValueError(
                f"frontier {self.family!r}: {len({w.macs for w in ws})} width(s), a "
                f"frontier needs at least {results_schema.MIN_WIDTHS}"
            )
        object.__setattr__(self, "widths", ws)

    @property
    def macs_range(self) -> tuple[float, float]:
        return self.widths[0].macs, self.widths[-1].macs

    def _segment(self, macs: float) -> tuple[Width, Width]:
        lo, hi = self.macs_range
        if not lo <= macs <= hi:
            raise OutsideFrontier(
                f"{macs:,.0f} MACs is outside the {self.family} frontier's measured "
                f"range, {lo:,.0f} to {hi:,.0f} MACs: nothing is extrapolated"
            )
        for a, b in zip(self.widths, self.widths[1:]):
            if a.macs <= macs <= b.macs:
                return a, b
        raise AssertionError("unreachable: the range check above covers every case")

    def at(self, macs: float) -> Reading:
        """The frontier at ``macs`` MACs per sample (interpolated; module docstring)."""
        a, b = self._segment(macs)
        x0, x1, x = math.log(a.macs), math.log(b.macs), math.log(macs)
        acc = _lerp(x0, x1, a.accuracy, b.accuracy, x)
        half = _lerp(x0, x1, a.spread, b.spread, x) / 2

        def time(ta, tb):
            if ta is None or tb is None:
                return None
            return math.exp(_lerp(x0, x1, math.log(ta), math.log(tb), x))

        return Reading(
            macs,
            acc,
            acc - half,
            acc + half,
            time(a.time_b1, b.time_b1),
            time(a.time_b256, b.time_b256),
        )

    def macs_at_time(self, time: float, batch: int) -> float:
        """The MACs of the frontier network that runs in ``time`` (relative to the
        family's dense network) at ``batch`` 1 or 256: the first width, cheapest first,
        at which the frontier's time reaches ``time``."""
        times = [self._time(w, batch) for w in self.widths]
        for a, b, ta, tb in zip(self.widths, self.widths[1:], times, times[1:]):
            if min(ta, tb) <= time <= max(ta, tb):
                if ta == tb:
                    return a.macs
                x = _lerp(math.log(ta), math.log(tb), math.log(a.macs), math.log(b.macs),
                          math.log(time))  # fmt: skip
                return math.exp(x)
        raise OutsideFrontier(
            f"a time of {time:.3g} (of the dense network's, batch {batch}) is outside "
            f"the {self.family} frontier's measured times, {min(times):.3g} to "
            f"{max(times):.3g}: nothing is extrapolated"
        )

    def _time(self, w: Width, batch: int) -> float:
        if batch not in (1, 256):
            raise ValueError(f"the frontier is timed at batch 1 and 256, not {batch}")
        t = w.time_b1 if batch == 1 else w.time_b256
        if t is None:
            raise ValueError(f"the {self.family} frontier's {w.name} was not timed")
        return t


def from_entries(entries: Sequence[dict], family: str) -> Frontier:
    """The frontier of ``family`` from results entries (``role`` "frontier"); times
    from the entries' ratios to their dense baseline."""
    members = [e for e in entries if e["role"] == "frontier" and e["family"] == family]
    if not members:
        raise ValueError(f"no frontier entries of family {family!r}")
    return Frontier(
        family,
        tuple(
            Width(
                e["name"],
                e["macs"]["mean"],
                e["accuracy"]["mean"],
                e["accuracy"]["spread"] or 0.0,
                None if e["latency_b1_ratio"] is None else 1 / e["latency_b1_ratio"],
                None
                if e["throughput_b256_ratio"] is None
                else 1 / e["throughput_b256_ratio"],
            )
            for e in members
        ),
    )


def judge(method: dict, frontier: Frontier) -> dict:
    """A method entry against the frontier of its family, in points and ratios:

    ``gap_equal_macs`` (accuracy minus the frontier's at its MACs, pt) and ``verdict``
    ("above", "on" or "below" the seed band there); ``gap_equal_time_b1`` and
    ``gap_equal_time_b256`` (minus the frontier's accuracy at the width as fast as it,
    pt, None where untimed or outside the frontier's times); ``efficiency_b1`` and
    ``efficiency_b256`` (the frontier's time at its MACs over its own). Times are
    relative to each side's dense network, as the entries' ratios are."""
    reading = frontier.at(method["macs"]["mean"])
    acc = method["accuracy"]["mean"]
    verdict = "above" if acc > reading.high else "below" if acc < reading.low else "on"
    out = {
        "frontier_accuracy": reading.accuracy,
        "gap_equal_macs": 100 * (acc - reading.accuracy),
        "verdict": verdict,
    }
    ratios = {1: method["latency_b1_ratio"], 256: method["throughput_b256_ratio"]}
    for batch, ratio in ratios.items():
        own = None if ratio is None else 1 / ratio  # the method's time, dense = 1
        front = reading.time_b1 if batch == 1 else reading.time_b256
        out[f"efficiency_b{batch}"] = (
            None if own is None or front is None else front / own
        )
        gap = None
        if own is not None and front is not None:
            try:
                same_time = frontier.at(frontier.macs_at_time(own, batch)).accuracy
                gap = 100 * (acc - same_time)
            except OutsideFrontier:
                pass
        out[f"gap_equal_time_b{batch}"] = gap
    return out


def describe(f: Frontier, widest: str) -> str:
    """The frontier in words, for the chapter that shows it: its range of cost and
    accuracy, the seeds' spread, and how its time falls with its MACs (``widest``: what
    to call the widest width, e.g. "the thick LeNet")."""
    lo, hi = f.widths[0], f.widths[-1]
    share = lo.macs / hi.macs
    text = (
        f"The frontier runs from {share:.0%} to 100% of {widest}'s MACs, and its test "
        f"accuracy from {100 * lo.accuracy:.2f}% to {100 * hi.accuracy:.2f}%"
    )
    spread = max(w.spread for w in f.widths)
    text += (
        f"; the seeds of a width lie within {100 * spread:.2f} pt of each other."
        if spread > 0
        else " (one seed a width)."
    )
    times = [(b, getattr(lo, f"time_b{b}"), getattr(hi, f"time_b{b}")) for b in (1, 256)]
    said = [
        f"{t / t_hi:.0%} of its time at batch {b}" for b, t, t_hi in times if t and t_hi
    ]
    if not said:
        return text + " It was not timed."
    text += (
        f" The cheapest width, with {share:.0%} of {widest}'s MACs, takes "
        + " and ".join(said)
        + "."
    )
    slower = [b for b, t, t_hi in times if t and t_hi and t / t_hi > share]
    if slower:
        batches = " and ".join(f"batch {b}" for b in slower)
        text += (
            f" At {batches} time falls more slowly than MACs: a method is held to the "
            "frontier's time at its own MACs, not to time proportional to MACs."
        )
    return text


def entry(
    name: str,
    *,
    family: str,
    recipe: str,
    epochs: int,
    train_images: int,
    **fields,
) -> dict:
    """A frontier entry: :func:`condcomp_lib.results_schema.entry` with ``role``
    "frontier" and the family, recipe and budget it was trained with."""
    e = results_schema.entry(name, role="frontier", **fields)
    return {
        **e,
        "family": family,
        "recipe": recipe,
        "budget": {"epochs": int(epochs), "train_images": int(train_images)},
    }
