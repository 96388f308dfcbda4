"""Block policies (chapter 6): REINFORCE, the regularizers, the masked and routed MLP."""

import pytest
import torch
import torch.nn.functional as F

from condcomp_lib import cost
from condcomp_lib.data import Split
from condcomp_lib.methods import block_policies as bp
from condcomp_lib.methods import block_policy_runs as runs


def small_net(policy=True, mode=None, seed=0, tau=0.4):
    torch.manual_seed(seed)
    net = bp.BlockPolicyMLP(
        widths=(8, 12), blocks=4, tau=tau, policy=policy, in_features=6, classes=3
    ).double()
    if mode is not None:
        net.set_mode(mode)
    return net


def forward_with(net, x, execution, strategy="auto", seed=1):
    net.execution, net.strategy = execution, strategy
    net.generator = torch.Generator().manual_seed(seed)
    return net(x)


# ---------------------------------------------------------------- REINFORCE


def test_reinforce_is_unbiased_on_a_two_block_policy():
    """The averaged estimate equals the exact gradient of E[C] for two blocks."""
    torch.manual_seed(0)
    logits = torch.tensor([0.3, -0.8], dtype=torch.float64, requires_grad=True)
    table = torch.tensor([[1.0, 2.5], [0.5, 3.0]], dtype=torch.float64)  # C[u1, u2]

    def expected_cost(z):
        s = bp.block_probs(z)
        p1, p2 = torch.stack([1 - s[0], s[0]]), torch.stack([1 - s[1], s[1]])
        return (p1[:, None] * p2[None, :] * table).sum()

    (exact,) = torch.autograd.grad(expected_cost(logits), logits)

    n, batch = 64_000, 32
    u = torch.rand(n, 2, dtype=torch.float64) < bp.block_probs(logits).detach()
    c = table[u[:, 0].long(), u[:, 1].long()]

    def averaged(baseline):
        sigma = bp.block_probs(logits).expand(n, 2)
        parts = [
            bp.reinforce_loss(
                [sigma[i : i + batch]], [u[i : i + batch]], c[i : i + batch], baseline
            )
            for i in range(0, n, batch)
        ]
        return torch.autograd.grad(torch.stack(parts).mean(), logits)[0]

    assert torch.allclose(averaged("none"), exact, atol=0.015), (averaged("none"), exact)
    # the batch mean includes the example itself, which scales the estimate by 1 - 1/B
    est = averaged("mean")
    assert torch.allclose(est, (1 - 1 / batch) * exact, atol=0.015), (est, exact)
    # the authors' batch minimum is biased too, but points the same way
    est = averaged("min")
    assert F.cosine_similarity(est, exact, dim=0) > 0.95, (est, exact)


def test_score_is_the_gradient_of_the_log_probability():
    z = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    u = torch.rand(5, 3) < 0.5
    (g,) = torch.autograd.grad(bp.log_prob(bp.block_probs(z), u).sum(), z)
    assert torch.allclose(bp.score(bp.block_probs(z).detach(), u), g)


def test_probabilities_are_clipped_and_entropy_is_in_bits():
    s = bp.block_probs(torch.tensor([-100.0, 0.0, 100.0]))
    assert torch.allclose(s, torch.tensor([0.01, 0.5, 0.99]))
    assert bp.entropy_bits(s)[1].item() == pytest.approx(1.0)


def test_gradient_variances_list_every_baseline():
    sigma = torch.full((16, 4), 0.3, dtype=torch.float64)
    u = torch.rand(16, 4) < 0.3
    v = runs.gradient_variances([sigma], [u], torch.rand(16, dtype=torch.float64) + 5)
    assert set(v) == set(bp.BASELINES)
    # a cost far from zero: any baseline beats none
    assert v["mean"] < v["none"] and v["min"] < v["none"]


# ---------------------------------------------------------------- regularizers


def test_regularizers_match_a_hand_computed_case():
    sigma = torch.tensor([[0.2, 0.6], [0.4, 0.2]], dtype=torch.float64)
    tau = 0.25
    # batch means (0.3, 0.4); example means (0.4, 0.3)
    assert bp.batchwise(sigma, tau).item() == pytest.approx(0.05**2 + 0.15**2)
    assert bp.examplewise(sigma, tau).item() == pytest.approx(0.15**2 + 0.05**2)
    # variances over the batch (0.01, 0.04), over the blocks (0.04, 0.01)
    assert bp.variance(sigma).item() == pytest.approx(0.05 + 0.1 * 0.05)
    reg = bp.regularizer(sigma, tau, lambda_b=80, lambda_v=10)
    assert reg.item() == pytest.approx(80 * 0.025 + 0.08 * 0.025 - 10 * 0.055)


def test_regularizer_pulls_the_rate_towards_tau():
    z = torch.zeros(32, 4, requires_grad=True)  # sigma = 0.5 everywhere
    (g,) = torch.autograd.grad(bp.regularizer(bp.block_probs(z), 0.25, 80, 10), z)
    assert (g > 0).all()  # descending lowers the probabilities towards 0.25


# ---------------------------------------------------------------- the network


def test_policy_starts_at_tau():
    net = small_net(tau=0.25)
    s = bp.block_probs(net.policies[0](torch.zeros(1, 6, dtype=torch.float64)))
    assert torch.allclose(s, torch.full_like(s, 0.25))


