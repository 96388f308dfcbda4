"""Chapter 0's Summary verdict, generated from a committed run: the two baselines, the
91% target either way, and how time follows MACs over the width sweep."""

from condcomp_lib import baselines_words as words


def full(thick_acc=0.9215):
    # time per image at batch 256 proportional to MACs: a correlation of exactly 1
    sweep = [
        {"width factor": w, "MACs": m, "batch-1 (ms)": t1, "batch-256 (ms per image)": m}
        for w, m, t1 in ((0.25, 1_000, 0.5), (1, 10_000, 1.0), (4, 100_000, 4.35))
    ]
    return {
        "baselines": {
            "thick": {"test_acc": thick_acc, "params": 784650, "macs": 11787264},
            "thin": {"test_acc": 0.912, "params": 73418, "macs": 5740672},
        },
        "sweep": sweep,
    }


def test_the_verdict_gives_both_baselines_and_the_sweep():
    text = words.verdict(full())
    assert text == (
        "the thick LeNet reaches 92.15% test accuracy with 784,650 parameters and "
        "11,787,264 MACs (the 91% target met); the thin one 91.20% with 73,418 "
        "parameters and 5,740,672 MACs. Over widths 0.25x to 4x, log time follows log "
        "MACs at batch 256 with a correlation of 1.000; at batch 1 the time grows 8.7x "
        "for 100x the MACs."
    )


def test_a_thick_lenet_below_91_percent_does_not_meet_the_target():
    text = words.verdict(full(thick_acc=0.9050))
    assert "reaches 90.50% test accuracy" in text
    assert "(the 91% target not met)" in text
