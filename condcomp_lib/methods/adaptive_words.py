"""Chapter 2's committed full run in words: the Summary's verdict, generated from
``results/02_adaptive_networks.json`` so that no sentence can drift from the numbers.

Used by chapter 2 (``ch.verdict(adaptive_words.verdict)``).
"""

from __future__ import annotations

from .. import words


def verdict(full: dict) -> str:
    """The learned exit policy against the entropy knee, and network selection between
    the thin and the thick LeNet: accuracy and MACs at the chosen λ; then the
    targets."""
    ex, sel = full["exit_policy"], full["selection"]
    met = words.targets(full, "targets_met")
    return (
        f"the learned exit policy (λ = {ex['lambda']:g}) reaches "
        f"{ex['policy']['accuracy (%)']:.2f}% at "
        f"{ex['policy']['mean MACs'] / 1e6:.2f}M MACs, against the entropy knee's "
        f"{ex['entropy']['accuracy (%)']:.2f}% at "
        f"{ex['entropy']['mean MACs'] / 1e6:.2f}M; network selection "
        f"(λ = {sel['lambda']:g}) reaches {sel['policy']['accuracy (%)']:.2f}% (thin "
        f"{sel['thin_accuracy']:.2f}%, thick {sel['thick_accuracy']:.2f}%) at "
        f"{100 * sel['policy']['mean MACs'] / sel['thick_macs']:.0f}% of the thick "
        f"network's MACs. Targets: {met}."
    )


def other_runs(ch2: dict, ch1: dict | None, ch0: dict | None) -> str:
    """Why this chapter's B-LeNet and thick LeNet differ from chapters 1 and 0's: each
    committed run trained the networks it did not find, on its own date and machine;
    the numbers of each run, read from the three results files."""

    def stamp(r):
        return f"{r['date']}, {r['device']}"

    ex = ch2["exit_policy"]
    text = (
        "The B-LeNet entropy column uses chapter 1's recipe and operating point (the "
        f"thick LeNet with an exit after conv1, $T = {ex['T_entropy']:g}$), but a "
        "committed run trains the networks it does not find in the cache, on its own "
        "date and machine, so the chapters' committed runs "
        f"need not hold the same networks. This chapter's ({stamp(ch2)}) has a thick "
        f"LeNet of {ch2['selection']['thick_accuracy']:.2f}% and a B-LeNet of "
        f"{ex['entropy']['accuracy (%)']:.2f}% at $T = {ex['T_entropy']:g}$ (final exit "
        f"{ex['final_exit_accuracy']:.2f}%)"
    )
    if ch1 is not None:
        op, acc = ch1["operating_point"], ch1["accuracy"]
        text += (
            f"; chapter 1's ({stamp(ch1)}) a backbone of {acc['baseline']:.2f}% and a "
            f"B-LeNet of {op['accuracy']:.2f}% at $T = {op['T']:g}$ (final exit "
            f"{op['accuracy_final_exit']:.2f}%)"
        )
    if ch0 is not None:
        thick = 100 * ch0["baselines"]["thick"]["test_acc"]
        text += f"; chapter 0's ({stamp(ch0)}) a thick LeNet of {thick:.2f}%"
    return text + ". Hence the few tenths of a point between the chapters' accuracies."
