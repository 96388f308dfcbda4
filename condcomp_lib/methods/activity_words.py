"""Chapter 7's committed full run in words: the Summary's verdict and the discussion of
what the run says, generated from ``results/07_activity_specialization.json`` so that no
sentence can drift from the numbers.

Used by chapter 7 (``ch.verdict(words.verdict)`` for a run of the present design, and
``words.discussion(full)``). Every function takes the committed results (a dict); the
network kinds are those of :mod:`condcomp_lib.methods.activity_runs`: (a) ``generic``,
(b) ``dense``, (c) ``learned``, (c') ``per_feature``, (d) ``random``, (e) ``all``.
"""

from __future__ import annotations

from .. import words

# a committed run of the chapter's first design is shown as such, not discussed: its
# verdicts rest on one seed, and its (e) was never trained with every tile on
EARLIER = (
    "one seed, no network (c'), and (e) tested with every tile on but never trained so. "
    "This chapter's full run is pending."
)


def current(full: dict) -> bool:
    """Whether ``full`` is a run of the chapter's present design (seeds recorded)."""
    return "seeds" in full and "accuracy_seeds" in full


def gap(full: dict, k1: str, k2: str) -> str:
    """k1's mean accuracy against k2's, in words: "0.52 pt above" or "1.10 pt below"."""
    d = 100 * (full["accuracy"][k1] - full["accuracy"][k2])
    return f"{abs(d):.2f} pt {'above' if d >= 0 else 'below'}"


def seeds_above(full: dict, k1: str, k2: str) -> tuple[int, int]:
    """(seeds on which k1 beats k2, seeds both were measured on)."""
    a, b = full["accuracy_seeds"][k1], full["accuracy_seeds"][k2]
    shared = sorted(set(a) & set(b))
    return sum(a[s] > b[s] for s in shared), len(shared)


def accuracy(full: dict, kind: str) -> str:
    """A network's mean accuracy, saying so where it has fewer seeds than the run:
    "72.58% (1 seed)"."""
    n = len(full["accuracy_seeds"][kind])
    few = f" ({n} seed{'s' if n != 1 else ''})" if n < len(full["seeds"]) else ""
    return f"{100 * full['accuracy'][kind]:.2f}%{few}"


def _on_seeds(full: dict, k1: str, k2: str) -> str:
    above, n = seeds_above(full, k1, k2)
    return f"above on {above} of {n} seed{'s' if n != 1 else ''}"


def discussion(full: dict) -> str:
    """The bullets of "What the committed full run says", in Markdown."""
    acc = {k: 100 * v for k, v in full["accuracy"].items()}
    on = full["on_object"]
    row = {r["network"]: r for r in full["rows"]}["(c) specialized"]
    skip = acc["all"] - acc["learned"]  # what skipping tiles cost (c)
    covered = row["item's tiles computed (%)"]
    pieces = (
        " A group computes "
        f"{row['(group, tile) items on (%)']:.0f}% of the (group, tile) items at theta = "
        f"{full['setup']['tau']:g}, and the union of the groups covers "
        f"{covered:.0f}% of the item's tiles: "
        "the fine features see the item in pieces, and a convolution's halo reads zeros "
        "where the neighbouring tile is off."
        if skip > 0
        else ""
    )
    return (
        "**What the committed full run says** (accuracies are means of "
        f"{len(full['seeds'])} seeds).\n\n"
        "* *Where.* "
        f"{100 * on['learned']['precision']:.0f}% of (c)'s computed (group, tile) items "
        f"lie on the item, against {100 * on['random']['precision']:.0f}% for random "
        f"tiles, and (c) ends {gap(full, 'learned', 'random')} random tiles at the same "
        f"cost (d, {accuracy(full, 'random')}), {_on_seeds(full, 'learned', 'random')}.\n"
        f"* *Against the original network.* (c) reaches {accuracy(full, 'learned')}, "
        f"{gap(full, 'learned', 'generic')} the generic network alone (a, "
        f"{accuracy(full, 'generic')}), {_on_seeds(full, 'learned', 'generic')}; one "
        f"group per feature (c′) reaches {accuracy(full, 'per_feature')}, "
        f"{gap(full, 'per_feature', 'generic')} it, "
        f"{_on_seeds(full, 'per_feature', 'generic')}.\n"
        "* *What skipping costs.* Trained and tested with every tile on, the same "
        f"architecture (e) reaches {accuracy(full, 'all')}, "
        f"{gap(full, 'all', 'learned')} (c).{pieces}\n"
        f"* *What the construction costs.* The dense network (b) reaches "
        f"{accuracy(full, 'dense')}, {gap(full, 'dense', 'all')} (e): a gap that is not "
        "skipping but the design itself, a classifier that reads the frozen coarse "
        "features beside fine features trained around them."
    )


def verdict(full: dict) -> str:
    """The Summary's verdict after its stamp: (c) and (c') against (a), (b), (d) and (e),
    means over the run's seeds, their MACs and the time of (c)'s full-resolution pass;
    then the targets, met or not. For a run of the present design (:func:`current`)."""
    acc = {k: 100 * v for k, v in full["accuracy"].items()}
    macs = full["macs"]
    met = words.targets(full)
    return (
        f"over {len(full['seeds'])} seeds (accuracies are their means), activity "
        f"specialization with four groups (c) reaches {acc['learned']:.2f}% at "
        f"{100 * macs['learned'] / macs['dense']:.1f}% of the dense network's MACs and "
        f"{macs['learned'] / macs['generic']:.1f}x the original network's, and with one "
        f"group per feature (c′) {acc['per_feature']:.2f}% at "
        f"{macs['per_feature'] / macs['generic']:.1f}x, against {acc['generic']:.2f}% "
        f"for the original network alone (a), {acc['dense']:.2f}% for the dense "
        f"full-resolution network (b), {accuracy(full, 'random')} for random tiles at "
        f"the same cost (d) and {accuracy(full, 'all')} for (c)'s network trained with "
        f"every tile on (e). Its full-resolution pass runs "
        f"{full['speedup_part_b64']:.2f}x as fast as the dense one at batch 64 and "
        f"{full['speedup_part_b1']:.2f}x at batch 1, "
        f"executed by union on the CPU. Targets: {met}."
    )
