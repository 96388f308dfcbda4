"""The static frontier on hand-made families: interpolation, its limits, and a method
read against it; and the results schema's rules for frontier entries."""

import json
import math

import pytest

from condcomp_lib import frontier, results_schema
from condcomp_lib.frontier import Frontier, OutsideFrontier, Width
from condcomp_lib.results_schema import ResultsSchemaError

# three widths, each 4x the MACs of the one before
FAMILY = Frontier(
    "toy",
    (
        Width("w4", 16e6, 0.90, 0.02, 1.0, 1.0),
        Width("w1", 1e6, 0.80, 0.01, 0.2, 0.1),
        Width("w2", 4e6, 0.86, 0.01, 0.5, 0.3),
    ),
)


def test_widths_are_sorted_and_read_exactly_where_measured():
    assert [w.name for w in FAMILY.widths] == ["w1", "w2", "w4"]
    assert FAMILY.macs_range == (1e6, 16e6)
    r = FAMILY.at(4e6)
    assert (r.accuracy, r.low, r.high) == pytest.approx((0.86, 0.855, 0.865))
    assert (r.time_b1, r.time_b256) == pytest.approx((0.5, 0.3))


def test_accuracy_is_linear_in_log_macs_and_time_in_log_log():
    r = FAMILY.at(2e6)  # halfway between 1e6 and 4e6 in log MACs
    assert r.accuracy == pytest.approx(0.83)
    assert r.time_b1 == pytest.approx(math.sqrt(0.2 * 0.5))
    assert r.time_b256 == pytest.approx(math.sqrt(0.1 * 0.3))
    assert r.high - r.low == pytest.approx(0.01)


@pytest.mark.parametrize("macs", [0.5e6, 17e6])
def test_no_extrapolation(macs):
    with pytest.raises(OutsideFrontier, match="1,000,000 to 16,000,000 MACs"):
        FAMILY.at(macs)


def test_a_frontier_needs_three_widths():
    with pytest.raises(ValueError, match="at least 3"):
        Frontier("toy", FAMILY.widths[:2])
    with pytest.raises(ValueError, match="at least 3"):  # the same MACs twice: one width
        Frontier("toy", (*FAMILY.widths[:2], Width("again", 1e6, 0.8, 0.0)))


def test_the_width_as_fast_as_a_time_inverts_the_reading():
    for macs in (1e6, 2e6, 5e6, 16e6):
        for batch in (1, 256):
            r = FAMILY.at(macs)
            t = r.time_b1 if batch == 1 else r.time_b256
            assert FAMILY.macs_at_time(t, batch) == pytest.approx(macs)
    with pytest.raises(OutsideFrontier, match="0.2 to 1"):
        FAMILY.macs_at_time(0.1, 1)
    with pytest.raises(ValueError, match="batch 1 and 256"):
        FAMILY.macs_at_time(0.5, 64)


def method(acc, macs, b1=None, b256=None):
    return {
        "role": "method",
        "accuracy": {"mean": acc, "spread": None, "seeds": 1},
        "macs": {"mean": macs, "relative": macs / 16e6},
        "latency_b1_ratio": b1,
        "throughput_b256_ratio": b256,
    }


def test_a_method_above_on_and_below_the_band():
    assert frontier.judge(method(0.85, 2e6), FAMILY)["verdict"] == "above"
    assert frontier.judge(method(0.832, 2e6), FAMILY)["verdict"] == "on"
    got = frontier.judge(method(0.81, 2e6), FAMILY)
    assert got["verdict"] == "below"
    assert got["gap_equal_macs"] == pytest.approx(-2.0)
    assert got["efficiency_b1"] is None and got["gap_equal_time_b1"] is None


def test_a_method_read_at_equal_time():
    # 2e6 MACs but as slow as the 4e6 width (time 0.5 of dense at batch 1): it must
    # then be judged against that width's accuracy, and it runs at 0.63 of the speed
    # an ordinary network of its MACs would
    got = frontier.judge(method(0.85, 2e6, b1=1 / 0.5, b256=1 / 0.03), FAMILY)
    assert got["gap_equal_time_b1"] == pytest.approx(100 * (0.85 - 0.86))
    assert got["efficiency_b1"] == pytest.approx(math.sqrt(0.1) / 0.5)
    assert got["gap_equal_time_b256"] is None  # faster than any width measured
    assert got["efficiency_b256"] == pytest.approx(math.sqrt(0.03) / 0.03)


def test_untimed_widths_say_so():
    bare = Frontier(
        "bare", tuple(Width(w.name, w.macs, w.accuracy, 0) for w in FAMILY.widths)
    )
    assert bare.at(2e6).time_b1 is None
    with pytest.raises(ValueError, match="was not timed"):
        bare.macs_at_time(0.5, 1)


# ---------------------------------------------------------------- the schema's rules


