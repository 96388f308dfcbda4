"""LKAM (chapter 9): the switches, the penalty, the route, and the routed LeNet."""

import pytest
import torch
import torch.nn.functional as F

from condcomp_lib import cost
from condcomp_lib.methods import lkam
from condcomp_lib.models import LeNet, LeNetWidths

SMALL = LeNetWidths(4, 8, 8, 16, 8)


def images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g)


def small_lkam(seed=0, **kw):
    torch.manual_seed(seed)
    return lkam.LKAMLeNet(SMALL, groups=4, **kw)


def test_module_gives_one_switch_per_group_in_unit_interval():
    m = lkam.KernelActivationModule(4, groups=3)
    s = m(torch.randn(5, 4, 14, 14))
    assert s.shape == (5, 3)
    assert (s > 0).all() and (s < 1).all()
    with pytest.raises(ValueError):
        m(torch.randn(5, 4))
    with pytest.raises(ValueError):
        lkam.KernelActivationModule(4, groups=0)


def test_penalty_scales_with_gain_and_rejects_negative_gain():
    s = torch.tensor([[0.2, 0.6], [1.0, 0.2]])
    assert lkam.l1_penalty(s, 0.0).item() == 0.0
    assert lkam.l1_penalty(s, 2.0).item() == pytest.approx(2.0 * 0.5)
    with pytest.raises(ValueError):
        lkam.l1_penalty(s, -1.0)


def test_threshold_route():
    s = torch.tensor([[0.2, 0.6], [0.5, 0.49]])
    assert lkam.threshold_route(s, 0.5).tolist() == [[False, True], [True, False]]
    with pytest.raises(ValueError):
        lkam.threshold_route(s, 1.0)


def test_bad_groups_rejected():
    with pytest.raises(ValueError):
        lkam.LKAMLeNet(SMALL, groups=3)
    with pytest.raises(ValueError):
        lkam.LKAMLeNet(SMALL, groups=4, static_groups=5)


def test_all_on_equals_the_lenet_it_started_from():
    torch.manual_seed(0)
    net = LeNet(SMALL).eval()
    model = lkam.LKAMLeNet.from_lenet(net, groups=4).eval()
    x = images(6)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x), atol=1e-5)  # the switches start on
    assert model.route.all()


def test_training_forward_equals_inference_forward():
    """The straight-through switches are hard in the forward pass: the same logits."""
    model = small_lkam()
    with torch.no_grad():
        model.lkam.switch.bias.copy_(torch.tensor([3.0, -3.0, 3.0, -3.0]))
    model.dropout.p = 0.0
    x = images(5)
    model.train()
    train_logits = model(x)
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    assert not model.route.all() and model.route.any()
    assert torch.allclose(train_logits, eval_logits, atol=1e-5)


def test_off_groups_are_not_counted():
    model = small_lkam().eval()
    x = images(4)
    with torch.no_grad():
        model.lkam.switch.bias.copy_(torch.tensor([9.0, 9.0, -9.0, -9.0]))
        model.lkam.switch.weight.zero_()
    macs_half = cost.realized_macs(model, x)
    with torch.no_grad():
        model.lkam.switch.bias.fill_(9.0)
    macs_all = cost.realized_macs(model, x)
    conv2_all = SMALL.conv1 * SMALL.conv2 * 25 * 14 * 14
    assert torch.allclose(
        macs_all - macs_half, torch.full((4,), conv2_all / 2.0).double()
    )


def test_static_control_uses_the_first_groups():
    model = lkam.LKAMLeNet(SMALL, groups=4, static_groups=1).eval()
    assert model.lkam is None
    assert lkam.conv_fraction(model, images(3)) == pytest.approx(0.25)
    assert model.route[:, 0].all() and not model.route[:, 1:].any()


def test_penalty_gradient_pushes_switches_down():
    model = small_lkam()
    model.train()
    x, y = images(8), torch.arange(8) % 10
    loss = lkam.lkam_loss(gain=10.0)
    value, logits = loss(model, x, y)
    assert value.item() > F.cross_entropy(logits, y).item()
    value.backward()
    # a larger bias means larger switches, hence a larger penalty: a positive gradient
    assert (model.lkam.switch.bias.grad > 0).all()


def test_a_group_that_is_off_still_learns_whether_to_turn_on():
    # every switch just below the threshold: every group off in the forward pass; the
    # cross-entropy alone must still reach the switches through the straight-through
    # estimate, or the penalty would switch groups off for good
    model = small_lkam()
    model.dropout.p = 0.0
    with torch.no_grad():
        model.lkam.switch.bias.fill_(-0.01)  # sigmoid(20 * -0.01) = 0.45
    model.train()
    x, y = images(16), torch.arange(16) % 10
    F.cross_entropy(model(x), y).backward()
    assert not model.route.any()
    assert model.lkam.switch.bias.grad.abs().min() > 0


def test_runs_reject_bad_requests():
    from condcomp_lib.methods import gates_runs as runs

    with pytest.raises(ValueError):
        runs.get_setup("huge")
    with pytest.raises(ValueError):
        runs.train_lkam(None, "quick", 0)  # neither a gain nor static groups
    with pytest.raises(ValueError):
        runs.train_lkam(None, "quick", 0, gain=0.1, static_groups=4)


def test_cascade_and_lkam_keys_name_their_own_epochs():
    from condcomp_lib.methods import gates_runs as runs

    s = runs.get_setup("quick")
    assert s.tag().endswith(f"-e{s.epochs}")
    assert s.tag(cascade=True).endswith(f"-e{s.cascade_epochs}")
