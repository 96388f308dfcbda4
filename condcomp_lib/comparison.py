"""Every method of the book on one page: the arithmetic of the comparison chapter.

Used by chapter 10, which never trains anything: it reads the ``methods`` entries that
every chapter's full run writes (:mod:`.results_schema`) and sets them side by side.

Chapters measure on different networks (LeNets, an MLP, a network on larger canvases), so
absolute accuracies and MACs do not compare across chapters. What does compare is each
method *against the dense network of its own chapter, measured in the same run*: its
accuracy difference in points, its share of the dense MACs, and its speed-ups (batch-1
latency and batch-256 throughput ratios). :func:`relative` adds those columns;
:func:`pareto_front` marks the methods that no other method beats on both axes at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .cache import ROOT  # the book's root, where results/ lives
from .results_schema import load_methods

CHAPTERS = ROOT / "chapters"
BENCH_RESULTS = ROOT / "benchmarks" / "results"


def chapter_names(folder: Path = CHAPTERS) -> list[str]:
    """The method chapters' names (``00_baselines`` ... ``09_...``), in book order,
    without this comparison chapter."""
    names = sorted(p.stem for p in folder.glob("[0-9][0-9]_*.ipynb"))
    return [n for n in names if not n.startswith("10_")]


def relative(table):
    """The rows of the chapters' own results files (not auxiliary studies such as
    ``03_condconv_budget``), with three columns that compare across chapters:
    ``delta_pt``, accuracy minus the chapter's dense baseline in points; ``macs_share``,
    MACs over the baseline's; ``speedup_b1`` and ``speedup_b256``, the measured ratios
    (above 1: faster than the baseline), NaN where the chapter did not time them. The
    static frontier's widths are left out: chapter 10 reads them apart
    (:mod:`condcomp_lib.frontier_view`)."""
    rows = table[table["file"].isin(chapter_names())].copy()
    base_acc = {
        (r.file, r.name): r.accuracy_mean
        for r in rows.itertuples()
        if r.role in ("dense", "frontier")
    }
    rows = rows[rows["role"] != "frontier"]
    rows["delta_pt"] = [
        100 * (r.accuracy_mean - base_acc[r.file, r.baseline]) for r in rows.itertuples()
    ]
    rows["macs_share"] = rows["macs_relative"]
    rows["speedup_b1"] = rows["latency_b1_ratio"].astype(float)
    rows["speedup_b256"] = rows["throughput_b256_ratio"].astype(float)
    return rows.reset_index(drop=True)


def operating_points(rel):
    """Each method chapter's operating points, from :func:`relative`'s rows: the methods
    it timed (a chapter times the networks it stands by), or, where it timed none, its
    method closest to its dense network in accuracy. Sorted by chapter."""
    import pandas as pd

    methods = rel[rel["role"] == "method"]
    timed = methods["speedup_b1"].notna() | methods["speedup_b256"].notna()
    picked = [methods[timed]]
    for chapter, rows in methods[~timed].groupby("chapter"):
        if chapter not in set(methods.loc[timed, "chapter"]):
            picked.append(rows.nlargest(1, "delta_pt"))
    return pd.concat(picked).sort_values(["chapter", "macs_share"]).reset_index(drop=True)


def pareto_front(cost, gain) -> np.ndarray:
    """Which points no other point dominates: a point is dominated when another has at
    most its ``cost`` and at least its ``gain``, and is strictly better in one of them.
    NaNs are never on the front. Returns a boolean mask."""
    cost, gain = np.asarray(cost, dtype=float), np.asarray(gain, dtype=float)
    ok = ~(np.isnan(cost) | np.isnan(gain))
    front = ok.copy()
    for i in np.flatnonzero(ok):
        others = ok & (cost <= cost[i]) & (gain >= gain[i])
        others &= (cost < cost[i]) | (gain > gain[i])
        front[i] = not others.any()
    return front


def missing_chapters(root: Path | None = None) -> list[str]:
    """The method chapters with no committed full-profile results file."""
    folder = Path(root) if root is not None else ROOT / "results"
    present = {p.stem for p in folder.glob("*.json")}
    return [c for c in chapter_names() if c not in present]


def reproduction_cost(root: Path | None = None) -> dict[str, float | None]:
    """Each results file's recorded wall-clock (seconds; None where it was not
    recorded), to tell a reader what a full reproduction costs."""
    folder = Path(root) if root is not None else ROOT / "results"
    return {
        p.stem: json.loads(p.read_text()).get("wall_clock_s")
        for p in sorted(folder.glob("*.json"))
    }


def gpu_benchmarks(folder: Path = BENCH_RESULTS) -> list[dict]:
    """The committed benchmark files measured on a GPU (``benchmarks/bench_ops.py``
    stamps those with the card's name under ``"gpu"``); an empty list while the routed
    kernels have run on CPUs only."""
    found = []
    for p in sorted(Path(folder).glob("*.json")):
        data = json.loads(p.read_text())
        if data.get("gpu"):
            found.append({"file": p.name, **data})
    return found


__all__ = [
    "chapter_names",
    "gpu_benchmarks",
    "load_methods",
    "missing_chapters",
    "pareto_front",
    "relative",
    "reproduction_cost",
]
