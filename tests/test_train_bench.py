"""Training repeats exactly on a CPU; profiles and devices resolve; timing is sane."""

import time

import pytest
import torch

from condcomp_lib import baselines, bench, data, models, train


def tiny_run(ds, seed):
    torch.manual_seed(seed)
    m = models.LeNet(models.LeNetWidths(4, 4, 4, 8, 8))
    hist = train.fit(m, ds.train, epochs=1, batch_size=64, seed=seed, progress=False)
    return hist["loss"], train.evaluate(m, ds.test)


def test_fit_repeats_exactly_with_the_same_seed(digits28):
    a, b, c = tiny_run(digits28, 0), tiny_run(digits28, 0), tiny_run(digits28, 1)
    assert a == b
    assert a[0] != c[0]


class Stop(Exception):
    """Stands for a run killed part-way (the machine shut down, the session ended)."""


def test_a_stopped_run_resumes_to_exactly_the_unbroken_runs_result(tmp_path, digits28):
    split = digits28.train
    widths = models.LeNetWidths(4, 4, 4, 8, 8)  # with dropout: the torch stream matters
    kw = dict(epochs=3, batch_size=64, seed=3, progress=False)
    per_epoch = (len(split) + 63) // 64

    torch.manual_seed(3)
    unbroken = models.LeNet(widths)
    whole = train.fit(unbroken, split, **kw)

    ckpt = tmp_path / "run.partial.pt"
    torch.manual_seed(3)
    m = models.LeNet(widths)

    def stop_in_epoch_2(step, model, hist):
        if step == per_epoch + 5:
            raise Stop

    with pytest.raises(Stop):
        train.fit(m, split, checkpoint=ckpt, on_step=stop_in_epoch_2, **kw)
    assert ckpt.is_file()  # epoch 1 was saved; the five steps of epoch 2 are lost
    torch.manual_seed(123)  # whatever the process did in between
    m = models.LeNet(widths)  # a fresh process builds the network again
    resumed = train.fit(m, split, checkpoint=ckpt, **kw)

    assert resumed["resumed_after"] == [1] and whole["resumed_after"] == []
    assert resumed["loss"] == whole["loss"]
    for a, b in zip(m.state_dict().values(), unbroken.state_dict().values()):
        assert torch.equal(a, b)
    assert not ckpt.exists()  # removed once the run ended
    assert resumed["seconds_before_resume"] > 0 == whole["seconds_before_resume"]


def test_a_checkpoint_of_another_run_is_ignored(tmp_path, capsys):
    s = data.Split(torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,)))
    ckpt = tmp_path / "run.partial.pt"

    def stop(step, model, hist):
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        train.fit(
            models.LeNet(),
            s,
            epochs=3,
            batch_size=32,
            checkpoint=ckpt,
            on_step=stop,
            progress=False,
        )
    hist = train.fit(
        models.LeNet(), s, epochs=4, batch_size=32, checkpoint=ckpt, progress=False
    )  # four epochs: not the run that saved it
    assert hist["resumed_after"] == [] and len(hist["loss"]) == 8
    assert "saved by another run" in capsys.readouterr().out
    ckpt.write_text("not a checkpoint")
    assert (
        train.fit(models.LeNet(), s, epochs=1, checkpoint=ckpt, progress=False)[
            "resumed_after"
        ]
        == []
    )
    assert "ignoring" in capsys.readouterr().out


def test_profiles_and_devices():
    assert train.get_profile("quick").name == "quick"
    with pytest.raises(ValueError, match="profile must be one of"):
        train.get_profile("medium")
    assert train.resolve_device("cpu") == torch.device("cpu")
    assert train.resolve_device("auto").type in ("cpu", "cuda")


