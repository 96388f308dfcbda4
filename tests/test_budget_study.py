"""The budget studies of chapters 3 and 4: their plan, how they resume, their entries."""

import json
from types import SimpleNamespace

import pytest
import torch

from condcomp_lib import budget_study, cache, data
from condcomp_lib.methods import cigt, cigt_runs


def test_the_plan_goes_cheapest_budget_first_and_skips_what_is_on_record():
    runs = [{"model": "a", "epochs": 1, "seed": 0}]
    todo = budget_study.plan(runs, ["a", "b"], [5, 1], [0, 1])
    assert todo == [
        ("b", 1, 0),
        ("a", 1, 1),
        ("b", 1, 1),
        ("a", 5, 0),
        ("b", 5, 0),
        ("a", 5, 1),
        ("b", 5, 1),
    ]


def _run(model, epochs, seed, acc, commit="abc"):
    return {
        "model": model,
        "epochs": epochs,
        "seed": seed,
        "test_acc": acc,
        "device": "cpu",
        "commit": commit,
    }


def _entries(runs, commit="abc"):
    return budget_study.entries(
        runs,
        study="xx_study",
        baseline="base",
        label=lambda m, e: f"{m}, {e}",
        role=lambda m: "dense" if m == "base" else "method",
        macs=lambda m: 100.0 if m == "base" else 50.0,
        params=lambda m: 10,
        order=["base", "meth"].index,
        device="cpu",
        commit=commit,
    )


def test_gaps_pair_the_seeds_each_budget_has_for_both():
    runs = [
        _run("base", 1, 0, 0.80),
        _run("meth", 1, 0, 0.81),
        _run("base", 1, 1, 0.70),  # no "meth" on seed 1 yet: left out of the gap
        _run("base", 3, 0, 0.90),
        _run("meth", 3, 0, 0.88),
        _run("base", 3, 1, 0.92),
        _run("meth", 3, 1, 0.92),
        _run("meth", 9, 0, 0.99),  # no baseline at 9 epochs: no gap
    ]
    got = budget_study.gaps(runs, "meth", "base")
    assert list(got) == [1, 3]
    assert got[1][0] == pytest.approx(1.0) and got[1][1] == 1
    assert got[3][0] == pytest.approx(-1.0) and got[3][1] == 2


def test_entries_need_the_baseline_at_the_same_budget():
    runs = [_run("base", 1, 0, 0.8), _run("meth", 1, 0, 0.7), _run("meth", 3, 0, 0.9)]
    out = _entries(runs)
    assert [e["name"] for e in out] == ["base, 1", "meth, 1"]  # 3 epochs: no baseline
    assert out[1]["baseline"] == "base, 1"
    assert out[1]["macs"]["relative"] == pytest.approx(0.5)
    assert "note" not in out[1] or out[1]["note"] is None


def test_entries_average_the_seeds_and_say_when_they_come_from_other_commits():
    runs = [
        _run("base", 1, 0, 0.8),
        _run("meth", 1, 0, 0.70),
        _run("meth", 1, 1, 0.74, commit="old"),
    ]
    meth = _entries(runs)[1]
    assert meth["accuracy"]["mean"] == pytest.approx(0.72)
    assert meth["accuracy"]["seeds"] == 2
    assert "other machines or commits" in meth["note"]


@pytest.fixture
def tiny_study(tmp_path, monkeypatch):
    """A study of two made-up models on a made-up dataset, writing under tmp_path."""
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    fake = SimpleNamespace(test="test split", val="val split")
    monkeypatch.setattr(data, "load_fashion_mnist", lambda seed=0: fake)
    trained = []

    def train(model, ds, epochs, seed):
        trained.append((model, epochs, seed))
        return torch.nn.Linear(1, 1), {"train_samples": 7, "train_seconds": 1.5}

    def score(model, net, ds, seed):
        return {"test_acc": 0.5 + 0.1 * (model == "meth"), "val_acc": 0.5, "extra": 3}

    study = budget_study.Study(
        name="xx_study",
        models=("base", "meth"),
        epochs=(1,),
        train=train,
        score=score,
        methods=lambda runs, device, commit: _entries(runs, commit),
        is_model=lambda m: m in ("base", "meth"),
        model_help="base or meth",
        seeds=(0,),
    )
    threads = torch.get_num_threads()  # a run sets the process's threads: put them back
    yield study, trained, tmp_path
    torch.set_num_threads(threads)


