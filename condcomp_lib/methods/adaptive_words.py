"""Chapter 2's committed full run in words: the Summary's verdict, generated from
``results/02_adaptive_networks.json`` so that no sentence can drift from the numbers.

Used by chapter 2 (``ch.verdict(adaptive_words.verdict)``).
"""

from __future__ import annotations


def verdict(full: dict) -> str:
    """The learned exit policy against the entropy knee, and network selection between
    the thin and the thick LeNet: accuracy and MACs at the chosen λ; then the
    targets."""
    ex, sel = full["exit_policy"], full["selection"]
    met = ", ".join(
        f"{k} {'met' if v else 'not met'}" for k, v in full["targets_met"].items()
    )
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