def test_fit_rejects_bad_arguments():
    s = data.Split(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="epochs"):
        train.fit(models.LeNet(), s, epochs=0, progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        train.fit(models.LeNet(), s, epochs=1, optimizer="lbfgs", progress=False)


def test_timing_orders_work():
    small, big = torch.randn(64, 64), torch.randn(512, 512)
    t = bench.compare(
        {"small": lambda: small @ small, "big": lambda: big @ big}, repeats=7
    )
    assert t["big"].median > t["small"].median > 0
    assert t["small"].iqr >= 0 and len(t["small"].samples) == 7
    with pytest.raises(ValueError):
        bench.time_fn(lambda: None, repeats=0)


def test_comparison_turns_the_order_each_round():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    bench.compare(fns, warmup=0, repeats=4)
    assert "".join(calls) == "abc" + "bca" + "cab" + "abc"


def test_latency_and_throughput_of_a_model():
    m = models.LeNet(models.THIN)
    lat = bench.latency(m, torch.randn(1, 28, 28), warmup=1, repeats=3)
    thr, t = bench.throughput(m, torch.randn(32, 1, 28, 28), warmup=1, repeats=3)
    assert lat.median > 0 and thr == pytest.approx(32 / t.median)
    assert "threads" in bench.device_name()


def test_comparison_gives_paired_ratios_and_marks_noise():
    small, big = torch.randn(64, 64), torch.randn(384, 384)
    t = bench.compare(
        {"small": lambda: small @ small, "big": lambda: big @ big}, repeats=9
    )
    r = t.ratio("big", "small")
    assert r.low <= r.value <= r.high
    assert r.noisy == t.noisy
    if not t.noisy:  # a busy machine may swap the order of two short timings: no verdict
        assert r.value > 1, r
    assert t["big"].low <= t["big"].median
    # a scattered timing is noisy whatever the machine did
    assert bench._summary([1.0, 1.0, 2.0, 3.0, 1.0]).noisy
    assert not bench._summary([1.0, 1.01, 0.99, 1.0, 1.02]).noisy


def test_load_counts_other_processes():
    import subprocess
    import sys

    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        with bench.watch_load() as load:
            time.sleep(1.0)
    finally:
        spin.kill()
    assert load.others > 0.5, load  # one spinning process: about one core
    assert bench.Load(others=0.9, free=0).busy and not bench.Load(others=0.1, free=0).busy
    assert not bench.Load(others=0.9, free=14).busy  # a big machine has room for it


def test_timing_check_asserts_only_what_the_data_support():
    assert bench.check("clear win", bench.Ratio(2.0, 1.8, 2.2), above=1) is True
    with pytest.raises(AssertionError, match="needs more than 1"):
        bench.check("straddles", bench.Ratio(1.05, 0.9, 1.2), above=1)
    with pytest.raises(AssertionError):
        bench.check("clear loss", bench.Ratio(0.5, 0.4, 0.6), above=1)
    noisy = bench.Ratio(
        0.5, 0.4, 0.6, noisy=True, why="other processes used 1.9 of 2 cores"
    )
    assert bench.check("busy machine", noisy, above=1) is None


def test_a_budget_other_than_the_profiles_has_its_own_cache_key():
    assert baselines.budget_key("full", None) == ""
    assert baselines.budget_key("full", train.get_profile("full").epochs) == ""
    assert baselines.budget_key("full", 45) == "-e45"
    with pytest.raises(ValueError, match="epochs"):
        baselines.budget_key("full", 0)


def test_the_budget_study_rejects_a_model_it_cannot_train():
    import condconv_budget

    from condcomp_lib import budget_study

    study = condconv_budget.STUDY
    with pytest.raises(SystemExit):
        budget_study.parse(study, ["--models", "static", "eight"])
    with pytest.raises(SystemExit):
        budget_study.parse(study, ["--epochs", "0"])
    assert budget_study.parse(study, []).models == ["static", "4", "8"]


def test_fit_trains_when_called_inside_no_grad():
    """A timing cell runs under ``torch.no_grad()``; a network it finds missing from the
    cache is trained there, and must train (once it raised: no grad_fn)."""
    s = data.Split(torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,)))
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    before = net[1].weight.detach().clone()
    with torch.no_grad():
        history = train.fit(net, s, epochs=1, batch_size=16, progress=False)
        assert not torch.is_grad_enabled()  # the caller's mode is back after
    assert len(history["loss"]) == 2
    assert not torch.equal(net[1].weight, before)