def test_a_study_keeps_every_run_and_resumes_where_it_stopped(tiny_study):
    study, trained, root = tiny_study
    assert budget_study.run(study, ["--models", "meth", "--threads", "1"]) == 0
    saved = json.loads((root / "results" / "xx_study.json").read_text())
    assert [r["model"] for r in saved["runs"]] == ["meth"]
    assert saved["runs"][0]["extra"] == 3  # the study's own fields are kept
    assert saved["runs"][0]["train_seconds"] == 1.5
    assert "no budget has its baseline run yet" in saved["methods_note"]

    budget_study.run(study, ["--threads", "1"])  # base is new, meth is on record
    assert trained == [("meth", 1, 0), ("base", 1, 0)]
    saved = json.loads((root / "results" / "xx_study.json").read_text())
    assert [e["name"] for e in saved["methods"]] == ["base, 1", "meth, 1"]
    assert "methods_note" not in saved


def test_a_study_refuses_what_it_cannot_train(tiny_study):
    study, trained, _ = tiny_study
    with pytest.raises(SystemExit):
        budget_study.run(study, ["--models", "other"])
    with pytest.raises(SystemExit):
        budget_study.run(study, ["--epochs", "0"])
    assert trained == []


def test_the_cigt_study_names_its_models():
    import cigt_budget

    study = cigt_budget.STUDY
    assert budget_study.parse(study, []).models == [
        "thin",
        "cigt",
        "random",
        "cigt-fixed",
    ]
    with pytest.raises(SystemExit):
        budget_study.parse(study, ["--models", "cigt", "thick"])
    assert (
        cigt_budget.label("cigt-fixed", 5) == "CIGT, the authors' fixed decay, 5 epochs"
    )


def test_the_authors_fixed_decay_ends_far_above_the_floor_on_a_short_budget():
    steps = 6450  # chapter 4's full profile: 15 epochs of 430 steps
    scaled = cigt_runs.schedule_for(steps)
    fixed = cigt_runs.schedule_for(steps, temperature="fixed")
    assert scaled.warmup_steps == fixed.warmup_steps == 1290
    assert fixed.decay == 0.9999
    assert cigt.temperature(steps - 1, scaled) == pytest.approx(0.1)
    assert cigt.temperature(steps - 1, fixed) == pytest.approx(25 * 0.9999**5159)
    with pytest.raises(ValueError, match="temperature"):
        cigt_runs.schedule_for(steps, temperature="annealed")


@pytest.mark.parametrize("which", ["static", "condconv"])
def test_a_study_network_stopped_part_way_resumes_from_its_last_epoch(
    which, tmp_path, monkeypatch, digits28
):
    """A budget study's runs last up to an hour: one stopped part-way (the machine shut
    down) keeps its finished epochs in the cache and resumes after the last of them."""
    from condcomp_lib import baselines, train
    from condcomp_lib.methods import condconv

    monkeypatch.setenv("CONDCOMP_CACHE", str(tmp_path))
    ds = digits28

    def trained():
        if which == "static":
            return baselines.baseline("thin", ds, "quick", epochs=2, progress=False)
        return condconv.trained(2, ds, "quick", epochs=2, progress=False)

    saves, real_save = [], train.save_checkpoint

    def save_then_stop(path, state):
        real_save(path, state)
        saves.append(state["epoch"])
        if len(saves) == 1:
            raise KeyboardInterrupt  # stopped just after epoch 1 was saved

    monkeypatch.setattr(train, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        trained()
    assert [p.name.endswith(".partial.pt") for p in tmp_path.iterdir()] == [True]
    net, info = trained()
    assert saves == [1]  # the second call saved nothing: epoch 2 is its last
    assert info["resumed_after_epochs"] == [1] and info["epochs"] == 2
    assert info["train_seconds"] > 0
    assert sorted(p.name.endswith(".partial.pt") for p in tmp_path.iterdir()) == [False]