@pytest.mark.parametrize("execution", bp.EXECUTIONS)
def test_masked_mlp_equals_the_dense_mlp_with_off_units_zeroed(execution):
    net = small_net(policy=False, mode="random")
    x = torch.randn(7, 6, dtype=torch.float64)
    y = forward_with(net, x, execution)
    h = x
    for layer, mask in zip(net.hidden, net.trace.masks):
        keep = mask.repeat_interleave(layer.out_features // 4, 1)
        h = torch.relu(layer(h)) * keep
    assert torch.allclose(y, net.out(h))
    assert (
        0
        < sum(m.sum() for m in net.trace.masks)
        < sum(m.numel() for m in net.trace.masks)
    )
    net.set_mode("dense")
    assert torch.allclose(
        net(x), net.out(torch.relu(net.hidden[1](torch.relu(net.hidden[0](x)))))
    )


@pytest.mark.parametrize("strategy", ["routed", "auto"])
@pytest.mark.parametrize("mode", ["sample", "threshold"])
def test_routed_execution_equals_masked_values_and_gradients(strategy, mode):
    net = small_net(mode=mode)
    x = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 3, (9,))
    results = []
    for execution in ("masked", "routed"):
        net.zero_grad()
        x.grad = None
        y = forward_with(net, x, execution, strategy)
        F.cross_entropy(y, target).backward()
        grads = [
            p.grad.clone() for p in [*net.hidden.parameters(), *net.out.parameters()]
        ]
        results.append((y.detach(), net.trace.masks, x.grad.clone(), grads))
    (y0, m0, gx0, g0), (y1, m1, gx1, g1) = results
    assert all(torch.equal(a, b) for a, b in zip(m0, m1))
    assert torch.allclose(y0, y1)
    assert torch.allclose(gx0, gx1)
    assert all(torch.allclose(a, b) for a, b in zip(g0, g1))


def test_threshold_mode_turns_on_blocks_above_one_half():
    net = small_net(mode="threshold")
    x = torch.randn(20, 6, dtype=torch.float64)
    net(x)
    for s, m in zip(net.trace.probs, net.trace.masks):
        assert torch.equal(m, s > 0.5)


def test_policy_does_not_train_the_network_and_the_network_not_the_policy():
    net = small_net(mode="sample")
    x = torch.randn(9, 6, dtype=torch.float64)
    nll = F.cross_entropy(
        forward_with(net, x, "routed"), torch.zeros(9).long(), reduction="none"
    )
    loss, _ = runs.policy_objective(net, nll, runs.PolicyRecipe())
    loss.backward()
    assert all(p.grad is None for p in net.hidden.parameters())
    assert all(p.grad is not None for p in net.policies.parameters())


@pytest.mark.parametrize("mode", ["sample", "random", "dense"])
def test_realized_macs_equal_the_hand_count(mode):
    net = small_net(policy=mode == "sample", mode=mode)
    x = torch.randn(11, 6, dtype=torch.float64)
    net.generator = torch.Generator().manual_seed(3)
    with torch.no_grad(), cost.RealizedMacs(net, len(x)) as counter:
        net(x)
    if mode == "dense":
        hand = torch.full((11,), 6.0 * 8 + 8 * 12 + 12 * 3, dtype=torch.float64)
    else:
        n1, n2 = (m.sum(1).double() for m in net.trace.masks)  # active blocks
        u1, u2 = 2 * n1, 3 * n2  # active units: blocks of 2 and of 3
        hand = 6 * u1 + u1 * u2 + u2 * 3
        if mode == "sample":
            hand = hand + 6 * 4 + u1 * 4  # the two policies read the active inputs
    assert torch.equal(counter.per_sample, hand)


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="split into"):
        bp.BlockPolicyMLP(widths=(10,), blocks=4)
    with pytest.raises(ValueError, match="tau"):
        bp.BlockPolicyMLP(widths=(8,), blocks=4, tau=1.5)
    net = small_net()
    with pytest.raises(ValueError, match="features"):
        net(torch.randn(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="mode"):
        net.set_mode("sometimes")
    with pytest.raises(ValueError, match="needs a network built with a policy"):
        small_net(policy=False).set_mode("threshold")
    with pytest.raises(ValueError, match="baseline"):
        bp.baseline_of(torch.ones(3), "median")
    with pytest.raises(ValueError, match="layers"):
        bp.reinforce_loss([torch.rand(2, 4)], [], torch.ones(2))
    with pytest.raises(ValueError, match="tau"):
        bp.regularizer(torch.rand(2, 4), 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="kind"):
        runs.train_block_mlp(None, "clever", 0.25, 1, 0)


# ---------------------------------------------------------------- runs and measures


def test_a_learned_policy_trains_and_logs():
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randn(96, 1, 28, 28, generator=g), torch.randint(0, 10, (96,)))
    net, info = runs.train_block_mlp(split, "learned", 0.25, epochs=1, seed=0)
    assert info["steps"] == 1 and len(info["log"]) == 1
    row = info["log"][0]
    assert {"nll", "rate1", "entropy3", "grad_var_min", "grad_var_mean"} <= set(row)
    out = runs.run(net, split, "threshold")
    assert len(out.masks) == 3 and out.masks[0].shape == (96, 16)
    assert out.macs.shape == (96,) and 0 <= out.accuracy <= 1


def test_information_counts_bits():
    y = torch.arange(8) % 4
    masks = [torch.stack([y == 0, y == 1, y >= 2], 1)]
    info = runs.class_block_information(y, masks)
    assert info["pattern"][0] == pytest.approx(1.5)  # H of (1/4, 1/4, 1/2)
