"""Chapter 2's Summary verdict, generated from a committed run: the learned exit policy
against the entropy knee, network selection between the thin and the thick LeNet, and
the targets met or not."""

from condcomp_lib.methods import adaptive_words as words


def full():
    return {
        "exit_policy": {
            "lambda": 0.02,
            "policy": {"accuracy (%)": 91.59, "mean MACs": 5310752.5},
            "entropy": {"accuracy (%)": 91.62, "mean MACs": 5394453.0},
        },
        "selection": {
            "lambda": 0.15,
            "policy": {"accuracy (%)": 91.33, "mean MACs": 5937519.3},
            "thin_accuracy": 91.2,
            "thick_accuracy": 92.15,
            "thick_macs": 11787264,
        },
        "targets_met": {"policy curve: knee at equal cost": True, "selection": False},
    }


def test_the_verdict_gives_both_policies_against_their_references():
    assert words.verdict(full()) == (
        "the learned exit policy (λ = 0.02) reaches 91.59% at 5.31M MACs, against the "
        "entropy knee's 91.62% at 5.39M; network selection (λ = 0.15) reaches 91.33% "
        "(thin 91.20%, thick 92.15%) at 50% of the thick network's MACs. Targets: "
        "policy curve: knee at equal cost met, selection not met."
    )


def test_lambda_zero_and_the_share_of_the_thick_macs_read_as_numbers():
    f = full()
    f["exit_policy"]["lambda"] = 0.0
    f["selection"]["policy"]["mean MACs"] = 11787264
    text = words.verdict(f)
    assert text.startswith("the learned exit policy (λ = 0) reaches")
    assert "at 100% of the thick network's MACs" in text
