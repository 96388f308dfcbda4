"""The chapter-run object: what every chapter does around its content."""

import json

import pytest
import torch

from condcomp_lib import cache, chapter, results_schema
from condcomp_lib.results_schema import ResultsSchemaError


def dense(acc=0.9):
    return results_schema.entry(
        "net", chapter="99_example", role="dense", baseline="net", accuracy=acc,
        macs=10, baseline_macs=10,
    )  # fmt: skip


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    threads = torch.get_num_threads()
    yield tmp_path
    torch.set_num_threads(threads)


def test_start_sets_the_run_up(root):
    ch = chapter.start("99_example", "quick", seed=3, device="cpu")
    assert (ch.id, ch.profile.name, ch.device.type, ch.seed) == (
        "99_example",
        "quick",
        "cpu",
        3,
    )
    assert torch.get_num_threads() == chapter.THREADS
    assert not ch.full and ch.pick(quick=1, full=2) == 1
    with pytest.raises(ValueError, match="profile must be one of"):
        chapter.start("99_example", "fast")


def test_a_quick_run_checks_its_entries_but_writes_nothing(root):
    ch = chapter.start("99_example", "quick", device="cpu")
    assert ch.save({"x": 1}, [dense()]) is None
    assert not (root / "results").exists()
    with pytest.raises(ResultsSchemaError, match="accuracy.mean"):
        ch.save({"x": 1}, [dense(acc=92.0)])  # a percentage where a fraction belongs


def test_a_full_run_writes_its_results_and_reads_them_back(root, capsys):
    ch = chapter.start("99_example", "full", device="cpu")
    assert ch.full and ch.pick(quick=1, full=2) == 2
    assert ch.committed() is None
    assert "no full-profile results committed yet" in capsys.readouterr().out
    assert ch.verdict(lambda r: "unused") == chapter.NOT_COMMITTED
    path = ch.save({"x": 1}, [dense()])
    saved = json.loads(path.read_text())
    assert saved["x"] == 1 and saved["profile"] == "full"
    assert saved["wall_clock_s"] >= 0 and saved["methods"][0]["name"] == "net"
    assert ch.committed()["x"] == 1
    text = ch.verdict(lambda r: f"x is {r['x']}.")
    assert text.startswith("**The full-profile verdict** (committed full-profile run of")
    assert text.endswith("x is 1.")


def test_met():
    assert (chapter.met(True), chapter.met(False)) == ("met", "not met")


def test_show_rows_splits_times_from_accuracy_and_says_met(capsys):
    full = {
        "rows": [
            {"network": "dense", "test accuracy (%)": 90.0, "MACs per sample": 2e6},
            {"network": "dense, time", "batch-1 latency (ms)": 0.5},
        ],
        "targets": {"fast enough": False},
    }
    chapter.show_rows(full)
    assert "target fast enough: not met" in capsys.readouterr().out
