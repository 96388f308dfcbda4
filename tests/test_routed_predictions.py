"""CIGT and early exit predict exactly what they predicted before routed blocks were
dispatched: the weights and predictions in ``data/per_layer_predictions.pt`` were recorded
with the per-layer routed execution (``data/record_per_layer_predictions.py`` says how),
and today's code, loading those weights, must give the same routes, exits and classes."""

import pathlib

import pytest
import torch
from torch import nn

from condcomp_lib.methods import b_lenet, cigt, early_exit as ee
from condcomp_lib.methods.cascade import Cascade
from condcomp_lib.models import LeNet, LeNetWidths

RECORD = torch.load(
    pathlib.Path(__file__).with_name("data") / "per_layer_predictions.pt",
    weights_only=True,
)


def inputs():
    return torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def recorded_cigt():
    """The recorded CIGT; its checkpoint has the wide layout, which loads as blocks."""
    net = cigt.LeNetCIGT(LeNetWidths(4, 8, 16, 32, 16))
    net.load_state_dict(RECORD["cigt"]["state_dict"])
    return net.eval()


@pytest.mark.parametrize("strategy", ["auto", "buckets", "dense"])
@torch.no_grad()
def test_cigt_routes_and_predictions_are_unchanged(strategy):
    rec, net, x = RECORD["cigt"], recorded_cigt(), inputs()
    net.strategy = strategy
    out = net.run(x)
    for got, want in zip(out.routes, rec["routes"]):
        assert torch.equal(got, want)
    assert torch.equal(out.logits.argmax(1), rec["logits"].argmax(1))
    torch.testing.assert_close(out.logits, rec["logits"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net(x), out.logits)
    one_by_one = torch.cat([net(x[i : i + 1]) for i in range(8)])
    assert torch.equal(one_by_one.argmax(1), rec["logits_b1"].argmax(1))
    torch.testing.assert_close(one_by_one, rec["logits_b1"], rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_cigt_per_layer_reference_is_the_recorded_execution():
    rec, net, x = RECORD["cigt"], recorded_cigt(), inputs()
    out = net.run_per_layer(x)
    assert torch.equal(out.logits.argmax(1), rec["logits"].argmax(1))
    torch.testing.assert_close(out.logits, rec["logits"], rtol=1e-6, atol=1e-6)


def recorded_exit_network():
    small = LeNetWidths(4, 6, 8, 16, 12)
    heads = {
        "conv1": b_lenet.lenet_branch(small.conv1, width=3),
        "conv2": nn.Sequential(
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(small.conv2 * 4, 10)
        ),
    }
    net = ee.ExitNetwork(LeNet(small), heads)
    net.load_state_dict(RECORD["early_exit"]["state_dict"])
    net.eval().rule = ee.EntropyRule(RECORD["early_exit"]["thresholds"])
    return net


@torch.no_grad()
def test_early_exit_exits_and_predictions_are_unchanged():
    rec, net, x = RECORD["early_exit"], recorded_exit_network(), inputs()
    out = net(x)
    assert torch.equal(out.exit_index, rec["exit_index"])
    # equal up to rounding: another CPU's kernels may round the last bit differently
    torch.testing.assert_close(out.logits, rec["logits"], rtol=1e-5, atol=1e-6)
    one = [net(x[i : i + 1]) for i in range(16)]  # the batch-1 path
    assert torch.equal(torch.cat([o.exit_index for o in one]), rec["exit_index_b1"])
    torch.testing.assert_close(
        torch.cat([o.logits for o in one]), rec["logits_b1"], rtol=1e-5, atol=1e-6
    )


@torch.no_grad()
def test_cascade_exits_and_predictions_are_unchanged():
    rec = RECORD["early_exit"]
    small = LeNetWidths(4, 6, 8, 16, 12)
    cascade = Cascade(
        [LeNet(LeNetWidths(2, 2, 2, 8, 8)), LeNet(small)],
        ee.EntropyRule(rec["cascade_threshold"]),
    )
    cascade.load_state_dict(rec["cascade_state_dict"])
    x = inputs()
    out = cascade.eval()(x)
    # on noise the small first network is nearly uniform, and the recorded threshold lies
    # within float rounding of many of its entropies: such a sample may leave on one CPU
    # and stay on another. It is held to the rule as computed here, the rest to the
    # record.
    h = ee.entropy(cascade.nets[0](x))
    threshold = rec["cascade_threshold"]
    near = (h - threshold).abs() <= 1e-6
    assert (~near).sum() >= 32
    assert torch.equal(out.exit_index[~near], rec["cascade_exit_index"][~near])
    assert torch.equal(out.exit_index == 0, h < threshold)
    same = out.exit_index == rec["cascade_exit_index"]
    torch.testing.assert_close(
        out.logits[same], rec["cascade_logits"][same], rtol=1e-5, atol=1e-6
    )
