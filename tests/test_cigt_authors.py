"""Unit tests of condcomp_lib.methods.cigt_authors and cigt_authors_runs (chapter 4): the
authors' LeNet-CIGT, its routing, loss and schedules as their code has them, and a
training run that resumes to the weights of an unbroken one."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from condcomp_lib import budget_study, cost, data, train
from condcomp_lib.methods import cigt_authors as A
from condcomp_lib.methods import cigt_authors_runs as R


@pytest.fixture(autouse=True)
def one_thread():
    """The tests' networks are small: one thread is faster than two on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(digits28):
    """250 training and 50 test images."""
    return R.first(digits28.train, 250), R.first(digits28.test, 50)


def batch(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


# ---------------------------------------------------------------- the network


@pytest.mark.parametrize("arm", A.ARMS)
@pytest.mark.parametrize("n", [1, 7])
def test_every_arm_runs_at_batch_1_and_7_in_every_mode(arm, n):
    torch.manual_seed(0)
    net = A.AuthorsCIGT(arm)
    x, y = batch(n)
    for training, warming_up in ((True, True), (True, False), (False, False)):
        net.train(training)
        net.warming_up = warming_up
        out = net.run(x)
        loss, _ = A.authors_loss(out, y, 2.0, 0.1)
        assert torch.isfinite(loss)
        if training:
            loss.backward()
        p = net.predict_proba(x, out)
        assert p.shape == (n, 10)
        assert torch.allclose(p.sum(1), torch.ones(n))
        assert net(x).shape == (n, 10)
    assert len(net.leaves) == (1 if arm == "one-path" else 4)
    assert len(net.routers) == (2 if arm == "cigt" else 0)


def test_a_single_row_in_training_uses_the_running_statistics():
    bn = A.BatchNorm1d(3).train()
    before = bn.running_mean.clone()
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.allclose(bn(x), x / math.sqrt(1 + bn.eps))  # running stats 0 and 1
    assert torch.equal(bn.running_mean, before)


def always_the_last_path(n, k, generator=None):
    return torch.full((n,), k - 1, dtype=torch.long)


def routers_prefer_path_0(net):
    with torch.no_grad():
        for router in net.routers:
            router.fc2.weight.zero_()
            router.fc2.bias.zero_()
            router.fc2.bias[0] = 5.0


@pytest.mark.parametrize("n", [100, 125, 7])
def test_after_warm_up_exactly_int_n_times_share_rows_get_a_random_path(n, monkeypatch):
    """Each router draws int(N * 0.49) distinct rows for a random path in training after
    warm-up, and none in evaluation. Here the router always says path 0 and a random
    draw always the last path, so the rows on the last path are the rows drawn."""
    monkeypatch.setattr(A, "random_paths", always_the_last_path)
    torch.manual_seed(0)
    net = A.AuthorsCIGT("cigt")
    routers_prefer_path_0(net)
    assert int(n * net.random_share) == int(n * 0.49)
    x, _ = batch(n)
    net.train()
    routes = net.run(x).routes
    assert [len(r) for r in routes] == [n, n]
    for mask in routes:
        assert mask.sum(1).tolist() == [1] * n  # one path per row
        assert mask[:, -1].sum().item() == int(n * 0.49)
        assert mask[:, 0].sum().item() == n - int(n * 0.49)
    net.eval()
    out = net.run(x)
    for mask in out.routes:
        assert mask[:, 0].all() and not mask[:, 1:].any()
    # the empty routes: leaves 1 to 3 get no row and are skipped
    assert [len(r) for r in out.leaf_rows] == [n, 0, 0, 0]
    assert out.leaf_logits[1].shape == (0, 10)
    assert net(x).shape == (n, 10)


@pytest.mark.parametrize("arm", ["cigt", "random", "all-paths"])
def test_warm_up_sends_every_row_down_every_path(arm):
    """FullRouting: 1 row a sample in block 0, 2 in block 1, 2 x 4 = 8 at the leaves;
    each router's information gain counts every row that reaches it."""
    n = 3
    torch.manual_seed(0)
    net = A.AuthorsCIGT(arm).train()
    net.warming_up = True
    out = net.run(batch(n)[0])
    assert [tuple(m.shape) for m in out.routes] == [(n, 2), (2 * n, 4)]
    assert all(m.all() for m in out.routes)
    assert [len(r) for r in out.leaf_rows] == [2 * n] * 4
    assert torch.bincount(torch.cat(out.leaf_rows)).tolist() == [8] * n
    if arm == "cigt":
        assert [len(p) for p in out.probs] == [n, 2 * n]
        assert torch.bincount(out.router_rows[1]).tolist() == [2] * n


def test_all_paths_predicts_the_mean_of_the_8_leaf_softmaxes():
    torch.manual_seed(0)
    net = A.AuthorsCIGT("all-paths").eval()
    x, _ = batch(2)
    out = net.run(x)
    rows, logits = torch.cat(out.leaf_rows), torch.cat(out.leaf_logits)
    for i in range(2):
        want = F.softmax(logits[rows == i], 1).mean(0)
        assert torch.allclose(net.predict_proba(x, out)[i], want, atol=1e-6)


def entropy(ps):
    return -sum(p * math.log(p) for p in ps if p > 0)


@pytest.mark.parametrize("warming_up", [True, False])
def test_the_loss_is_the_sum_of_leaf_means_minus_the_weighted_gains(warming_up):
    """By hand, on 6 samples: each leaf's mean cross-entropy, summed, minus the decision
    weight times beta H(n) + H(c) - H(c, n) of each router's rows."""
    beta, weight = 2.115, 0.0634
    torch.manual_seed(1)
    net = A.AuthorsCIGT("cigt").train()
    net.warming_up, net.temperature = warming_up, 3.0
    x, _ = batch(6)
    y = torch.tensor([0, 1, 1, 2, 0, 1])
    out = net.run(x)
    loss, terms = A.authors_loss(out, y, beta, weight)
    ce = 0.0
    for logits, rows in zip(out.leaf_logits, out.leaf_rows):
        if len(rows):
            lp = [[v - math.log(sum(math.exp(u) for u in row)) for v in row]
                  for row in logits.tolist()]  # fmt: skip
            ce += -sum(lp[i][y[r]] for i, r in enumerate(rows.tolist())) / len(rows)
    gains = []
    for p, rows in zip(out.probs, out.router_rows):
        p, labels, k = p.tolist(), y[rows].tolist(), len(p[0])
        joint = [
            [
                sum(p[i][j] for i in range(len(p)) if labels[i] == c) / len(p)
                for j in range(k)
            ]
            for c in range(10)
        ]
        p_n = [sum(joint[c][j] for c in range(10)) for j in range(k)]
        p_c = [sum(row) for row in joint]
        gains.append(beta * entropy(p_n) + entropy(p_c) - entropy(sum(joint, [])))
    assert terms["ce"] == pytest.approx(ce, rel=1e-5)
    assert [terms["ig1"], terms["ig2"]] == pytest.approx(gains, rel=1e-5)
    assert loss.item() == pytest.approx(ce - weight * sum(gains), rel=1e-5)


# ---------------------------------------------------------------- the recipe


def test_the_temperature_decays_from_step_1_to_the_floor():
    r = A.RECIPE
    assert r.decay == pytest.approx(0.99984833, abs=1e-8)  # the recorded 0.9998483349...
    assert r.temperature(1) == 25 * r.decay  # the first step already decays
    assert r.temperature(10) == 25 * r.decay**10
    assert r.temperature(10) == pytest.approx(24.96211, abs=1e-5)
    reach = math.ceil(math.log(0.01 / 25) / math.log(r.decay))  # about 51,600 steps
    assert r.temperature(reach - 1) > 0.01 == r.temperature(reach)
    assert r.temperature(150 * 480) == 0.01


def test_the_learning_rate_steps_down_at_epochs_60_95_120():
    r = A.RECIPE
    epochs = [0, 59, 60, 94, 95, 119, 120, 149]
    assert [r.lr_at(e) / r.lr for e in epochs] == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.025] + [
        0.025
    ]
    assert r.lr == pytest.approx(0.0272578, rel=1e-5)  # recorded: 0.027257766...


