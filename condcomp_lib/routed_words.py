"""Chapter 5's committed full run in words: the Summary's verdict, generated from
``results/05_routed_execution.json`` so that no sentence can drift from the numbers.

Used by chapter 5 (``ch.verdict(lambda full: routed_words.verdict(full, cpu))``, ``cpu``
the CPU of the committed benchmark the chapter's table of models reads).
"""

from __future__ import annotations

from . import words


def benchmark(full: dict, bench_cpu: str | None) -> str:
    """Where the committed benchmark of the table of models ran, against the full run's
    CPU; "" where no benchmark with the models is committed."""
    if bench_cpu is None:
        return ""
    return "(The committed benchmark in the table of models above is a separate run, " + (
        "on the same CPU, with more rounds. "
        if bench_cpu == full["device"]
        else f"on another CPU ({bench_cpu}): its ratios are that CPU's. "
    )


def verdict(full: dict, bench_cpu: str | None = None) -> str:
    """The cost model's worst pick over the grid; CIGT against the thin LeNet and early
    exit against the backbone and its ceiling; where the committed benchmark ran
    (``bench_cpu``, None where none is committed); then the targets."""
    g, w = full["grid"], full["grid"]["worst"]
    rr = {r["case"]: r for r in full["models"]}
    cigt256 = rr["CIGT batch 256 vs thin (throughput)"]["ratio"]
    cigt1 = 1 / rr["CIGT batch 1 vs thin (latency)"]["ratio"]
    ee1 = rr["early exit batch 1 vs backbone (latency)"]["ratio"]
    eep = full["early_exit_profile"]
    met = words.targets(full, sep=": ")
    return (
        f"over {len(g['cells'])} cells of the grid the cost model's pick was at worst "
        f"{w['auto_vs_dense']:.2f}x dense-then-mask ({w['family']}, batch "
        f"{w['batch']}, a = {w['active']:.3g}). In that run CIGT runs at "
        f"{cigt256:.2f}x the thin LeNet's batch-256 throughput and {cigt1:.2f}x its "
        f"batch-1 latency; early exit at batch 1 is {ee1:.2f}x the backbone, against "
        f"a ceiling of {eep['ceiling']:.2f}x for its mix of exits. "
        + benchmark(full, bench_cpu)
        + f"Targets: {met}."
    )
