"""Every committed method of a family read against its committed static frontier.

Used by the method chapters, which place their operating points on their family's
frontier in one figure, and by chapter 10, which leads with every method's distance to
it. Everything here reads the committed full-profile results: the frontier from the file
of the chapter that records it (entries of role "frontier": the LeNet family's in
chapter 0's file, the MLP and canvas families' in chapters 6 and 7's) and the methods
from each chapter's file, so a figure drawn in the quick profile says that its points
are the committed full run's.

A method's times in its file are relative to its own baseline. Most LeNet chapters time
against the thick LeNet, the frontier's widest width; a chapter whose baseline is another
ordinary network (chapter 8 times against the thin LeNet) is brought to the thick LeNet's
scale with the frontier's own time at the baseline's MACs, and its rows say so.
"""

from __future__ import annotations

import math

from . import cache, frontier

# the chapters whose networks belong to each family (budget studies train other budgets)
CHAPTERS = {
    "lenet": (
        "01_early_exit",
        "02_adaptive_networks",
        "03_condconv",
        "04_cigt",
        "08_feature_cluster_trees",
        "09_gates_and_cascades",
    ),
    "mlp": ("06_block_policies",),
    "canvas": ("07_activity_specialization",),
}
# where each family's frontier is recorded, and what its widest width is called
FRONTIER_FILE = {
    "lenet": "00_baselines",
    "mlp": "06_block_policies",
    "canvas": "07_activity_specialization",
}
WIDEST = {"lenet": "the thick LeNet", "mlp": "the dense MLP", "canvas": "network (b)"}
NAMES = {"lenet": "LeNet", "mlp": "MLP", "canvas": "canvas"}


def committed(family: str = "lenet") -> frontier.Frontier | None:
    """The family's frontier from the committed results, or None where none is."""
    if family not in FRONTIER_FILE:
        raise ValueError(f"no frontier family {family!r}: one of {list(FRONTIER_FILE)}")
    results = cache.load_results(FRONTIER_FILE[family])
    if results is None:
        return None
    entries = [
        m
        for m in results["methods"]
        if m["role"] == "frontier" and m.get("family") == family
    ]
    return frontier.from_entries(entries, family) if entries else None


def _to_widest(method: dict, baseline: dict, front: frontier.Frontier) -> dict:
    """``method`` with its time ratios rescaled to the frontier's widest width, where
    its chapter timed it against a narrower ordinary network."""
    widest = front.widths[-1].macs
    base_macs = baseline["macs"]["mean"]
    if math.isclose(base_macs, widest, rel_tol=1e-6):
        return method
    reading = front.at(base_macs)  # the baseline's own time, as a frontier width
    out = dict(method)
    times = {
        "latency_b1_ratio": reading.time_b1,
        "throughput_b256_ratio": reading.time_b256,
    }
    for key, t in times.items():
        if out[key] is not None and t is not None:
            out[key] = out[key] / t  # dense/method = (base/method) * (dense/base)
    return out


def rows(front: frontier.Frontier, chapters=None, roles=("method",)) -> list[dict]:
    """One row per committed entry of ``roles`` in ``chapters`` (default: every chapter
    of the frontier's family): the entry's numbers and :func:`frontier.judge`'s, or the
    reason it cannot be judged (a cost outside the frontier's range)."""
    out = []
    for chapter in chapters or CHAPTERS[front.family]:
        results = cache.load_results(chapter)
        if results is None:
            continue
        by_name = {m["name"]: m for m in results["methods"]}
        for m in results["methods"]:
            if m["role"] not in roles:
                continue
            row = {
                "chapter": chapter,
                "name": m["name"],
                "role": m["role"],
                "macs": m["macs"]["mean"],
                "macs_share": m["macs"]["mean"] / front.widths[-1].macs,
                "accuracy": m["accuracy"]["mean"],
                "seeds": m["accuracy"]["seeds"],
                "rescaled": False,
                "outside": None,
            }
            try:
                scaled = _to_widest(m, by_name[m["baseline"]], front)
                row["rescaled"] = scaled is not m
                row.update(frontier.judge(scaled, front))
            except frontier.OutsideFrontier as e:
                row["outside"] = str(e)
            out.append(row)
    return out


