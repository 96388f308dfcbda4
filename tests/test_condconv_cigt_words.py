"""Chapters 3 and 4's Summary verdicts and their budget studies' Summary lines,
generated from committed runs."""

from condcomp_lib import budget_words
from condcomp_lib.methods import cigt_words, condconv_words


def model(acc, macs, params=1000, lat=1.0, thr=100.0, seeds=3):
    return {
        "test_acc_mean": acc,
        "test_acc_per_seed": {str(s): acc for s in range(seeds)},
        "macs": macs,
        "params": params,
        "latency_b1_ms": lat,
        "throughput_b256": thr,
    }


def test_condconv_verdict_gives_the_gap_cost_and_time():
    full = {
        "models": {
            "static": model(0.9223, 1000, 1000, 1.0, 100.0),
            "8": model(0.9210, 1041, 1530, 1.46, 64.0),
        },
        "targets": {"n=8 beats static": False, "cost": True},
    }
    text = condconv_words.verdict(full)
    assert text.startswith("over 3 seeds, CondConv with eight experts reaches 92.10%")
    assert "(-0.13 points) at +4.1% MACs and 1.53x the parameters" in text
    assert "batch-1 latency is 1.46x" in text and "throughput 0.64x" in text
    assert text.endswith("Targets: n=8 beats static not met, cost met.")


def test_cigt_verdict_with_and_without_random_routing():
    fm = {
        "CIGT": model(0.8999, 493, lat=0.86, thr=143.0),
        "thin": model(0.9121, 500),
        "thick": model(0.9234, 1000, lat=0.98, thr=100.0, seeds=1),
    }
    full = {
        "models": fm,
        "mutual_information_bits": {"router1": 0.92, "router2": 1.64},
        "targets": {"above thin": False},
    }
    text = cigt_words.verdict(full)
    assert (
        "reaches 89.99% against 91.21% for the one-path (thin) LeNet trained the " in text
    )
    assert "random routing" not in text
    assert "at 49.3% of the thick network's MACs" in text
    assert "I(Y;R) = 0.92 and 1.64 bits" in text and "1.43x the thick" in text
    fm["random routing"] = model(0.8862, 493)
    assert "random routing of the same trellis 88.62%" in cigt_words.verdict(full)


def test_the_budget_summary_lists_each_budget_with_its_seeds():
    runs = [
        {"model": m, "epochs": e, "seed": s, "test_acc": a + (0.01 if m == "8" else 0)}
        for e, seeds in ((1, (0,)), (15, (0, 1)))
        for s in seeds
        for m, a in (("static", 0.9), ("8", 0.9))
    ]
    text = budget_words.summary(runs, {"8": "n = 8"}, "static", "n = 8 minus static")
    assert text == (
        "**The budget study** (6 runs; n = 8 minus static, averaged over the seeds run): "
        "1 epoch: n = 8 +1.00 pt (1 seed); 15 epochs: n = 8 +1.00 pt (2 seeds)."
    )
