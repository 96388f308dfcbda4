"""Chapter 8's Summary verdict, generated from a committed run: seed means where the
run measured several seeds, the spreads, the soft routing where it was measured."""

from condcomp_lib.methods import cluster_tree_words as words
from condcomp_lib.methods.cluster_tree_arms import SOFT

TREE = "tree K = 4, depth 1"


def full(soft=True, seeds=(0, 1, 2)):
    names = ["base", "control (K = 1)", TREE, "filter groups (implicit)"]
    names += ["conditional (explicit)"] + ([SOFT] if soft else [])
    rows = [{"seed": s} | {n: 90.0 + s + (1.0 if n == TREE else 0.0) for n in names}
            for s in seeds]  # fmt: skip
    return {
        "setup": {"k_main": 4, "seeds": list(seeds), "cond_epochs": 15, "epochs": 15},
        "accuracy": {n: 0.5 for n in names},  # seed 0 alone: not what the words use
        "by_seed": rows,
        "macs_ratio": 1.27,
        "gain_over_base_pt": 1.0,
        "gain_over_control_pt": 1.0,
        "spread_over_base_pt": [0.9, 1.1],
        "spread_over_control_pt": [0.8, 1.2],
        "time_ratio_b256": 1.36,
        "latency_ratio_b1": 1.01,
        "parallel": {"speedup": 0.77},
        "targets": {"tree >= 0.5 pt above the base": True, "parallel >= 1.6x": False},
    }


def test_the_verdict_reads_the_seed_means_and_spreads():
    text = words.verdict(full())
    assert text.startswith("the tree of 4 specialists reaches 92.00% (mean of 3 seeds)")
    assert "against 91.00% (mean of 3 seeds) for the base" in text
    assert "+1.00 pt over the base (from +0.90 to +1.10)" in text
    assert "went at 0.77x the speed" in text and "above 1: the workers were" in text
    assert "91.00% (mean of 3 seeds) with every branch mixed at test" in text
    assert "tree >= 0.5 pt above the base met, parallel >= 1.6x not met" in text


def test_one_seed_reads_without_a_mean_and_an_unmeasured_mixture_is_left_out():
    text = words.verdict(full(soft=False, seeds=(0,)))
    assert "reaches 91.00% at 1.27x" in text and "mean of" not in text
    assert "every branch mixed" not in text
    f = full()
    del f["by_seed"]  # a run without seeds recorded: its one measured accuracy
    assert "reaches 50.00% at" in words.verdict(f)
