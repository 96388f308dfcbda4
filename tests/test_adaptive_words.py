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


def test_the_other_chapters_runs_are_read_not_typed():
    ch2 = {
        "date": "2026-11-22",
        "device": "cpu A",
        "exit_policy": {
            "T_entropy": 0.5,
            "entropy": {"accuracy (%)": 91.62},
            "final_exit_accuracy": 91.95,
        },
        "selection": {"thick_accuracy": 92.15},
    }
    ch1 = {
        "date": "2026-11-27",
        "device": "cpu B",
        "accuracy": {"baseline": 92.34},
        "operating_point": {"T": 0.5, "accuracy": 91.86, "accuracy_final_exit": 92.16},
    }
    ch0 = {
        "date": "2026-12-07",
        "device": "cpu A",
        "baselines": {"thick": {"test_acc": 0.9215}},
    }
    text = words.other_runs(ch2, ch1, ch0)
    assert "This chapter's (2026-11-22, cpu A) has a thick LeNet of 92.15%" in text
    assert (
        "chapter 1's (2026-11-27, cpu B) a backbone of 92.34% and a B-LeNet of " in text
    )
    assert "chapter 0's (2026-12-07, cpu A) a thick LeNet of 92.15%." in text
    only = words.other_runs(ch2, None, None)  # the other chapters not committed
    assert "chapter 1's (" not in only and only.endswith("chapters' accuracies.")
