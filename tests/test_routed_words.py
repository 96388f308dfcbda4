"""Chapter 5's Summary verdict in words: the grid's worst pick, the models' ratios and the
targets from the committed run, and where the committed benchmark ran."""

from condcomp_lib import routed_words


def full():
    """A committed run with the fields the verdict reads."""
    return {
        "device": "CPU A (2 threads)",
        "grid": {
            "cells": [{}] * 72,
            "worst": {
                "family": "routed_linear 512->512, G=16",
                "batch": 256,
                "active": 0.25,
                "auto_vs_dense": 0.6489,
            },
        },
        "models": [
            {"case": "CIGT batch 256 vs thin (throughput)", "ratio": 0.8863},
            {"case": "CIGT batch 1 vs thin (latency)", "ratio": 0.8},
            {"case": "early exit batch 1 vs backbone (latency)", "ratio": 0.91},
        ],
        "early_exit_profile": {"ceiling": 0.9236},
        "targets": {"auto at least 0.95x dense": False, "CIGT batch 1": True},
    }


def test_the_verdict_gives_the_worst_pick_the_models_and_the_targets():
    text = routed_words.verdict(full(), "CPU A (2 threads)")
    assert text.startswith(
        "over 72 cells of the grid the cost model's pick was at worst 0.65x "
        "dense-then-mask (routed_linear 512->512, G=16, batch 256, a = 0.25). "
    )
    assert "CIGT runs at 0.89x the thin LeNet's batch-256 throughput and 1.25x" in text
    assert (
        "early exit at batch 1 is 0.91x the backbone, against a ceiling of 0.92x" in text
    )
    assert text.endswith(
        "Targets: auto at least 0.95x dense: not met, CIGT batch 1: met."
    )


def test_the_benchmark_on_the_same_cpu_another_or_none():
    same = routed_words.verdict(full(), "CPU A (2 threads)")
    assert (
        "exits. (The committed benchmark in the table of models above is a separate run, "
        "on the same CPU, with more rounds. Targets:" in same
    )
    other = routed_words.verdict(full(), "CPU B")
    assert "on another CPU (CPU B): its ratios are that CPU's. Targets:" in other
    none = routed_words.verdict(full())
    assert "benchmark" not in none and "of exits. Targets: auto" in none
