"""The book's headline findings, in words, from the committed results.

Used by the book's build (``scripts/book.py`` writes :func:`headline` into the
introduction) and by chapter 10, so that the findings a reader meets first are computed
from the same files as every chapter's numbers, never typed. Three findings:

* the verdicts on the papers' claims (:mod:`condcomp_lib.claims`);
* where the methods stand against the static frontier of their family, at equal MACs
  (:mod:`condcomp_lib.frontier_view`);
* how much of the speed-up the MACs promise reaches the clock: for every timed method,
  its measured speed-up over its chapter's dense network divided by the dense MACs over
  its own, the median over methods at batch 1 and at batch 256.
"""

from __future__ import annotations

from . import cache, claims, comparison, frontier_view, results_schema


def promise_kept(rel) -> dict[int, list[float]]:
    """For each batch (1, 256), the share of the MACs' promised speed-up that every
    timed method (role "method") measured: measured speed-up times its MACs share."""
    methods = rel[rel["role"] == "method"]
    out = {}
    for batch in (1, 256):
        col = methods[f"speedup_b{batch}"]
        out[batch] = [float(v) for v in (col * methods["macs_share"]).dropna()]
    return out


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def claims_sentence(verdicts) -> str:
    counts = verdicts["verdict"].value_counts()
    n = lambda v: int(counts.get(v, 0))  # noqa: E731
    return (
        f"Of the {len(verdicts)} claims of the papers that the chapters examine, "
        f"{n('reproduced')} reproduce at the book's scale, {n('partly')} partly and "
        f"{n('not reproduced')} do not; {n('inconclusive')} are inconclusive (fewer "
        "than three seeds in an arm, unequal budgets, or a gap inside the seeds' "
        f"spread) and {n('not comparable')} are not comparable"
        + (f"; {n('pending')} wait for a full run" if n("pending") else "")
        + "."
    )


def frontier_sentence() -> str | None:
    parts = []
    for family in frontier_view.FRONTIER_FILE:
        front = frontier_view.committed(family)
        if front is None:
            continue
        inside = [r for r in frontier_view.rows(front) if r["outside"] is None]
        if not inside:
            continue
        count = {
            v: sum(r["verdict"] == v for r in inside) for v in ("above", "on", "below")
        }
        parts.append(
            f"of the {len(inside)} {frontier_view.NAMES[family]} methods inside its "
            f"range, {count['above']} are more accurate than the frontier at equal "
            f"MACs, {count['on']} level with it and {count['below']} below it"
        )
    if not parts:
        return None
    return (
        "Against the static frontier, ordinary networks of the same family made "
        "narrower until they cost as much: " + "; ".join(parts) + "."
    )


def time_sentence(kept: dict[int, list[float]]) -> str | None:
    said = [
        f"{100 * _median(v):.0f}% at batch {b} (median of {len(v)} timed methods)"
        for b, v in kept.items()
        if v
    ]
    if not said:
        return None
    return (
        "Saved MACs are not saved time: of the speed-up a method's MACs promise, the "
        "clock measured " + " and ".join(said) + "."
    )


def headline() -> str:
    """The findings as a Markdown paragraph, from the book's committed ``results/``."""
    root = cache.ROOT / "results"  # read at the call: the tests point it elsewhere
    rel = comparison.relative(results_schema.load_methods(root))
    sentences = [
        claims_sentence(claims.table(root)),
        frontier_sentence(),
        time_sentence(promise_kept(rel)),
    ]
    return " ".join(s for s in sentences if s)
