"""The contextual cascade (chapter 9): context reaches the second stage, the control
ignores it, the hard samples are those the first stage passes on."""

import pytest
import torch
import torch.nn.functional as F

from condcomp_lib import cost
from condcomp_lib.data import Split
from condcomp_lib.methods import contextual_cascade as cc
from condcomp_lib.methods.cascade import Cascade
from condcomp_lib.methods.exit_rules import MaxProbRule
from condcomp_lib.models import LeNet, LeNetWidths

SMALL = LeNetWidths(4, 8, 8, 16, 8)


def images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g)


def nets(context=True, seed=0):
    torch.manual_seed(seed)
    return LeNet(SMALL).eval(), cc.ContextualStage(SMALL, context=context).eval()


def test_context_changes_the_output_and_the_control_ignores_it():
    _, second = nets(context=True)
    _, control = nets(context=False)
    x = images(4)
    a, b = torch.zeros(4, 10), torch.randn(4, 10) * 5
    with torch.no_grad():
        assert not torch.allclose(second(x, a), second(x, b))
        assert torch.allclose(control(x, a), control(x, b))
    with pytest.raises(ValueError):
        second(x, torch.zeros(3, 10))


def test_control_costs_what_the_contextual_stage_costs():
    _, second = nets(context=True)
    _, control = nets(context=False)
    x, z = images(3), torch.randn(3, 10)
    assert torch.equal(
        cost.realized_macs(second, x, context=z),
        cost.realized_macs(control, x, context=z),
    )


def test_cascade_hands_the_first_logits_to_the_second_stage():
    first, second = nets()
    cascade = Cascade([first, second], MaxProbRule(2.0)).eval()  # nobody leaves
    x = images(5)
    with torch.no_grad():
        out = cascade(x)
        expected = second(x, first(x))
    assert (out.exit_index == 1).all()
    assert torch.allclose(out.logits, expected, atol=1e-6)


def test_cascade_compacts_the_context_with_the_samples():
    first, second = nets()
    x = images(8)
    with torch.no_grad():
        p = F.softmax(first(x), 1).amax(1)
    cut = p.median().item()
    cascade = Cascade([first, second], MaxProbRule(cut)).eval()
    with torch.no_grad():
        out = cascade(x)
        on = out.exit_index == 1
        expected = second(x[on], first(x[on]))
    assert 0 < on.sum() < 8
    assert torch.allclose(out.logits[on], expected, atol=1e-6)


def test_first_stage_alone_is_rejected_as_context_taker():
    _, second = nets()
    cascade = Cascade([second, second], MaxProbRule(0.5)).eval()
    with pytest.raises(ValueError):
        cascade(images(2))


def test_passed_on_are_the_unconfident_samples():
    first, _ = nets()
    split = Split(images(20), torch.arange(20) % 10)
    rule = MaxProbRule(0.12)
    idx = cc.passed_on(first, split, rule)
    with torch.no_grad():
        p = F.softmax(first(split.x), 1).amax(1)
    assert torch.equal(idx, torch.nonzero(p < 0.12).flatten())


def test_context_loss_trains_the_second_stage_only():
    first, second = nets()
    second.train()
    x, y = images(6), torch.arange(6)
    value, logits = cc.context_loss(first)(second, x, y)
    value.backward()
    assert logits.shape == (6, 10)
    assert all(p.grad is None for p in first.parameters())
    assert second.body.fc1.weight.grad is not None
