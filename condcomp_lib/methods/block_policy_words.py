"""Chapter 6's committed full run in words: the Summary's verdict and its line on the
REINFORCE baselines, generated from ``results/06_block_policies.json`` so that no sentence
can drift from the numbers.

Used by chapter 6 (``ch.verdict(block_policy_words.verdict)``, then
``block_policy_words.variance(full)``).
"""

from __future__ import annotations

from .. import words


def verdict(full: dict) -> str:
    """The learned policy at tau = 1/4 against random blocks at the same rate and the
    dense MLP (means over the seeds), its MACs, its time on the CPU; then the targets."""
    a = {m: 100 * v for m, v in full["accuracy_mean"].items()}
    met = words.targets(full)
    return (
        f"on average over {len(full['budget']['seeds'])} seed(s) at tau = 1/4 (the "
        "tables of accuracy and MACs above show seed 0 alone), the learned policy "
        f"reaches {a['learned (sampled)']:.2f}% (thresholded "
        f"{a['learned (thresholded)']:.2f}%), random blocks at the same rate "
        f"{a['random']:.2f}%, the dense MLP {a['dense']:.2f}%, at "
        f"{100 * full['macs_learned'] / full['macs_dense']:.1f}% of the dense MACs "
        "(seed 0). "
        f"On the CPU the learned network runs {full['speedup_b1']:.2f}x as fast as "
        f"the dense one at batch 1 and {full['speedup_b256']:.2f}x at batch 256. "
        f"Targets: {met}."
    )


def variance(full: dict) -> str:
    """The REINFORCE gradient variance the authors' batch minimum left against the batch
    mean's, and no baseline's where the run measured it."""
    none = full.get("gradient_variance_ratio_none_over_mean")
    return (
        "At the median training step (seed 0, tau = 1/4) the authors' batch minimum "
        "left "
        f"{full['gradient_variance_ratio_min_over_mean']:.2f} times the REINFORCE "
        "gradient variance of the batch mean"
        + ("" if none is None else f", and no baseline {none:.2f} times")
        + "."
    )
