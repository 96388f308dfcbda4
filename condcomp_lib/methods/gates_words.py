"""Chapter 9's committed full run in words: the Summary's verdict, generated from
``results/09_gates_and_cascades.json`` so that no sentence can drift from the numbers.

Used by chapter 9 (``ch.verdict(gates_words.verdict)``).
"""

from __future__ import annotations

from .. import words


def lkam_gap(full: dict) -> str:
    """LKAM's operating point against the thick LeNet, seed by seed, in words; "" for a
    run that recorded one seed's accuracies only."""
    gaps = list(full.get("lkam_gap_pt", {}).values())
    if not gaps:
        return ""
    return (
        f"; against thick, seed by seed, it stands {sum(gaps) / len(gaps):+.2f} pt on "
        f"average over {len(gaps)} seed(s) (from {min(gaps):+.2f} to {max(gaps):+.2f})"
    )


def verdict(full: dict) -> str:
    """LKAM's operating point (accuracy, conv MACs, time) against the thick LeNet and
    static pruning; the context's effect on the cascade against both controls; then
    the targets."""
    op = full["lkam"][str(full["operating_gain"])]
    static = full["static"]
    gap_mean = [sum(g) / len(g) for g in full["context_gap_pt"].values()]
    text = (
        f"LKAM at gain {full['operating_gain']} reaches {100 * op['acc']:.2f}% with "
        f"{100 * op['conv_fraction']:.0f}% of the thick LeNet's conv MACs (thick "
        f"{100 * full['thick_acc']:.2f}%; static pruning of half the groups "
        f"{100 * static['acc']:.2f}% at {100 * static['conv_fraction']:.0f}%), and runs "
        f"{full['speedup_b256']:.2f}x as fast as thick at batch 256, "
        f"{full['speedup_b1']:.2f}x at batch 1{lkam_gap(full)}. The context moves the "
        f"cascade's accuracy by {min(gap_mean):+.2f} to {max(gap_mean):+.2f} pt over the "
        f"thresholds (mean of {len(full['seeds'])} seeds), at equal MACs"
    )
    if full.get("context_gap_worst_seed_pt") is not None:
        text += (
            "; against the ensemble of the two stages' probabilities, at the same cost, "
            "its worst seed at any threshold where stage 2 decides at least a tenth of "
            f"the images stands {full['context_gap_worst_seed_pt']:+.2f} pt"
        )
    targets = words.targets(full, name=lambda k: k.replace("_", " "))
    return text + f". Targets: {targets}."
