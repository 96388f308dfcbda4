"""Chapter 6's Summary verdict and its line on the REINFORCE baselines, from the committed
run's numbers."""

from condcomp_lib.methods import block_policy_words as words


def full(none=1.38):
    """A committed run with the fields the words read; ``none``: no baseline's variance
    ratio, None where the run did not measure it."""
    return {
        "budget": {"seeds": [0, 1, 2]},
        "accuracy_mean": {
            "learned (sampled)": 0.8772,
            "learned (thresholded)": 0.87847,
            "random": 0.82107,
            "dense": 0.8986,
        },
        "macs_learned": 380796.3,
        "macs_dense": 2910208,
        "speedup_b1": 0.5073,
        "speedup_b256": 0.5363,
        "gradient_variance_ratio_min_over_mean": 1.383,
        "gradient_variance_ratio_none_over_mean": none,
        "targets": {"within 1.0 pt of dense": False, "above random": True},
    }


def test_the_verdict_gives_accuracy_macs_time_and_targets():
    text = words.verdict(full())
    assert text.startswith("on average over 3 seed(s) at tau = 1/4 (the tables of ")
    assert (
        "the learned policy reaches 87.72% (thresholded 87.85%), random blocks at the "
        "same rate 82.11%, the dense MLP 89.86%, at 13.1% of the dense MACs (seed 0). "
    ) in text
    assert (
        "runs 0.51x as fast as the dense one at batch 1 and 0.54x at batch 256." in text
    )
    assert text.endswith("Targets: within 1.0 pt of dense not met, above random met.")


def test_the_variance_line_with_and_without_no_baseline():
    assert words.variance(full()) == (
        "At the median training step (seed 0, tau = 1/4) the authors' batch minimum left "
        "1.38 times the REINFORCE gradient variance of the batch mean, and no baseline "
        "1.38 times."
    )
    assert words.variance(full(none=None)).endswith("variance of the batch mean.")
    f = full()
    del f["gradient_variance_ratio_none_over_mean"]
    assert "no baseline" not in words.variance(f)