def test_the_test_set_is_evaluated_every_5th_epoch_and_in_the_last_10():
    evaluated = [e for e in range(150) if A.RECIPE.evaluated(e)]
    assert evaluated == list(range(0, 140, 5)) + list(range(140, 150))


def test_a_short_run_keeps_the_schedule_in_proportion():
    assert A.RECIPE.scaled(150) is A.RECIPE
    two = A.RECIPE.scaled(2)
    assert (two.epochs, two.warmup_epochs, two.lr_boundaries) == (2, 1, (0, 1, 1, 2))
    thirty = A.RECIPE.scaled(30)
    assert (thirty.warmup_epochs, thirty.lr_boundaries) == (5, (0, 12, 19, 24))
    with pytest.raises(ValueError):
        A.RECIPE.scaled(0)


def test_the_recipe_agrees_with_chapter_4s_recipe_table():
    table = pytest.importorskip("condcomp_lib.methods.cigt_recipe")
    r = A.RECIPE
    assert (r.warmup_epochs, r.epochs) == (table.WARMUP_EPOCHS, table.TOTAL_EPOCHS)
    assert r.lr_boundaries == table.LR_BOUNDARIES
    assert r.lr_factors == table.LR_FACTORS


@pytest.mark.parametrize("arm", ["one-path", "cigt"])
def test_the_macs_by_hand_are_those_a_sample_executes(arm):
    torch.manual_seed(0)
    assert sum(R.macs_per_sample(arm).values()) == cost.dense_macs(
        A.AuthorsCIGT(arm), (1, 28, 28)
    )


