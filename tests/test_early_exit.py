"""Unit tests of condcomp_lib.methods.early_exit (chapters 1 and 2): small random networks
only."""

import pytest
import torch
from torch import nn

from condcomp_lib import cost
from condcomp_lib.methods import b_lenet, early_exit as ee
from condcomp_lib.methods.cascade import Cascade
from condcomp_lib.models import LeNet, LeNetWidths

SMALL = LeNetWidths(4, 6, 8, 16, 12)


def two_exit_net(seed=0):
    """A small LeNet with exits after conv1 and conv2, random weights."""
    torch.manual_seed(seed)
    backbone = LeNet(SMALL).eval()
    heads = {
        "conv1": b_lenet.lenet_branch(SMALL.conv1, width=3),
        "conv2": nn.Sequential(
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(SMALL.conv2 * 4, 10)
        ),
    }
    return ee.ExitNetwork(backbone, heads).eval()


def inputs(n=64, seed=1):
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def median_entropy_rule(net, x):
    """Thresholds at each exit's median entropy, so that some samples leave and some
    stay."""
    outs = net.all_exits(x)
    return ee.EntropyRule([ee.entropy(z).median().item() for z in outs[:-1]])


@torch.no_grad()
def test_attaching_exits_leaves_backbone_output_unchanged():
    net, x = two_exit_net(), inputs()
    before = net.backbone(x)
    outs = net(x)  # all exits, final last
    assert len(outs) == 3
    assert torch.equal(outs[-1], before)
    assert torch.equal(net.backbone(x), before)  # no hook left behind
    assert not net.backbone.conv1._forward_hooks


@torch.no_grad()
def test_compaction_matches_rule_applied_to_every_exit():
    net, x = two_exit_net(), inputs()
    for rule in (
        median_entropy_rule(net, x),
        ee.MaxProbRule([0.12, 0.11]),
        ee.EntropyRule(10.0),
    ):
        idx_ref, logits_ref = ee.simulate(ee.all_exit_logits(net, x), rule)
        net.rule = rule
        out = net(x)
        assert torch.equal(out.exit_index, idx_ref)
        torch.testing.assert_close(out.logits, logits_ref)
        assert torch.equal(out.logits.argmax(1), logits_ref.argmax(1))
    fr = ee.exit_fractions(idx_ref, net.n_exits)
    assert fr[0] == 1.0  # threshold 10 > ln 10: all leave at once


@torch.no_grad()
def test_batch1_sample_returns_at_first_exit():
    net, x = two_exit_net(), inputs(1)
    net.rule = ee.EntropyRule(10.0)  # everybody leaves at exit 0
    seen = []
    h = net.backbone.conv2.register_forward_hook(lambda *a: seen.append(1))
    try:
        out = net(x)
    finally:
        h.remove()
    assert out.exit_index.tolist() == [0] and not seen


@torch.no_grad()
def test_realized_macs_equal_hand_computed_costs():
    net, x = two_exit_net(), inputs()
    per_exit = ee.exit_macs(net, (1, 28, 28))
    # by hand: backbone layers up to the exit point, plus every head on the way
    layers = {r.name: r.macs for r in cost.dense_costs(net.backbone, (1, 28, 28))}
    head = [cost.dense_macs(h, s) for h, s in zip(net.exits, [(4, 28, 28), (6, 14, 14)])]
    assert per_exit == [
        layers["conv1"] + head[0],
        layers["conv1"] + layers["conv2"] + head[0] + head[1],
        sum(layers.values()) + head[0] + head[1],
    ]
    net.rule = median_entropy_rule(net, x)
    with cost.RealizedMacs(net, len(x)) as macs:
        out = net(x)
    expected = torch.tensor(per_exit, dtype=torch.float64)[out.exit_index]
    assert len(set(out.exit_index.tolist())) == 3  # all three exits taken
    assert torch.equal(macs.per_sample, expected)


def test_label_peeking_rule_is_refused_unless_labels_are_given():
    net, x = two_exit_net(), inputs()
    oracle = ee.OracleLossRule(0.5)
    with pytest.raises(ValueError, match="true label"):
        net.rule = oracle
    logits = ee.all_exit_logits(net, x)
    with pytest.raises(ValueError, match="labels"):
        ee.simulate(logits, oracle)
    y = torch.randint(0, 10, (len(x),))
    idx, _ = ee.simulate(
        logits, oracle, labels=y
    )  # explicit: an upper bound for analysis
    assert idx.shape == (len(x),)


def test_deployable_rules_ignore_labels():
    net, x = two_exit_net(), inputs()
    logits = ee.all_exit_logits(net, x)
    rule = median_entropy_rule(net, x)
    y = torch.randint(0, 10, (len(x),))
    a, _ = ee.simulate(logits, rule, labels=y)
    b, _ = ee.simulate(logits, rule, labels=y[torch.randperm(len(y))])
    assert torch.equal(a, b)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="no module named 'conv9'"):
        ee.ExitNetwork(LeNet(SMALL), {"conv9": nn.Identity()})
    with pytest.raises(ValueError, match="at least one exit"):
        ee.ExitNetwork(LeNet(SMALL), {})
    net = two_exit_net()
    with pytest.raises(ValueError, match="3 thresholds but the network has 2"):
        net.rule = ee.EntropyRule([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="thresholds"):
        ee.simulate(ee.all_exit_logits(net, inputs(4)), ee.MaxProbRule([0.5]))
    backwards = ee.ExitNetwork(
        LeNet(SMALL), {"conv2": nn.Identity(), "conv1": nn.Identity()}
    )
    with pytest.raises(RuntimeError, match="order"):
        backwards.all_exits(inputs(2))


def test_weighted_exit_loss_trains_every_exit():
    net, x = two_exit_net(), inputs(16)
    y = torch.randint(0, 10, (16,))
    net.train()
    value, logits = ee.weighted_exit_loss([1.0, 0.5, 1.0])(net, x, y)
    value.backward()
    assert logits.shape == (16, 10)
    assert all(h[-1].weight.grad is not None for h in net.exits)
    with pytest.raises(ValueError, match="weights"):
        ee.weighted_exit_loss([1.0, 1.0])(net, x, y)


@torch.no_grad()
def test_cascade_runs_the_big_network_only_for_samples_that_go_on():
    torch.manual_seed(0)
    small, big = LeNet(LeNetWidths(2, 2, 2, 8, 8)).eval(), LeNet(SMALL).eval()
    x = inputs()
    z_small, z_big = small(x), big(x)
    rule = ee.EntropyRule(ee.entropy(z_small).median().item())
    idx_ref, logits_ref = ee.simulate([z_small, z_big], rule)
    cascade = Cascade([small, big], rule)
    with cost.RealizedMacs(cascade, len(x)) as macs:
        out = cascade(x)
    assert torch.equal(out.exit_index, idx_ref)
    torch.testing.assert_close(out.logits, logits_ref)
    c_small, c_big = (
        cost.dense_macs(small, (1, 28, 28)),
        cost.dense_macs(big, (1, 28, 28)),
    )
    assert torch.equal(macs.per_sample, c_small + c_big * (idx_ref == 1).double())
    with pytest.raises(ValueError, match="true label"):
        cascade.rule = ee.OracleLossRule(0.1)
