"""The results schema: every committed results file follows it, a file that breaks it is
refused with the file and the field named, entries are built from plain numbers, and the
older chapters' files can be brought into it."""

import copy
import json

import pytest

from condcomp_lib import cache, results_schema
from condcomp_lib.results_schema import ResultsSchemaError, entry


FILES = sorted((cache.ROOT / "results").glob("*.json"))
SOURCE = "results/99_example.json"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_committed_results_follow_the_schema(path):
    results = results_schema.validate_file(path)
    assert results["profile"] == "full"
    assert results["methods"] or results["methods_note"]


def example() -> dict:
    """A small valid results file: a dense network, a method and a control."""
    stamp = {"device": "CPU (2 threads)", "commit": "abc1234", "profile": "full"}
    point = dict(chapter="99_example", baseline="dense", baseline_macs=1000)
    methods = [
        entry("dense", role="dense", accuracy=0.9, macs=1000, **point),
        entry("method", role="method", accuracy=[0.88, 0.89], macs=400, **point),
        entry("control", role="control", accuracy=0.8, macs=400, **point),
    ]
    return {
        "chapter": "99_example",
        "date": "2026-01-01",
        "torch": "2.0",
        **stamp,
        "wall_clock_s": 12.5,
        "methods": results_schema.stamped(methods, **stamp),
    }


def test_the_example_is_valid():
    results_schema.validate(example(), SOURCE)
    # a method's budget is optional, and when given it is checked
    with_budget = example()
    with_budget["methods"][1]["budget"] = {"epochs": 15, "train_images": 55_000}
    results_schema.validate(with_budget, SOURCE)


def test_an_entry_records_its_budget():
    m = results_schema.entry(
        "m", chapter="c", role="method", baseline="b", accuracy=0.9, macs=1,
        baseline_macs=2, budget=(15, 55_000),
    )  # fmt: skip
    assert m["budget"] == {"epochs": 15, "train_images": 55_000}
    assert "budget" not in results_schema.entry(
        "m", chapter="c", role="method", baseline="b", accuracy=0.9, macs=1,
        baseline_macs=2,
    )  # fmt: skip