def test_random_routes_cost_one_path_and_all_paths_eight():
    one, every = R.macs_per_sample("one-path"), R.macs_per_sample("all-paths")
    assert R.macs_per_sample("random") == one
    assert every["block1"] == 2 * one["block1"] and every["block2"] == 8 * one["block2"]
    assert every["routers"] == one["routers"] == 0


def test_the_raw_data_is_the_books_train_and_val_in_0_1():
    train_x, test_x = (s.x for s in R.fashion_mnist_raw())
    assert (len(train_x), len(test_x)) == (60_000, 10_000)
    assert train_x.min() == 0 and train_x.max() == 1
    assert torch.equal((train_x[:100] * 255).round() / 255, train_x[:100])
    ds = data.load_fashion_mnist()
    perm = torch.randperm(60_000, generator=torch.Generator().manual_seed(0))
    for split, idx in ((ds.val, perm[:3]), (ds.train, perm[5000:5003])):
        assert torch.allclose(ds.denormalize(split.x[:3]), train_x[idx], atol=1e-6)


# ---------------------------------------------------------------- training


def test_a_short_run_trains(tiny):
    """2 epochs (1 of warm-up) on 250 images, batch 25 so that batch norm's running
    statistics have settled: the loss falls and the training images are recognized well
    above chance."""
    tr, te = tiny
    recipe = dataclasses.replace(A.RECIPE, batch_size=25)
    net, info = R.train_arm("cigt", tr, te, epochs=2, recipe=recipe, progress=False)
    first, last = info["history"]["epochs"]
    assert first["warm_up"] and not last["warm_up"]
    assert last["ce"] < first["ce"]
    assert R.accuracy(net, tr) > 0.2
    assert info["recipe"]["warmup_epochs"] == 1
    assert info["recipe_requested"]["warmup_epochs"] == 25
    assert [e for e, _ in info["history"]["test"]] == [0, 1]
    assert info["test_acc_last_epoch"] == info["history"]["test"][-1][1]
    assert info["best_test_acc_selected_on_test"] == max(
        a for _, a in info["history"]["test"]
    )
    assert info["steps"] == 20 and info["final_temperature"] == A.RECIPE.temperature(20)
    assert len(R.test_routes(net, te)) == 2


def test_a_run_stopped_after_epoch_1_resumes_to_the_weights_of_an_unbroken_run(
    tiny, tmp_path, monkeypatch
):
    tr, te = tiny
    run = lambda **kw: R.train_arm("cigt", tr, te, epochs=2, seed=3, progress=False, **kw)  # noqa: E731
    unbroken, info = run()
    checkpoint, real_save = tmp_path / "run.partial.pt", train.save_checkpoint

    def save_then_stop(path, state):
        real_save(path, state)
        raise KeyboardInterrupt  # stopped just after epoch 1 was saved

    monkeypatch.setattr(train, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint=checkpoint)
    assert checkpoint.is_file()
    monkeypatch.setattr(train, "save_checkpoint", real_save)
    resumed, again = run(checkpoint=checkpoint)
    assert not checkpoint.exists()
    assert again["history"]["resumed_after"] == [1]
    a, b = unbroken.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert again["history"]["test"] == info["history"]["test"]
    assert again["final_temperature"] == info["final_temperature"]


# ---------------------------------------------------------------- the study


def test_the_study_records_both_accuracies_and_valid_entries(tiny, tmp_path, monkeypatch):
    """scripts/cigt_authors.py end to end on 250 images for 2 epochs: one record per
    run with the last epoch's and the best epoch's test accuracy, the routers' mutual
    information for CIGT, and schema entries against the one-path network."""
    import json
    from types import SimpleNamespace

    import cigt_authors as study  # scripts/cigt_authors.py

    from condcomp_lib import cache

    monkeypatch.setattr(cache, "ROOT", tmp_path)
    monkeypatch.setenv("CONDCOMP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "load_fashion_mnist", lambda seed=0: SimpleNamespace())
    monkeypatch.setattr(R, "fashion_mnist_raw", lambda: tiny)
    argv = ["--epochs", "2", "--models", "one-path", "cigt", "--seeds", "0"]
    assert budget_study.run(study.STUDY, argv + ["--threads", "1"]) == 0
    saved = json.loads((tmp_path / "results" / "04_cigt_authors.json").read_text())
    one, cigt_run = saved["runs"]
    assert cigt_run["best_test_acc_selected_on_test"] >= cigt_run["test_acc"]
    assert cigt_run["test_acc"] == cigt_run["test_acc_by_epoch"][-1][1]
    assert {"mi_router1_bits", "mi_router2_bits"} <= cigt_run.keys()
    assert (
        cigt_run["recipe"]["epochs"] == 2
        and cigt_run["recipe_requested"]["epochs"] == 150
    )
    assert one["train_images"] == 250 and "mi_router1_bits" not in one
    roles = {e["name"]: e["role"] for e in saved["methods"]}
    assert roles == {
        study.label("one-path", 2): "dense",
        study.label("cigt", 2): "method",
    }
    assert (tmp_path / "cache" / "cigt-authors-cigt-e2-n250-t50-seed0.pt").is_file()
