"""Chapter 4's committed full run in words: the Summary's verdict, generated from
``results/04_cigt.json`` so that no sentence can drift from the numbers.

Used by chapter 4 (``ch.verdict(cigt_words.verdict)``).
"""

from __future__ import annotations

from .. import words


def verdict(full: dict) -> str:
    """CIGT against the one-path (thin) and the thick LeNet, and random routing where it
    was run: accuracy over the seeds, MACs, the routes' information, time on the CPU;
    then the targets."""
    fm, mi = full["models"], full["mutual_information_bits"]
    a = {m: 100 * r.get("test_acc_mean", r.get("test_acc")) for m, r in fm.items()}
    c, thick = fm["CIGT"], fm["thick"]
    seeds = len(c.get("test_acc_per_seed", [0]))
    control = (
        f", random routing of the same trellis {a['random routing']:.2f}%"
        if "random routing" in a
        else ""
    )
    met = words.targets(full)
    ratio = c["throughput_b256"] / thick["throughput_b256"]
    return (
        f"over {seeds} seed(s), LeNet-CIGT reaches {a['CIGT']:.2f}% against "
        f"{a['thin']:.2f}% for the one-path (thin) LeNet trained the same way{control} "
        f"and {a['thick']:.2f}% for the thick LeNet, at "
        f"{100 * c['macs'] / thick['macs']:.1f}% of the thick network's MACs; its "
        f"routes carry I(Y;R) = {mi['router1']:.2f} and {mi['router2']:.2f} bits. On the "
        f"CPU its batch-256 throughput is {ratio:.2f}x the thick network's, and its "
        f"batch-1 latency {c['latency_b1_ms']:.2f} ms against "
        f"{thick['latency_b1_ms']:.2f} ms. Targets: {met}."
    )
