"""Unit tests of condcomp_lib.methods.cigt (chapter 4): small random networks only."""

import math

import pytest
import torch

from condcomp_lib import cost, information
from condcomp_lib.methods import cigt
from condcomp_lib.models import LeNetWidths

SMALL = LeNetWidths(4, 8, 16, 32, 16)  # every width divisible by its block's path count


def small_net(seed=0, **kw):
    torch.manual_seed(seed)
    return cigt.LeNetCIGT(SMALL, **kw)


def inputs(n=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


# ---------------------------------------------------------------- information gain


def test_information_gain_of_an_independent_table_is_zero():
    p_c = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    p_n = torch.tensor([0.25, 0.75], dtype=torch.float64)
    joint = p_c[:, None] * p_n[None, :]
    assert abs(cigt.information_gain_of_table(joint).item()) < 1e-12


def test_information_gain_of_a_perfectly_informative_table_is_the_class_entropy():
    # each class goes to exactly one route: the route tells the class, I(C;N) = H(C)
    joint = torch.diag(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    h_c = -sum(p * math.log(p) for p in (0.1, 0.2, 0.3, 0.4))
    assert cigt.information_gain_of_table(joint).item() == pytest.approx(h_c, abs=1e-12)


def test_beta_weights_the_route_entropy():
    joint = torch.tensor([[0.5, 0.0], [0.25, 0.25]], dtype=torch.float64)
    h_n = cigt.entropy(joint.sum(0))
    gap = cigt.information_gain_of_table(joint, 2.5) - cigt.information_gain_of_table(
        joint
    )
    assert gap.item() == pytest.approx(1.5 * h_n.item())


def test_minibatch_table_and_hard_route_mutual_information():
    y = torch.tensor([0, 0, 1, 1])
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    table = cigt.joint_table(p, y, 2)
    assert torch.allclose(table, torch.tensor([[0.5, 0.0], [0.0, 0.5]]))
    assert cigt.information_gain(p, y, 2).item() == pytest.approx(math.log(2), abs=1e-6)
    assert information.mutual_information_bits(y, torch.tensor([0, 0, 1, 1])) == 1.0
    routes = torch.tensor([0, 1, 0, 1])
    assert information.mutual_information_bits(y, routes) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- temperature


def test_temperature_follows_the_formula():
    s = cigt.Schedule(t0=25.0, decay=0.9999, floor=0.1, warmup_steps=100)
    assert cigt.temperature(0, s) == 25.0
    assert cigt.temperature(100, s) == 25.0  # decay starts after warm-up
    for step in (101, 1000, 20_000):
        assert cigt.temperature(step, s) == pytest.approx(25.0 * 0.9999 ** (step - 100))
    assert cigt.temperature(10**6, s) == 0.1  # the floor
    net = small_net(schedule=s)
    net.set_step(1000)
    assert net.temperature == pytest.approx(25.0 * 0.9999**900)


def test_a_schedule_scaled_to_its_budget_reaches_the_floor_at_the_last_step():
    s = cigt.Schedule.reaching_floor(6450, warmup_steps=1290)
    assert cigt.temperature(1290, s) == 25.0
    assert cigt.temperature(6448, s) > 0.1
    assert cigt.temperature(6449, s) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="warmup_steps"):
        cigt.Schedule.reaching_floor(100, warmup_steps=99)


# ---------------------------------------------------------------- the network


def test_gradient_flows_to_the_routers_through_the_information_gain():
    net = small_net(schedule=cigt.Schedule(warmup_steps=0)).train()
    x, y = inputs()
    loss, _ = cigt.cigt_loss(net, x, y)
    loss.backward()
    for router in (net.router1, net.router2):
        for p in router.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0


def test_routes_carry_no_classification_gradient_to_the_routers():
    # hard routing: the cross-entropy alone does not reach the routers
    net = small_net().train()
    x, y = inputs()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    assert all(
        p.grad is None or p.grad.abs().sum() == 0 for p in net.router2.parameters()
    )


@torch.no_grad()
def test_a_forward_pass_realizes_exactly_one_path_per_block():
    net = small_net().eval()
    net.strategy = "buckets"  # dispatched: each sample runs its own path only
    x, _ = inputs(64)
    out = net.run(x)
    assert len(out.routes[0].unique()) > 1 or len(out.routes[1].unique()) > 1
    hand = sum(cigt.path_macs(SMALL).values())
    assert torch.all(cost.realized_macs(net, x) == hand)


@torch.no_grad()
def test_the_trellis_equals_a_dense_path_computation():
    # a sample on paths (i, j) gets exactly what the dense slices of path (i, j) compute
    net = small_net().eval()
    x, _ = inputs(6)
    out = net.run(x)
    F = torch.nn.functional
    c2, c3, f1, f2 = 4, 4, 8, 4  # per-path widths of SMALL
    w2, b2 = net.conv2.wide_weight(), net.conv2.wide_bias()
    w3, b3 = net.conv3.wide_weight(), net.conv3.wide_bias()
    (wf1, bf1), (wf2, bf2), (wl, bl) = [
        (m.wide_weight(), m.wide_bias()) for m in (net.fc1, net.fc2, net.leaves)
    ]
    for b in range(len(x)):
        i, j = int(out.routes[0][b]), int(out.routes[1][b])
        h = F.max_pool2d(F.relu(net.conv1(x[b : b + 1])), 2)
        h = F.conv2d(h, w2[i * c2 : (i + 1) * c2], b2[i * c2 : (i + 1) * c2], padding=2)
        h = F.max_pool2d(F.relu(h), 2)
        w = w3[j * c3 : (j + 1) * c3, i * c2 : (i + 1) * c2]
        h = F.max_pool2d(F.relu(F.conv2d(h, w, b3[j * c3 : (j + 1) * c3])), 2).flatten(1)
        w = wf1[j * f1 : (j + 1) * f1, j * c3 * 9 : (j + 1) * c3 * 9]
        h = F.relu(F.linear(h, w, bf1[j * f1 : (j + 1) * f1]))
        w = wf2[j * f2 : (j + 1) * f2, j * f1 : (j + 1) * f1]
        h = F.relu(F.linear(h, w, bf2[j * f2 : (j + 1) * f2]))
        w = wl[j * 10 : (j + 1) * 10, j * f2 : (j + 1) * f2]
        logits = F.linear(h, w, bl[j * 10 : (j + 1) * 10])
        assert torch.allclose(out.logits[b : b + 1], logits, atol=1e-5)


def test_routing_with_all_samples_on_one_path_works():
    net = small_net().train()
    x, y = inputs(16)
    net.forced_routes = [torch.ones(16, dtype=torch.long), torch.full((16,), 3)]
    loss, logits = cigt.cigt_loss(net, x, y)
    loss.backward()
    assert logits.shape == (16, 10) and torch.isfinite(loss)
    # only path 1 of conv2 and path 3 of the leaves learned from the classification
    g2, gl = net.conv2.weight.grad, net.leaves.weight.grad  # [paths, ...] each
    assert g2[0].abs().sum() == 0 and g2[1].abs().sum() > 0
    assert gl[:3].abs().sum() == 0 and gl[3].abs().sum() > 0
    with torch.no_grad():
        assert torch.all(
            cost.realized_macs(net.eval(), x) == sum(cigt.path_macs(SMALL).values())
        )


def test_warm_up_routes_at_random_and_eval_uses_the_argmax():
    net = small_net(schedule=cigt.Schedule(warmup_steps=10), random_share=0.0).train()
    x, _ = inputs(256)
    torch.manual_seed(0)
    warm = net.run(x)
    argmax = warm.probs[1].argmax(1)
    assert (warm.routes[1] != argmax).float().mean() > 0.5  # random: ~3/4 differ
    net.set_step(10)
    after = net.run(x)
    assert torch.equal(after.routes[1], after.probs[1].argmax(1))  # share 0: pure argmax
    net.eval()
    out = net.run(x)
    assert torch.equal(out.routes[0], out.probs[0].argmax(1))


# ---------------------------------------------------------------- execution


@pytest.mark.parametrize("batch", [2, 5, 64])  # batch norm trains on 2 or more
@pytest.mark.parametrize("strategy", ["buckets", "dense"])
def test_dispatched_blocks_equal_the_per_layer_reference_with_gradients(batch, strategy):
    # training mode (batch-norm statistics of the batch), no dropout, routes forced alike
    net = small_net(dropout=0.0).train()
    net.strategy = strategy
    x, y = inputs(batch)
    g = torch.Generator().manual_seed(batch)
    net.forced_routes = [
        torch.randint(0, 2, (batch,), generator=g),
        torch.randint(0, 4, (batch,), generator=g),
    ]
    runs = {}
    for name, run in (("dispatched", net.run), ("per layer", net.run_per_layer)):
        net.zero_grad()
        out = run(x)
        torch.nn.functional.cross_entropy(out.logits, y).backward()
        runs[name] = (
            out.logits,
            {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None},
        )
    (a, ga), (b, gb) = runs["dispatched"], runs["per layer"]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert ga.keys() == gb.keys()
    for name in ga:
        torch.testing.assert_close(
            ga[name], gb[name], rtol=1e-3, atol=1e-5, msg=lambda m: f"{name}: {m}"
        )


def test_parameters_are_the_usable_ones():
    thick = cigt.LeNetCIGT()
    fc = lambda n_in, n_out, k: n_in * n_out // k + n_out  # block diagonal, k paths
    wide_fc = sum(i * o + o for i, o in ((1152, 512), (512, 256), (256, 40)))
    path_fc = fc(1152, 512, 4) + fc(512, 256, 4) + fc(256, 40, 4)
    assert (
        cost.count_params(thick.fc1)
        + cost.count_params(thick.fc2)
        + cost.count_params(thick.leaves)
        == path_fc
        < wide_fc
    )


@torch.no_grad()
def test_the_folded_router_follows_its_weights():
    net = small_net().eval()
    h = torch.randn(5, 4, 14, 14)
    with torch.enable_grad():
        layered = net.router1(h)  # with gradients: the four layers one by one
    torch.testing.assert_close(net.router1(h), layered, rtol=1e-5, atol=1e-6)
    net.router1.out.weight.mul_(3)  # changed in place: folded again
    with torch.enable_grad():
        layered = net.router1(h)
    torch.testing.assert_close(net.router1(h), layered, rtol=1e-5, atol=1e-6)
    net.router1.double()  # moved: folded again
    assert net.router1(h.double()).dtype == torch.float64


# ---------------------------------------------------------------- runs and controls


def tiny_split(n=200, seed=2):
    from condcomp_lib.data import Split

    return Split(*inputs(n, seed))


def test_the_random_routing_control_has_no_information_gain_and_random_routes():
    from condcomp_lib.methods import cigt_runs

    net, info = cigt_runs.train_cigt(tiny_split(), 1, 0, routing="random", desc="t")
    assert info["decision_weight"] == 0.0 and info["random_share"] == 1.0
    assert info["steps"] == 2 and len(info["log"]) == 2  # 200 images, batch 128
    assert net.temperature == pytest.approx(0.1)  # the decay reaches the floor
    with pytest.raises(ValueError, match="routing"):
        cigt_runs.train_cigt(tiny_split(), 1, 0, routing="argmax")


def test_accuracy_counts_the_routers_choices_or_reproducible_random_routes():
    from condcomp_lib.methods import cigt_runs

    net = cigt.LeNetCIGT()
    split = tiny_split(300)
    learned = cigt_runs.accuracy(net, split)
    expected = (net.eval()(split.x).argmax(1) == split.y).float().mean().item()
    assert learned == pytest.approx(expected)
    first = cigt_runs.accuracy(net, split, "random", seed=3)
    assert first == cigt_runs.accuracy(net, split, "random", seed=3)
    assert net.forced_routes is None  # put back after use
    with pytest.raises(ValueError, match="routing"):
        cigt_runs.accuracy(net, split, "argmax")


def test_a_cached_run_is_not_trained_again(tmp_path, monkeypatch):
    from condcomp_lib import data
    from condcomp_lib.methods import cigt_runs

    monkeypatch.setenv("CONDCOMP_CACHE", str(tmp_path))
    small = tiny_split(150)
    ds = data.Dataset(small, small, small, tuple(range(10)), 0.0, 1.0)
    net, info = cigt_runs.cigt_run(ds, "quick", 0, epochs=1, routing="random")
    calls = []
    monkeypatch.setattr(cigt_runs, "train_cigt", lambda *a, **k: calls.append(a))
    again, info2 = cigt_runs.cigt_run(ds, "quick", 0, epochs=1, routing="random")
    assert not calls and info2["steps"] == info["steps"] == 2
    assert all(
        torch.equal(a, b)
        for a, b in zip(net.state_dict().values(), again.state_dict().values())
    )
