"""Chapter 3's committed full run in words: the Summary's verdict, generated from
``results/03_condconv.json`` so that no sentence can drift from the numbers.

Used by chapter 3 (``ch.verdict(condconv_words.verdict)``).
"""

from __future__ import annotations

from .. import words


def verdict(full: dict) -> str:
    """CondConv with eight experts against the static LeNet: accuracy over the seeds,
    extra MACs and parameters, time on the CPU; then the targets."""
    fm = full["models"]
    s, c8 = fm["static"], fm["8"]
    met = words.targets(full)
    return (
        f"over {len(c8['test_acc_per_seed'])} seeds, CondConv with eight experts reaches "
        f"{100 * c8['test_acc_mean']:.2f}% against the static LeNet's "
        f"{100 * s['test_acc_mean']:.2f}% "
        f"({100 * (c8['test_acc_mean'] - s['test_acc_mean']):+.2f} points) at "
        f"{100 * (c8['macs'] / s['macs'] - 1):+.1f}% MACs and "
        f"{c8['params'] / s['params']:.2f}x the parameters; on the CPU its batch-1 "
        f"latency is {c8['latency_b1_ms'] / s['latency_b1_ms']:.2f}x the static "
        "network's and its batch-256 throughput "
        f"{c8['throughput_b256'] / s['throughput_b256']:.2f}x. Targets: {met}."
    )