def sentence(row: dict) -> str:
    """One method's place against the frontier, in words."""
    name = f"{row['name']} (chapter {int(row['chapter'][:2])})"
    if row["outside"] is not None:
        return (
            f"{name} costs {row['macs_share']:.0%} of the widest network's MACs, outside "
            "the frontier's measured range: not judged."
        )
    where = {"above": "above", "on": "on", "below": "below"}[row["verdict"]]
    text = (
        f"{name}, at {row['macs_share']:.0%} of the MACs, is {where} the frontier at "
        f"equal MACs ({row['gap_equal_macs']:+.2f} pt"
        + (", inside the seeds' spread)" if where == "on" else ")")
    )
    times = [
        f"{row[f'gap_equal_time_b{b}']:+.2f} pt at batch {b}"
        for b in (1, 256)
        if row.get(f"gap_equal_time_b{b}") is not None
    ]
    if times:
        text += "; at equal measured time " + " and ".join(times)
    effs = [
        f"{row[f'efficiency_b{b}']:.2f} at batch {b}"
        for b in (1, 256)
        if row.get(f"efficiency_b{b}") is not None
    ]
    if effs:
        text += (
            "; its execution efficiency (the frontier's time at its MACs over its own) "
        )
        text += " and ".join(effs)
    return text + "."


def plot(front: frontier.Frontier, judged: list[dict], ax, title: str = ""):
    """The frontier's accuracy against MACs (its seed band shaded) and the judged rows as
    labelled points; rows outside the frontier's range are drawn but marked."""
    from . import viz  # plotting only where a figure is drawn

    widest = front.widths[-1].macs
    xs = [100 * w.macs / widest for w in front.widths]
    ax.plot(xs, [100 * w.accuracy for w in front.widths], "-", color="0.3",
            label="static frontier (mean)")  # fmt: skip
    ax.fill_between(
        xs,
        [100 * (w.accuracy - w.spread / 2) for w in front.widths],
        [100 * (w.accuracy + w.spread / 2) for w in front.widths],
        color="0.3",
        alpha=0.15,
        label="the frontier's seed spread",
    )
    # one chapter: a colour and a legend line per point; several (chapter 10): a colour
    # per chapter, since twenty names in one legend would hide the points they name
    chapters = list(dict.fromkeys(r["chapter"] for r in judged))
    by_chapter = len(chapters) > 1
    for i, r in enumerate(judged):
        k = chapters.index(r["chapter"]) if by_chapter else i
        # past the palette's colours, another shape: no two legend lines look alike
        marker = "x" if r["outside"] else "os^D"[k // len(viz.COLORS) % 4]
        label = chapter_label(r["chapter"]) if by_chapter else r["name"]
        first = not by_chapter or k not in {
            chapters.index(q["chapter"]) for q in judged[:i]
        }
        ax.plot(100 * r["macs_share"], 100 * r["accuracy"], marker, ms=7,
                color=viz.COLORS[k % len(viz.COLORS)],
                label=label if first else None)  # fmt: skip
    ax.set_xscale("log")
    low = min([xs[0], *(100 * r["macs_share"] for r in judged)])
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100) if t >= low / 1.5]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel(f"MACs (% of {WIDEST[front.family]})")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.14), ncol=2)


def chapter_label(chapter: str) -> str:
    """ "01_early_exit" -> "chapter 1, early exit"."""
    number, _, name = chapter.partition("_")
    words = [{"cigt": "CIGT", "condconv": "CondConv"}.get(w, w) for w in name.split("_")]
    return f"chapter {int(number)}, {' '.join(words)}"


