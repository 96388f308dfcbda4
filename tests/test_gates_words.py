"""Chapter 9's Summary verdict, generated from a committed run."""

from condcomp_lib.methods import gates_words as words


def full(**extra):
    return {
        "operating_gain": 0.2,
        "lkam": {"0.2": {"acc": 0.9032, "conv_fraction": 0.52}},
        "thick_acc": 0.9215,
        "static": {"acc": 0.9141, "conv_fraction": 0.55},
        "speedup_b256": 0.95,
        "speedup_b1": 0.67,
        "context_gap_pt": {"0.5": [0.1, 0.3], "0.9": [-1.0, 0.0]},
        "seeds": [0, 1],
        "targets": {"lkam_beats_static_pruning": False, "speedup_1.5x": True},
        **extra,
    }


def test_the_verdict_gives_the_operating_point_and_the_context():
    text = words.verdict(full())
    assert text.startswith("LKAM at gain 0.2 reaches 90.32% with 52% of the thick")
    assert "static pruning of half the groups 91.41% at 55%" in text
    assert "0.67x at batch 1. The context moves" in text  # one seed: no seed sentence
    assert "by -0.50 to +0.20 pt over the thresholds (mean of 2 seeds)" in text
    assert "ensemble" not in text
    assert text.endswith("lkam beats static pruning not met, speedup 1.5x met.")


def test_several_seeds_of_lkam_and_the_ensemble_control_are_said():
    text = words.verdict(
        full(
            lkam_gap_pt={"0": -1.8, "1": -2.2, "2": -2.0}, context_gap_worst_seed_pt=-5.5
        )
    )
    assert "it stands -2.00 pt on average over 3 seed(s) (from -2.20 to -1.80)" in text
    assert "its worst seed at any threshold" in text and "stands -5.50 pt" in text
