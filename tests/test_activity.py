"""Activity specialization (chapter 7): where groups fire, the specialized layers, the
runs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from condcomp_lib import cost
from condcomp_lib.data import Dataset, Split
from condcomp_lib.methods import activity as act
from condcomp_lib.methods import activity_runs as runs

WIDTHS = (4, 8, 8)


def small_net(seed=0, **kw):
    torch.manual_seed(seed)
    generic = act.GenericNet(widths=(4, 8), features=8)
    return act.ActivityNet(generic, WIDTHS, groups=2, **kw).double().eval()


def canvases(n, seed=0):
    return torch.randn(
        n,
        1,
        act.CANVAS,
        act.CANVAS,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(seed),
    )


def partial_route(b, groups=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, groups, act.GRID, act.GRID, generator=g) < 0.3


# ---------------------------------------------------------------- where groups fire


def test_group_activity_is_the_mean_of_each_groups_features():
    f = torch.arange(2 * 4 * 1 * 1, dtype=torch.float32).view(2, 4, 1, 1)
    a = act.group_activity(f, 2)
    assert a.shape == (2, 2, 1, 1)
    assert a[0, :, 0, 0].tolist() == [0.5, 2.5] and a[1, :, 0, 0].tolist() == [4.5, 6.5]
    with pytest.raises(ValueError, match="do not divide"):
        act.group_activity(f, 3)


def test_firing_route_matches_a_hand_made_case():
    a = torch.zeros(1, 2, 2, 2)
    a[0, 0] = torch.tensor([[4.0, 2.0], [1.0, 0.0]])  # peak 4
    # group 1 is silent: it computes nothing, at any threshold
    r = act.firing_route(a, 0.5)
    assert r[0, 0].tolist() == [[True, True], [False, False]]
    assert not r[0, 1].any()
    # tau 0: every cell with any activity; tau 1: the peak alone
    assert act.firing_route(a, 0.0)[0, 0].tolist() == [[True, True], [True, False]]
    assert act.firing_route(a, 1.0)[0, 0].tolist() == [[True, False], [False, False]]
    with pytest.raises(ValueError, match="tau"):
        act.firing_route(a, 1.5)


def test_random_route_keeps_each_images_count_per_group():
    route = partial_route(16, groups=3)
    rand = act.random_route(route, torch.Generator().manual_seed(1))
    assert torch.equal(rand.sum((2, 3)), route.sum((2, 3)))
    assert not torch.equal(rand, route)  # the places are new
    again = act.random_route(route, torch.Generator().manual_seed(1))
    assert torch.equal(rand, again)  # and reproducible from the seed


# ---------------------------------------------------------------- the layers


def dense_specialized(net, x):
    """The specialized pass written densely: every layer an ordinary convolution, plus
    the 1x1 convolution of the generic map upsampled by nearest neighbour, then ReLU."""
    generic = net.generic.features(x)
    h = x
    for layer in (net.s1, net.s2, net.s3):
        c = layer.conv
        y = F.conv2d(h, c.weight, c.bias, c.stride, c.padding)
        up = F.interpolate(generic, size=y.shape[2:], mode="nearest")
        h = F.relu(y + F.conv2d(up, layer.generic.weight))
    return h.amax((2, 3))


@pytest.mark.parametrize("execution", act.EXECUTIONS)
@pytest.mark.parametrize("strategy", ["routed", "dense", "auto"])
def test_every_tile_on_equals_the_dense_specialized_layers(execution, strategy):
    net = small_net().set_routing("all").set_execution(execution).set_strategy(strategy)
    x = canvases(3)
    with torch.no_grad():
        generic = net.generic.features(x)
        got = net.full_resolution(x, generic, net.route(generic))
        want = dense_specialized(net, x)
    torch.testing.assert_close(got, want)


def test_off_tiles_are_exact_zeros_and_union_equals_groups():
    net = small_net()
    x, route = canvases(4), partial_route(4)
    generic = net.generic.features(x)
    outs = {}
    for execution in act.EXECUTIONS:
        net.set_execution(execution)
        with torch.no_grad():
            h = net.s2(net.s1(x, generic, route), generic, route)  # [4, 8, 42, 42]
        outs[execution] = h
        # group g's channels are zero on every tile where g is off
        tiles = h.view(4, 2, 4, act.GRID, 6, act.GRID, 6)
        off = ~route[:, :, None, :, None, :, None].expand_as(tiles)
        assert (tiles[off] == 0).all()
    torch.testing.assert_close(outs["union"], outs["groups"])


def test_routed_and_masked_training_give_the_same_gradients():
    x, y, route = canvases(3), torch.tensor([1, 0, 7]), partial_route(3)
    grads, outs = {}, {}
    for strategy in ("routed", "dense"):
        net = small_net().set_strategy(strategy)
        net.train()
        generic = net.generic.features(x)
        spec = net.full_resolution(x, generic, route)
        outs[strategy] = spec.detach()
        z = torch.cat([spec, generic.amax((2, 3))], 1)
        F.cross_entropy(net.fc(z), y).backward()
        grads[strategy] = [p.grad for p in net.parameters() if p.requires_grad]
    # training's dense form convolves unmasked and lets the ReLU zero the off tiles: the
    # same values as the routed form
    torch.testing.assert_close(outs["dense"], outs["routed"])
    assert len(grads["routed"]) == 3 * 3 + 2  # conv weight, bias, generic 1x1; the fc
    for a, b in zip(grads["routed"], grads["dense"]):
        torch.testing.assert_close(a, b)


def test_generic_network_stays_frozen_and_macs_follow_the_route():
    net = small_net()
    assert not any(p.requires_grad for p in net.generic.parameters())
    x = canvases(5)
    all_on = cost.realized_macs(net.set_routing("all"), x)
    learned = cost.realized_macs(net.set_routing("learned"), x)
    frac = net.last_route.double().mean((1, 2, 3))  # per image
    # the specialized convolutions scale with the image's active fraction; the generic
    # network, the 1x1 terms and the classifier do not
    spec = sum(
        c.out_channels * c.in_channels * c.kernel_size**2 * n
        for c, n in (
            (net.s1.conv, 42 * 42),
            (net.s2.conv, 42 * 42),
            (net.s3.conv, 21 * 21),
        )
    )
    torch.testing.assert_close(all_on - learned, spec * (1 - frac))
    assert torch.all(learned < all_on)


def test_bad_settings_fail_clearly():
    net = small_net()
    with pytest.raises(ValueError, match="routing"):
        net.set_routing("sometimes")
    with pytest.raises(ValueError, match="execution"):
        net.set_execution("tiles")
    with pytest.raises(ValueError, match="do not divide"):
        act.SpecializedConv(1, 6, 3, 1, 1, 8, groups=4)


# ---------------------------------------------------------------- measures and runs


def test_object_cells_match_hand_made_boxes():
    cells = runs.object_cells(np.array([[0, 0], [12, 40], [56, 56]]))
    rows = lambda i: cells[i].any(1).nonzero().flatten().tolist()  # noqa: E731
    cols = lambda i: cells[i].any(0).nonzero().flatten().tolist()  # noqa: E731
    assert rows(0) == [0, 1, 2] and cols(0) == [0, 1, 2]  # pixels 0-27
    assert rows(1) == [1, 2, 3] and cols(1) == [3, 4, 5]  # 12-39 and 40-67
    assert rows(2) == [4, 5, 6] and cols(2) == [4, 5, 6]  # 56-83
    assert cells[0].sum() == 9


def test_on_object_counts_precision_and_coverage():
    boxes = np.array([[0, 0]])  # the item covers cells 0-2 x 0-2
    route = torch.zeros(1, 2, 7, 7, dtype=torch.bool)
    route[0, 0, 0, 0] = route[0, 0, 6, 6] = True  # one tile on the item, one off
    route[0, 1, 1, 1] = True
    m = runs.on_object(route, boxes)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["coverage"] == pytest.approx(2 / 9)
    assert m["item_cells"] == pytest.approx(9 / 49)


def tiny_data(n=48):
    g = torch.Generator().manual_seed(0)

    def split(m):
        x = torch.randn(m, 1, act.CANVAS, act.CANVAS, generator=g)
        return Split(x, torch.randint(0, 10, (m,), generator=g))

    return Dataset(split(n), split(16), split(16), [str(i) for i in range(10)], 0.0, 1.0)


def test_runs_train_cache_and_measure(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDCOMP_CACHE", str(tmp_path))
    monkeypatch.setitem(
        runs.SETUPS, "quick", runs.Setup(48, 16, 1, 1, (4, 8, 8), (32, 32, 32))
    )
    data = tiny_data()
    generic, _ = runs.trained("generic", data, "quick")
    learned, info = runs.trained("learned", data, "quick", generic=generic)
    assert info["kind"] == "learned" and learned.s1.strategy == "auto"
    assert len(list(tmp_path.glob("activity-*.pt"))) == 2
    again, _ = runs.trained("learned", data, "quick", generic=generic)  # from the cache
    for a, b in zip(learned.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    m = runs.measure(learned, data.test)
    assert 0 <= m["accuracy"] <= 1 and 0 < m["active_fraction"] <= 1
    assert m["routes"].shape == (16, 4, 7, 7)
    with pytest.raises(ValueError, match="generic network"):
        runs.trained("random", data, "quick")
    with pytest.raises(ValueError, match="kind"):
        runs.trained("sparse", data, "quick")


def test_a_seeds_set_holds_every_kind_on_its_own_generic_network(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDCOMP_CACHE", str(tmp_path))
    monkeypatch.setitem(
        runs.SETUPS, "quick", runs.Setup(48, 16, 1, 1, (4, 8, 8), (32, 32, 32))
    )
    data = tiny_data()
    nets, infos = runs.trained_set(data, "quick", seed=1)
    assert tuple(nets) == runs.KINDS and all(i["seed"] == 1 for i in infos.values())
    # one cached file per kind: the keys tell the kinds apart
    assert len(list(tmp_path.glob("activity-*seed1*.pt"))) == len(runs.KINDS)
    for kind in runs.SPECIALIZED:
        assert nets[kind].generic is nets["generic"]
    # (c'): one group per generic feature, with the setup's per-feature widths
    per = nets["per_feature"]
    assert per.groups == nets["generic"].n_features == 32
    assert (
        per.s1.conv.weight.shape[0] == 32 and infos["per_feature"]["widths"] == [32] * 3
    )
    m = runs.measure(per, data.test)
    assert m["routes"].shape == (16, 32, 7, 7)
    # (e): every tile on, so its MACs are the most of the specialized networks
    m_all = runs.measure(nets["all"], data.test)
    assert m_all["active_fraction"] == 1.0
    assert m_all["macs"] >= runs.measure(nets["learned"], data.test)["macs"]


def test_the_recorded_seeds_say_what_is_missing(tmp_path, monkeypatch):
    from condcomp_lib import cache

    monkeypatch.setattr(cache, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    with pytest.raises(RuntimeError, match="activity_study.py"):
        runs.recorded()  # nothing recorded yet
    path = tmp_path / "results" / f"{runs.STUDY}.json"
    claims_arms = ("generic", "learned", "per_feature")
    records = [
        {"model": k, "seed": s, "test_acc": 0.7 + s / 100, "epochs": 6,
         "train_images": 20_000}
        for k in claims_arms[:-1] for s in (0, 1)
    ]  # fmt: skip
    path.write_text(json.dumps({"runs": records}))
    with pytest.raises(RuntimeError, match="per_feature"):
        runs.recorded()  # an arm of the claims is missing
    records.append({**records[0], "model": "per_feature"})
    path.write_text(json.dumps({"runs": records}))
    acc = runs.recorded()  # the controls not reached yet: absent, not an error
    assert list(acc) == list(claims_arms) and "dense" not in acc
    assert acc["generic"] == {0: 0.7, 1: 0.71} and acc["per_feature"] == {0: 0.7}
    records.append({**records[0], "model": "random", "seed": 2})
    path.write_text(json.dumps({"runs": records}))
    assert runs.recorded()["random"] == {2: 0.7}


def test_the_study_script_refuses_an_unknown_network_or_budget():
    root = Path(__file__).resolve().parent.parent
    script = [sys.executable, str(root / "scripts" / "activity_study.py")]
    bad = subprocess.run([*script, "--models", "dense"], capture_output=True, text=True)
    assert bad.returncode != 0 and "one of" in bad.stderr
    sys.path.insert(0, str(root / "scripts"))
    import activity_study

    with pytest.raises(ValueError, match="6 epochs"):
        activity_study.train("learned", None, 3, 0)


def test_the_entries_follow_the_schema_and_the_chapters_roles():
    from condcomp_lib import results_schema

    s = runs.get_setup("full")
    acc = {k: {0: 0.7, 1: 0.72, 2: 0.71} for k in runs.KINDS}
    macs = {k: 1e6 * (i + 1) for i, k in enumerate(runs.KINDS)}
    out = runs.entries(acc, macs, 2.5e6, 0.4, noisy=True, s=s)
    results_schema.check(runs.CHAPTER, out)  # raises on a bad entry
    by = {m["name"]: m for m in out}
    assert [by[runs.NAMES[k]]["role"] for k in runs.KINDS] == [
        "dense", "dense", "method", "method", "control", "control"
    ]  # fmt: skip
    assert by[runs.NAMES["learned"]]["accuracy"]["seeds"] == 3
    union = by["(c) specialized, executed by union"]
    assert union["latency_b1_ratio"] == 0.4 and "noisy" in union["note"]
    assert union["macs"]["relative"] == 2.5e6 / macs["dense"]
    assert "32, 64, 128" in by[runs.NAMES["per_feature"]]["note"]