def broken(change) -> dict:
    results = copy.deepcopy(example())
    change(results)
    return results


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda r: r["methods"][1].pop("macs"), "methods[1].macs"),
        (lambda r: r["methods"][2]["accuracy"].pop("seeds"), "methods[2].accuracy.seeds"),
        (lambda r: r.pop("wall_clock_s"), "wall_clock_s"),
        (
            lambda r: r["methods"][1]["accuracy"].update(mean=91.3),
            "methods[1].accuracy.mean",
        ),
        (lambda r: r["methods"][2].update(baseline="missing"), "methods[2].baseline"),
        (lambda r: r["methods"][2].update(baseline="method"), "methods[2].baseline"),
        (lambda r: r["methods"][1].update(commit="0000000"), "methods[1].commit"),
        (lambda r: r["methods"][0].update(profile="quick"), "methods[0].profile"),
        (lambda r: r["methods"][2].update(name="method"), "methods[2].name"),
        (lambda r: r["methods"][1].update(role="learned"), "methods[1].role"),
        (
            lambda r: r["methods"][1]["macs"].update(relative=1.0),
            "methods[1].macs.relative",
        ),
        (
            lambda r: r["methods"][1].update(latency_b1_ratio=0),
            "methods[1].latency_b1_ratio",
        ),
        (
            lambda r: r["methods"][1]["accuracy"].update(spread=None),
            "methods[1].accuracy",
        ),
        (lambda r: r["methods"][0].update(params=1.5), "methods[0].params"),
        (lambda r: r["methods"][0].update(extra=1), "methods[0].extra"),
        (lambda r: r.update(methods=[]), "methods_note"),
        (
            lambda r: r["methods"][1].update(budget={"epochs": 15}),
            "methods[1].budget.train_images",
        ),
        (
            lambda r: r["methods"][1].update(budget={"epochs": 0, "train_images": 9}),
            "methods[1].budget.epochs",
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_a_broken_file_names_the_file_and_the_field(change, field):
    with pytest.raises(ResultsSchemaError) as e:
        results_schema.validate(broken(change), SOURCE)
    assert str(e.value).startswith(f"{SOURCE}: {field}"), str(e.value)


def test_the_message_says_what_was_expected():
    results = broken(lambda r: r["methods"][1]["accuracy"].update(mean=91.3))
    with pytest.raises(
        ResultsSchemaError, match=r"expected a number in \[0, 1\], got 91.3"
    ):
        results_schema.validate(results, SOURCE)


def test_validate_file_names_the_file(tmp_path):
    path = tmp_path / "99_example.json"
    path.write_text(json.dumps(broken(lambda r: r["methods"][0].pop("params"))))
    with pytest.raises(ResultsSchemaError, match=r"99_example.json: methods\[0\].params"):
        results_schema.validate_file(path)
    wrong = tmp_path / "98_other.json"
    wrong.write_text(json.dumps(example()))
    with pytest.raises(ResultsSchemaError, match=r"98_other.json: chapter"):
        results_schema.validate_file(wrong)


def test_entry_computes_the_ratios():
    e = entry(
        "m",
        chapter="c",
        role="method",
        baseline="d",
        accuracy={0: 0.90, 1: 0.86, 2: 0.88},
        macs=250,
        baseline_macs=1000,
        latency_b1=(2.0, 0.5),  # (baseline's time, this entry's): 4x faster
        throughput_b256=(100.0, 300.0),  # (baseline's throughput, this entry's)
        params=7,
    )
    assert e["accuracy"]["mean"] == pytest.approx(0.88)
    assert e["accuracy"]["spread"] == pytest.approx(0.04)
    assert e["accuracy"]["seeds"] == 3
    assert e["macs"] == {"mean": 250.0, "relative": 0.25}
    assert e["latency_b1_ratio"] == 4.0
    assert e["throughput_b256_ratio"] == 3.0
    assert e["params"] == 7 and "note" not in e
    one = entry(
        "d",
        chapter="c",
        role="dense",
        baseline="d",
        accuracy=0.9,
        macs=10,
        baseline_macs=10,
    )
    assert one["accuracy"] == {"mean": 0.9, "spread": None, "seeds": 1}
    assert one["latency_b1_ratio"] is None and one["throughput_b256_ratio"] is None
    with pytest.raises(ValueError, match="not both"):
        entry(
            "m",
            chapter="c",
            role="method",
            baseline="d",
            accuracy=0.9,
            macs=1,
            baseline_macs=1,
            latency_b1=(1, 1),
            latency_b1_ratio=1.0,
        )


def test_save_results_refuses_a_bad_entry(monkeypatch, tmp_path):
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    bad = entry(
        "dense", chapter="99_example", role="dense", baseline="dense", accuracy=92.0,
        macs=1, baseline_macs=1,
    )  # fmt: skip
    with pytest.raises(ResultsSchemaError, match=r"methods\[0\].accuracy.mean"):
        cache.save_results("99_example", {}, "CPU", methods=[bad])
    assert not (tmp_path / "results" / "99_example.json").exists()
    good = example()["methods"]
    path = cache.save_results("99_example", {"x": 1}, "CPU", wall_clock_s=3, methods=good)
    saved = results_schema.validate_file(path)
    assert saved["wall_clock_s"] == 3.0 and saved["profile"] == "full"
    assert {m["device"] for m in saved["methods"]} == {"CPU"}


def test_save_results_refuses_a_run_without_entries(monkeypatch, tmp_path):
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    with pytest.raises(ValueError, match=r"methods=\[\]"):
        cache.save_results("99_example", {"x": 1}, "CPU")
    assert not (tmp_path / "results" / "99_example.json").exists()
    note = {"x": 1, "methods_note": "operations timed, no network trained"}
    path = cache.save_results("99_example", note, "CPU", methods=[])
    saved = json.loads(path.read_text())  # a chapter that trains nothing: no entries
    assert saved["methods"] == [] and saved["x"] == 1 and saved["profile"] == "full"


def test_load_methods_has_one_row_per_entry(tmp_path):
    (tmp_path / "99_example.json").write_text(json.dumps(example()))
    table = results_schema.load_methods(tmp_path)
    assert list(table["name"]) == ["dense", "method", "control"]
    assert table.loc[1, "accuracy_mean"] == pytest.approx(0.885)
    assert table.loc[1, "macs_relative"] == pytest.approx(0.4)
    everything = results_schema.load_methods()
    files = [results_schema.validate_file(p) for p in FILES]
    assert len(everything) == sum(len(r["methods"]) for r in files)


class _FullDisk:
    """A file that takes half of what it is given, then fails as a full disk does."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, text):
        self.f.write(text[: len(text) // 2])
        self.f.flush()
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("stop", [OSError, KeyboardInterrupt])
def test_a_write_stopped_part_way_keeps_the_old_results(monkeypatch, tmp_path, stop):
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    old = cache.save_results("99_example", {"x": 1}, "CPU", methods=example()["methods"])
    before = old.read_text()
    if stop is OSError:  # the disk fills half-way through the new file
        real = cache.os.fdopen
        monkeypatch.setattr(cache.os, "fdopen", lambda *a, **k: _FullDisk(real(*a, **k)))
    else:  # Ctrl-C after the new file is written, before it replaces the old one

        def interrupted(*a):
            raise KeyboardInterrupt

        monkeypatch.setattr(cache.os, "replace", interrupted)
    with pytest.raises(stop):
        cache.save_results("99_example", {"x": 2}, "CPU", methods=example()["methods"])
    assert old.read_text() == before
    assert json.loads(before)["x"] == 1
    assert sorted(p.name for p in old.parent.iterdir()) == ["99_example.json"]
