"""Chapter 1's Summary verdict, generated from a committed run: B-LeNet at its knee,
its accuracy, MACs and time, and the targets met or not."""

from condcomp_lib.methods import early_exit_words as words


def full():
    return {
        "operating_point": {
            "T": 0.5,
            "exit_fractions": [0.6086, 0.3914],
            "accuracy": 91.86,
            "mac_saving": 0.5415,
            "latency_gain": 0.9865,
            "throughput": 2752.2,
            "dense_throughput": 2140.5,
        },
        "accuracy": {"baseline": 92.34, "final_exit_alone": 92.16},
        "targets_met": {"MACs >= 40% fewer": True, "latency >= 1.8x lower": False},
    }


def test_the_verdict_gives_the_knee_its_accuracy_macs_and_time():
    assert words.verdict(full()) == (
        "at the knee, T = 0.5, 60.9% of the test images leave at the early exit. "
        "Accuracy is 91.86% against 92.16% for the final exit alone and 92.34% for "
        "chapter 0's backbone, with 54.1% fewer MACs; on the CPU its speed-up over the "
        "backbone is 0.99x at batch 1 and 1.29x at batch 256 (above 1: faster). "
        "Targets: MACs >= 40% fewer met, latency >= 1.8x lower not met."
    )


def test_the_threshold_reads_in_its_shortest_form():
    f = full()
    f["operating_point"]["T"] = 0.0001
    assert words.verdict(f).startswith("at the knee, T = 0.0001, 60.9% of the test")
