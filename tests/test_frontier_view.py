"""Committed methods read against the committed frontier, on hand-made results files."""

import json

import pytest

from condcomp_lib import cache, frontier, frontier_view, results_schema

WIDTHS = [(1e6, 0.80, 0.2, 0.1), (4e6, 0.86, 0.5, 0.3), (16e6, 0.90, 1.0, 1.0)]


def write(root, chapter, methods):
    (root / "results").mkdir(exist_ok=True)
    stamp = {"chapter": chapter, "device": "CPU", "commit": "abc", "profile": "full"}
    data = {**stamp, "date": "2026-12-07", "torch": "x", "wall_clock_s": None,
            "methods": results_schema.stamped(methods, "CPU", "abc", "full")}  # fmt: skip
    results_schema.validate(data, chapter)
    (root / "results" / f"{chapter}.json").write_text(json.dumps(data))


@pytest.fixture
def book(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    front = [
        frontier.entry(
            f"frontier w{i} LeNet",
            family="lenet",
            recipe="r",
            epochs=15,
            train_images=55_000,
            chapter="00_baselines",
            baseline="frontier w2 LeNet",
            accuracy=[acc - 0.005, acc + 0.005],
            macs=macs,
            baseline_macs=16e6,
            latency_b1_ratio=1 / t1,
            throughput_b256_ratio=1 / t256,
        )  # fmt: skip
        for i, (macs, acc, t1, t256) in enumerate(WIDTHS)
    ]
    write(tmp_path, "00_baselines", front)
    thick = results_schema.entry(
        "thick", chapter="04_cigt", role="dense", baseline="thick", accuracy=0.9,
        macs=16e6, baseline_macs=16e6, latency_b1_ratio=1.0, throughput_b256_ratio=1.0,
    )  # fmt: skip
    routed = results_schema.entry(
        "routed", chapter="04_cigt", role="method", baseline="thick", accuracy=0.85,
        macs=2e6, baseline_macs=16e6, latency_b1_ratio=2.0, throughput_b256_ratio=None,
    )  # fmt: skip
    big = results_schema.entry(
        "big", chapter="04_cigt", role="method", baseline="thick", accuracy=0.91,
        macs=20e6, baseline_macs=16e6,
    )  # fmt: skip
    write(tmp_path, "04_cigt", [thick, routed, big])
    # a chapter timed against a narrower network: the 4e6 width, 0.5 of the widest's time
    base = results_schema.entry(
        "base", chapter="08_feature_cluster_trees", role="dense", baseline="base",
        accuracy=0.86, macs=4e6, baseline_macs=4e6, latency_b1_ratio=1.0,
    )  # fmt: skip
    tree = results_schema.entry(
        "tree", chapter="08_feature_cluster_trees", role="method", baseline="base",
        accuracy=0.86, macs=4e6, baseline_macs=4e6, latency_b1_ratio=0.5,
    )  # fmt: skip
    write(tmp_path, "08_feature_cluster_trees", [base, tree])
    return tmp_path


def test_no_committed_frontier_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    assert frontier_view.committed() is None


def test_methods_are_judged_or_said_to_be_outside(book):
    front = frontier_view.committed()
    assert [w.macs for w in front.widths] == [1e6, 4e6, 16e6]
    rows = {r["name"]: r for r in frontier_view.rows(front)}
    assert set(rows) == {"routed", "big", "tree"}  # methods only, from every chapter
    r = rows["routed"]
    assert r["verdict"] == "above" and r["gap_equal_macs"] == pytest.approx(2.0)
    assert r["efficiency_b1"] == pytest.approx((0.2 * 0.5) ** 0.5 / 0.5)
    assert "outside the lenet frontier's measured range" in rows["big"]["outside"]


def test_a_chapter_timed_against_a_narrower_network_is_rescaled(book):
    rows = {r["name"]: r for r in frontier_view.rows(frontier_view.committed())}
    tree = rows["tree"]
    # twice its base's time, and its base takes 0.5 of the widest's: 1.0 of the widest's
    assert tree["rescaled"] is True
    assert tree["efficiency_b1"] == pytest.approx(0.5)
    assert tree["verdict"] == "on"


def test_sentences(book):
    rows = {r["name"]: r for r in frontier_view.rows(frontier_view.committed())}
    s = frontier_view.sentence(rows["routed"])
    assert s.startswith(
        "routed (chapter 4), at 12% of the MACs, is above the frontier at equal"
    )
    assert "(+2.00 pt)" in s and "efficiency" in s and "0.63 at batch 1" in s
    assert "not judged" in frontier_view.sentence(rows["big"])
    assert "inside the seeds' spread" in frontier_view.sentence(rows["tree"])


def test_the_table_has_one_row_per_method(book):
    t = frontier_view.table(frontier_view.rows(frontier_view.committed()))
    assert list(t.index.get_level_values("method")) == ["routed", "big", "tree"]
    assert t.loc[("04", "big"), "place"] == "outside the range"
    assert t.loc[("04", "routed"), "gap at equal MACs (pt)"] == pytest.approx(2.0)


def test_the_headline_counts(book):
    text = frontier_view.summary(frontier_view.rows(frontier_view.committed()))
    assert text.startswith("Of 3 committed methods of the family, 2 lie inside")
    assert "at equal MACs 1 are above it, 1 on it" in text and "0 below it" in text
    assert "at equal time at batch 1, 0 of the 2 timed are more accurate" in text
    assert text.endswith("; 1 cost more than its widest width.")


def test_an_unknown_family_is_an_error_that_names_the_families():
    with pytest.raises(ValueError, match="lenet"):
        frontier_view.committed("resnet")


def test_the_mlp_family_reads_its_own_chapter(tmp_path, monkeypatch):
    """Chapter 6 records the MLP frontier beside its methods, in its own file."""
    from condcomp_lib.methods import mlp_frontier

    monkeypatch.setattr(cache, "ROOT", tmp_path)
    widths = mlp_frontier.WIDTHS["quick"]
    acc = {w: {0: 0.8 + 0.01 * i, 1: 0.81 + 0.01 * i} for i, w in enumerate(widths)}
    speed = {w: 1024 / w for w in widths}  # narrower runs faster
    front = mlp_frontier.entries(acc, {"epochs": 10, "train_images": 100}, speed, speed,
                                 noisy=False)  # fmt: skip
    dense = results_schema.entry(
        "dense MLP", chapter="06_block_policies", role="dense", baseline="dense MLP",
        accuracy=0.83, macs=2910208, baseline_macs=2910208,
    )  # fmt: skip
    policy = results_schema.entry(
        "policy", chapter="06_block_policies", role="method", baseline="dense MLP",
        accuracy=0.80, macs=0.1 * 2910208, baseline_macs=2910208,
    )  # fmt: skip
    write(tmp_path, "06_block_policies", [dense, policy, *front])
    assert frontier_view.committed("lenet") is None  # chapter 0's file is not there
    mlp = frontier_view.committed("mlp")
    assert [w.macs for w in mlp.widths] == [59008, 334336, 2910208]
    (row,) = frontier_view.rows(mlp)
    assert row["name"] == "policy" and row["verdict"] == "below"


def test_a_summary_verdict_names_the_chosen_methods_or_is_none(book, tmp_path):
    text = frontier_view.verdict("04_cigt", names=["routed"])
    assert text.startswith("Against the static frontier: routed (chapter 4)")
    assert "big" not in text
    assert frontier_view.verdict("04_cigt", names=["absent"]) is None
    assert frontier_view.verdict("06_block_policies", family="mlp") is None


def test_places_key_every_judged_method_by_chapter_and_name(book):
    placed = frontier_view.places()
    assert frontier_view.place(placed["04_cigt", "routed"]) == "above (+2.00 pt)"
    assert frontier_view.place(placed["04_cigt", "big"]) == "outside its range"
    assert frontier_view.place(None) == "no frontier"


def test_a_chapter_is_labelled_as_the_book_names_it():
    assert frontier_view.chapter_label("01_early_exit") == "chapter 1, early exit"
    assert frontier_view.chapter_label("04_cigt") == "chapter 4, CIGT"
