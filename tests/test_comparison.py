"""The comparison chapter's arithmetic: the front, the columns relative to each chapter's
dense network, and what it reports as missing."""

import json

import numpy as np
import pandas as pd
import pytest

from condcomp_lib import comparison


def test_pareto_front_keeps_exactly_the_undominated_points():
    cost = [1.0, 0.5, 0.5, 0.2, 0.9, np.nan]
    gain = [0.0, 0.3, -1.0, -2.0, 0.3, 5.0]
    # (0.9, 0.3) is beaten by (0.5, 0.3); (0.5, -1) by (0.5, 0.3); NaN never counts
    assert comparison.pareto_front(cost, gain).tolist() == [
        False,
        True,
        False,
        True,
        False,
        False,
    ]


def test_equal_points_are_both_on_the_front():
    assert comparison.pareto_front([1, 1], [2, 2]).tolist() == [True, True]


def _row(file, name, role, acc, share, b1=None, baseline="dense net"):
    return dict(
        file=file,
        chapter=file,
        name=name,
        role=role,
        baseline=baseline,
        accuracy_mean=acc,
        macs_relative=share,
        latency_b1_ratio=b1,
        throughput_b256_ratio=None,
    )


def test_relative_measures_each_method_against_its_own_chapter(tmp_path):
    chapters = comparison.chapter_names()
    a, b = chapters[0], chapters[1]
    table = pd.DataFrame(
        [
            _row(a, "dense net", "dense", 0.90, 1.0, 1.0),
            _row(a, "m", "method", 0.91, 0.5, 1.5),
            _row(b, "dense net", "dense", 0.50, 1.0),
            _row(b, "m", "method", 0.48, 0.25),
            _row("03_condconv_budget", "dense net", "dense", 0.1, 1.0),  # auxiliary
        ]
    )
    rel = comparison.relative(table)
    assert len(rel) == 4  # the auxiliary study is left out
    got = rel.set_index(["file", "name"])
    assert got.loc[(a, "m"), "delta_pt"] == pytest.approx(1.0)
    assert got.loc[(b, "m"), "delta_pt"] == pytest.approx(-2.0)
    assert got.loc[(a, "m"), "speedup_b1"] == 1.5
    assert np.isnan(got.loc[(b, "m"), "speedup_b256"])
    for name in (a, b, "03_condconv_budget"):
        (tmp_path / f"{name}.json").write_text("{}")
    missing = comparison.missing_chapters(tmp_path)
    assert a not in missing and b not in missing
    assert set(missing) == set(chapters) - {a, b}


def test_chapter_names_leave_out_the_comparison_chapter():
    names = comparison.chapter_names()
    assert names[0].startswith("00_") and not any(n.startswith("10_") for n in names)


def test_gpu_benchmarks_are_the_files_stamped_with_a_card(tmp_path):
    (tmp_path / "cpu.json").write_text(json.dumps({"cpu": "some CPU"}))
    (tmp_path / "gpu.json").write_text(json.dumps({"cpu": "x", "gpu": "NVIDIA H100"}))
    found = comparison.gpu_benchmarks(tmp_path)
    assert [g["file"] for g in found] == ["gpu.json"]


def test_reproduction_cost_reads_each_files_wall_clock(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"wall_clock_s": 60.0}))
    (tmp_path / "b.json").write_text(json.dumps({}))
    assert comparison.reproduction_cost(tmp_path) == {"a": 60.0, "b": None}


def test_frontier_widths_stay_out_of_the_relative_table():
    a = comparison.chapter_names()[0]
    rows = [
        _row(a, "frontier thick", "frontier", 0.90, 1.0, 1.0),
        _row(a, "frontier narrow", "frontier", 0.85, 0.2, 2.0),
        _row(a, "dense net", "dense", 0.90, 1.0, 1.0),
    ]
    rows[1]["baseline"] = "frontier thick"  # a frontier width names the widest
    rel = comparison.relative(pd.DataFrame(rows))
    assert list(rel["name"]) == ["dense net"]


def test_operating_points_are_the_timed_methods_or_the_most_accurate():
    nan = float("nan")
    rel = pd.DataFrame(
        [
            # chapter a timed one of its two methods: that one is its operating point
            ("a", "m1", "method", -1.0, 0.5, 1.2, nan),
            ("a", "m2", "method", 0.5, 0.9, nan, nan),
            # chapter b timed none: its method closest to dense in accuracy
            ("b", "m3", "method", -3.0, 0.2, nan, nan),
            ("b", "m4", "method", -0.2, 0.4, nan, nan),
            ("b", "c", "control", 1.0, 0.4, 2.0, 2.0),  # a control is never one
        ],
        columns=["chapter", "name", "role", "delta_pt", "macs_share", "speedup_b1",
                 "speedup_b256"],
    )  # fmt: skip
    ops = comparison.operating_points(rel)
    assert list(ops["name"]) == ["m1", "m4"]