def table(judged: list[dict]):
    """The judged rows as a table a reader scans (pandas, formatted by ``viz.table``)."""
    import pandas as pd

    def num(r, key, scale=1.0):
        v = r.get(key)
        return None if v is None else scale * v

    return pd.DataFrame(
        [
            {
                "chapter": r["chapter"][:2],
                "method": r["name"],
                "MACs (% of the widest)": 100 * r["macs_share"],
                "accuracy (%)": 100 * r["accuracy"],
                "seeds": r["seeds"],
                "frontier at its MACs (%)": num(r, "frontier_accuracy", 100),
                "gap at equal MACs (pt)": num(r, "gap_equal_macs"),
                "place": r.get("verdict") or "outside the range",
                "gap at equal time, batch 1 (pt)": num(r, "gap_equal_time_b1"),
                "gap at equal time, batch 256 (pt)": num(r, "gap_equal_time_b256"),
                "efficiency, batch 1": num(r, "efficiency_b1"),
                "efficiency, batch 256": num(r, "efficiency_b256"),
            }
            for r in judged
        ]
    ).set_index(["chapter", "method"])


def show(chapter: str, family: str = "lenet") -> list[dict] | None:
    """For a method chapter: its committed methods on the committed frontier, as a
    figure and in words; a line saying what is missing where either is not committed."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    front = committed(family)
    if front is None:
        where = f"chapter {int(FRONTIER_FILE[family][:2])}"
        print(f"no static frontier is committed yet: {where}'s full profile records it")
        return None
    judged = rows(front, [chapter])
    if not judged:
        print(f"no committed full-profile methods of {chapter} to place yet")
        return None
    stamp = cache.run_stamp(cache.load_results(FRONTIER_FILE[family]))
    print(f"the frontier and the methods: {stamp}")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    plot(front, judged, ax, "the committed full-profile runs on the static frontier")
    plt.show()
    display(Markdown(" ".join(sentence(r) for r in judged)))
    return judged


def places() -> dict:
    """Every committed method of every family with a committed frontier:
    ``{(chapter, name): its row}`` (see :func:`rows`)."""
    out = {}
    for family in FRONTIER_FILE:
        front = committed(family)
        for r in [] if front is None else rows(front):
            out[r["chapter"], r["name"]] = r
    return out


def place(row: dict | None) -> str:
    """A method's place against its frontier at equal MACs, in a few words."""
    if row is None:
        return "no frontier"
    if row["outside"] is not None:
        return "outside its range"
    return f"{row['verdict']} ({row['gap_equal_macs']:+.2f} pt)"


def verdict(chapter: str, family: str = "lenet", names=None) -> str | None:
    """For a chapter's Summary: its committed methods (those of ``names`` only, where
    given) against the committed frontier, in words; None where either is missing."""
    front = committed(family)
    if front is None:
        return None
    judged = [r for r in rows(front, [chapter]) if names is None or r["name"] in names]
    if not judged:
        return None
    return "Against the static frontier: " + " ".join(sentence(r) for r in judged)


def summary(judged: list[dict]) -> str:
    """How many of the judged methods stand above, on and below the frontier at equal
    MACs, and at equal time, in one sentence (chapter 10's headline)."""
    inside = [r for r in judged if r["outside"] is None]
    count = {v: sum(r["verdict"] == v for r in inside) for v in ("above", "on", "below")}
    text = (
        f"Of {len(judged)} committed methods of the family, {len(inside)} lie inside the "
        f"frontier's range: at equal MACs {count['above']} are above it, {count['on']} "
        f"on it (inside the seeds' spread) and {count['below']} below it"
    )
    for b in (1, 256):
        gaps = [r[f"gap_equal_time_b{b}"] for r in inside]
        gaps = [g for g in gaps if g is not None]
        if gaps:
            text += (
                f"; at equal time at batch {b}, {sum(g > 0 for g in gaps)} of the "
                f"{len(gaps)} timed are more accurate than the frontier"
            )
    outside = len(judged) - len(inside)
    return text + (f"; {outside} cost more than its widest width." if outside else ".")
