"""Chapter 0's committed full run in words: the Summary's verdict, generated from
``results/00_baselines.json`` so that no sentence can drift from the numbers.

Used by chapter 0 (``ch.verdict(baselines_words.verdict)``).
"""

from __future__ import annotations

import numpy as np


def verdict(full: dict) -> str:
    """The thick and the thin LeNet's accuracy, parameters and MACs (the thick one
    against the 91% target); then how time follows MACs over the width sweep: the
    correlation of their logs at batch 256, and the growth of the batch-1 time against
    that of the MACs from the narrowest width to the widest."""
    b, sw = full["baselines"], full["sweep"]
    macs = [row["MACs"] for row in sw]
    t1 = [row["batch-1 (ms)"] for row in sw]
    t256 = [row["batch-256 (ms per image)"] for row in sw]
    r = np.corrcoef(np.log(macs), np.log(t256))[0, 1]
    span_t, span_m = t1[-1] / t1[0], macs[-1] / macs[0]
    widths = [row["width factor"] for row in sw]
    thick, thin = b["thick"], b["thin"]
    return (
        f"the thick LeNet reaches {100 * thick['test_acc']:.2f}% test accuracy with "
        f"{thick['params']:,} parameters and {thick['macs']:,} MACs (the 91% target "
        f"{'met' if thick['test_acc'] >= 0.91 else 'not met'}); the thin one "
        f"{100 * thin['test_acc']:.2f}% with {thin['params']:,} parameters and "
        f"{thin['macs']:,} MACs. Over widths {min(widths):g}x to {max(widths):g}x, log "
        f"time follows log MACs at batch 256 with a correlation of {r:.3f}; at batch 1 "
        f"the time grows {span_t:.1f}x for {span_m:.0f}x the MACs."
    )