def frontier_entries(**change):
    out = []
    for w in FAMILY.widths:
        kw = dict(
            family="toy", recipe="Adam, cosine", epochs=15, train_images=55_000,
            chapter="99_example", baseline="w4", accuracy=[w.accuracy - 0.01, w.accuracy],
            macs=w.macs, baseline_macs=16e6, latency_b1_ratio=1 / w.time_b1,
            throughput_b256_ratio=1 / w.time_b256,
        )  # fmt: skip
        kw.update(change.get(w.name, {}))
        out.append(frontier.entry(w.name, **kw))
    return out


def results(methods):
    stamp = {"chapter": "99_example", "device": "CPU", "commit": "abc", "profile": "full"}
    return {
        **stamp,
        "wall_clock_s": None,
        "methods": results_schema.stamped(methods, "CPU", "abc", "full"),
    }


def test_frontier_entries_round_trip():
    entries = frontier_entries()
    results_schema.validate(results(entries), "results/99_example.json")
    read = frontier.from_entries(entries, "toy")
    assert [w.name for w in read.widths] == ["w1", "w2", "w4"]
    assert read.at(4e6).time_b1 == pytest.approx(0.5)
    assert read.widths[0].spread == pytest.approx(0.01)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"w2": {"epochs": 45}}, r"methods\[1\].budget: family 'toy' was trained"),
        ({"w2": {"recipe": "SGD"}}, r"methods\[1\].recipe: family 'toy'"),
        ({"w2": {"macs": 1e6}}, r"family 'toy' has 2 width\(s\)"),
        ({"w2": {"epochs": 0}}, r"budget.epochs: expected an integer >= 1"),
    ],
)
def test_the_schema_refuses_a_family_that_is_not_one_curve(change, message):
    with pytest.raises(ResultsSchemaError, match=message):
        results_schema.validate(results(frontier_entries(**change)), "r.json")


def test_family_fields_belong_to_frontier_entries_only():
    entries = frontier_entries()
    del entries[0]["family"]
    with pytest.raises(ResultsSchemaError, match=r"methods\[0\].family: missing"):
        results_schema.validate(results(entries), "r.json")
    entries = frontier_entries()
    entries[0] = {**entries[0], "role": "dense"}
    with pytest.raises(ResultsSchemaError, match="not a field of the schema"):
        results_schema.validate(results(entries), "r.json")


def test_the_frontier_in_words():
    text = frontier.describe(FAMILY, "the widest")
    assert text.startswith("The frontier runs from 6% to 100% of the widest's MACs")
    assert "from 80.00% to 90.00%" in text and "within 2.00 pt" in text
    assert "takes 20% of its time at batch 1 and 10% of its time at batch 256" in text
    assert "At batch 1 and batch 256 time falls more slowly than MACs" in text
    bare = Frontier(
        "bare", tuple(Width(w.name, w.macs, w.accuracy, 0) for w in FAMILY.widths)
    )
    assert frontier.describe(bare, "it").endswith("(one seed a width). It was not timed.")
    widths = [Width(w.name, w.macs, w.accuracy, 0, w.macs / 16e6) for w in FAMILY.widths]
    fast = Frontier("fast", tuple(widths))  # time exactly proportional to MACs
    assert "more slowly" not in frontier.describe(fast, "it")


def test_the_full_frontier_is_read_from_the_study_and_says_what_is_missing(
    tmp_path, monkeypatch
):
    from condcomp_lib import cache, frontier_runs

    monkeypatch.setattr(cache, "ROOT", tmp_path)
    with pytest.raises(RuntimeError, match="frontier_study.py"):
        frontier_runs.recorded()
    runs = [
        {"model": w, "seed": s, "test_acc": 0.9 + s / 100, "epochs": 15,
         "train_images": 55_000}
        for w in frontier_runs.WIDTHS["full"] for s in (1, 0)
    ]  # fmt: skip
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "00_frontier.json").write_text(json.dumps({"runs": runs}))
    acc, budget = frontier_runs.recorded()
    assert list(acc) == list(frontier_runs.WIDTHS["full"])
    assert acc["thin"] == {0: 0.9, 1: 0.91} and budget == {
        "epochs": 15,
        "train_images": 55_000,
    }
    runs[0]["epochs"] = 45
    (tmp_path / "results" / "00_frontier.json").write_text(json.dumps({"runs": runs}))
    with pytest.raises(RuntimeError, match="several budgets"):
        frontier_runs.recorded()


def test_family_entries_time_every_width_against_the_widest():
    from condcomp_lib import frontier_runs

    entries = frontier_runs.family_entries(
        "toy", "r", "00_baselines", "big", {"small": {0: 0.8}, "big": {0: 0.9, 1: 0.91}},
        {"epochs": 1, "train_images": 10}, {"small": 1e6, "big": 4e6},
        {"small": 10, "big": 40}, {"small": 3.0, "big": 1.0}, {"small": 2.0, "big": 1.0},
    )  # fmt: skip
    small, big = entries
    assert small["name"] == "frontier small" and small["baseline"] == "frontier big"
    assert small["macs"]["relative"] == 0.25 and small["latency_b1_ratio"] == 3.0
    assert big["accuracy"]["seeds"] == 2 and big["budget"]["epochs"] == 1
