"""The canvas family's frontier (chapter 7): its widths, its study's records, and the
study script's command line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from condcomp_lib import cache, frontier
from condcomp_lib.methods import activity_runs, canvas_frontier


def test_the_widest_width_is_network_b_and_the_narrowest_spans_the_methods():
    assert canvas_frontier.widths(1.0, "full") == activity_runs.get_setup("full").widths
    assert canvas_frontier.widths(0.125, "full") == (2, 8, 16)
    nets = canvas_frontier.fresh("full")
    entries = canvas_frontier.entries(
        {f: {0: 0.5 + f / 4} for f in nets},
        {"epochs": 6, "train_images": 20_000},
        "full",
        {f: 1 / f for f in nets},
        {f: 1 / f**2 for f in nets},
        noisy=False,
    )
    front = frontier.from_entries(entries, "canvas")
    shares = [w.macs / front.widths[-1].macs for w in front.widths]
    # (a) runs 3% and (c) 15% of (b)'s MACs: both inside the frontier's range
    assert shares[0] < 0.03 and shares[-1] == 1.0 and len(shares) == 5
    assert entries[-1]["name"] == "frontier " + canvas_frontier.name(1.0)


def test_a_width_name_outside_the_frontier_is_an_error():
    assert canvas_frontier.factor_of("w0.25") == 0.25
    for bad in ("w0.3", "thick", "wide"):
        with pytest.raises(ValueError, match="canvas width"):
            canvas_frontier.factor_of(bad)


def test_the_recorded_frontier_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    runs = [
        {"model": f"w{f:g}", "seed": s, "test_acc": 0.7 + f / 10, "epochs": 6,
         "train_images": 20_000}
        for f in canvas_frontier.FACTORS["full"][:-1] for s in (0, 1)
    ]  # fmt: skip
    path = tmp_path / "results" / "07_frontier.json"
    path.write_text(json.dumps({"runs": runs}))
    with pytest.raises(RuntimeError, match="--family canvas"):
        canvas_frontier.recorded()
    runs.append({**runs[0], "model": "w1"})
    path.write_text(json.dumps({"runs": runs}))
    acc, budget = canvas_frontier.recorded()
    assert list(acc) == list(canvas_frontier.FACTORS["full"])
    assert acc[1.0] == {0: runs[0]["test_acc"]}
    assert budget == {"epochs": 6, "train_images": 20_000}


def test_the_study_script_refuses_an_unknown_family_or_width():
    root = Path(__file__).resolve().parent.parent
    script = [sys.executable, str(root / "scripts" / "frontier_study.py")]
    bad = subprocess.run([*script, "--family", "resnet"], capture_output=True, text=True)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr
    bad = subprocess.run([*script, "--family", "canvas", "--models", "thick"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode != 0 and "a factor in" in bad.stderr
