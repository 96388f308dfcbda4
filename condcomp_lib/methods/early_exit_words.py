"""Chapter 1's committed full run in words: the Summary's verdict, generated from
``results/01_early_exit.json`` so that no sentence can drift from the numbers.

Used by chapter 1 (``ch.verdict(early_exit_words.verdict)``).
"""

from __future__ import annotations

from .. import words


def verdict(full: dict) -> str:
    """B-LeNet at its knee: the share that leaves at the early exit, its accuracy
    against the final exit alone and chapter 0's backbone, the MACs it saves and its
    time on the CPU; then the targets."""
    o, a = full["operating_point"], full["accuracy"]
    met = words.targets(full, "targets_met")
    return (
        f"at the knee, T = {o['T']:g}, {100 * o['exit_fractions'][0]:.1f}% of the test "
        f"images leave at the early exit. Accuracy is {o['accuracy']:.2f}% against "
        f"{a['final_exit_alone']:.2f}% for the final exit alone and "
        f"{a['baseline']:.2f}% for chapter 0's backbone, with "
        f"{100 * o['mac_saving']:.1f}% fewer MACs; on the CPU its speed-up over the "
        f"backbone is {o['latency_gain']:.2f}x at batch 1 and "
        f"{o['throughput'] / o['dense_throughput']:.2f}x at batch 256 (above 1: "
        f"faster). Targets: {met}."
    )
