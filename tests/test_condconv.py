"""CondConv (chapter 3): the layer, its routing, its cost and the LeNet built on it. Tiny
tensors."""

import math

import pytest
import torch
import torch.nn.functional as F

from condcomp_lib import cost, models
from condcomp_lib.methods import condconv
from condcomp_lib.nn import CondConv2d, Routing
from condcomp_lib.nn.condconv import condconv_macs, mix_kernels, mix_outputs, routing_macs

SMALL = models.LeNetWidths(4, 6, 8, 16, 8)


def layer(n=3, c_in=2, c_out=4, k=3, dtype=torch.float64, seed=0, **kw):
    torch.manual_seed(seed)
    return CondConv2d(c_in, c_out, k, n, **kw).to(dtype)


# ---------------------------------------------------------------- the two forms


@pytest.mark.parametrize(
    "stride,padding,bias", [(1, 1, True), (2, 0, False), (1, 2, True)]
)
def test_mixing_kernels_equals_mixing_outputs(stride, padding, bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, 9, 8, dtype=torch.float64, generator=g)
    w = torch.randn(4, 6, 3, 3, 3, dtype=torch.float64, generator=g)
    b = torch.randn(4, 6, dtype=torch.float64, generator=g) if bias else None
    alpha = torch.rand(5, 4, dtype=torch.float64, generator=g)
    y_k = mix_kernels(x, w, b, alpha, stride, padding)
    y_o = mix_outputs(x, w, b, alpha, stride, padding)
    assert y_k.shape == y_o.shape
    assert (y_k - y_o).abs().max().item() < 1e-10


def test_forms_agree_with_n_separate_convolutions():
    # the definition, written out: sum_i alpha_i * conv(x, W_i)
    conv = layer(n=3)
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64)
    alpha = torch.rand(2, 3, dtype=torch.float64)
    expected = sum(
        alpha[:, i, None, None, None] * F.conv2d(x, conv.weight[i], conv.bias[i])
        for i in range(3)
    )
    torch.testing.assert_close(conv(x, alpha), expected)
    torch.testing.assert_close(conv.reference(x, alpha), expected)


def test_per_position_weights_break_the_identity():
    # with a weight per output position there is no single kernel per sample: mixing the
    # kernels with the sample's average weight no longer gives the mixed outputs
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, generator=g)
    w = torch.randn(2, 3, 2, 3, 3, dtype=torch.float64, generator=g)
    alpha_pos = torch.rand(1, 2, 4, 4, dtype=torch.float64, generator=g)  # [B, n, H', W']
    outs = torch.stack([F.conv2d(x, w[i]) for i in range(2)], 1)  # [B, n, C, H', W']
    y_pos = (alpha_pos[:, :, None] * outs).sum(1)
    y_avg = mix_kernels(x, w, None, alpha_pos.mean((2, 3)))
    assert (y_pos - y_avg).abs().max().item() > 1e-2


def test_gradcheck_float64():
    conv = layer(n=2, c_in=2, c_out=3, k=3, stride=2, padding=1)
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    alpha = torch.rand(2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, r, w, b: mix_kernels(a, w, b, r, 2, 1),
        (x, alpha, conv.weight, conv.bias),
        fast_mode=True,
    )
    y = conv(x, alpha)
    y.square().sum().backward()
    assert all(
        t.grad is not None and t.grad.abs().sum() > 0
        for t in (x, alpha, conv.weight, conv.bias)
    )


# ---------------------------------------------------------------- n = 1, the control


def test_one_expert_is_a_static_convolution_scaled_by_its_gate():
    torch.manual_seed(0)
    route, conv = Routing(2, 1).double(), layer(n=1)
    x = torch.randn(3, 2, 6, 6, dtype=torch.float64)
    alpha = route(x)  # [B, 1], in (0, 1)
    static = F.conv2d(x, conv.weight[0], conv.bias[0])
    # per sample: the static convolution times that sample's gate ...
    torch.testing.assert_close(
        conv(x, alpha), alpha[:, :, None, None] * static, rtol=0, atol=1e-12
    )
    # ... which differs from sample to sample, so it is not one static convolution
    assert alpha.std() > 0
    # with the router's weights at zero the gate is the constant sigmoid(c): then the
    # layer IS the static convolution whose kernel and bias are multiplied by sigmoid(c)
    with torch.no_grad():
        route.fc.weight.zero_()
    gate = torch.sigmoid(route.fc.bias)
    torch.testing.assert_close(
        conv(x, route(x)),
        F.conv2d(x, gate * conv.weight[0], gate * conv.bias[0]),
        rtol=0,
        atol=1e-12,
    )


# ---------------------------------------------------------------- routing


def test_routing_shapes_range_and_formula():
    torch.manual_seed(0)
    route = Routing(3, 5)
    x = torch.randn(4, 3, 7, 6)
    alpha = route(x)
    assert alpha.shape == (4, 5)
    assert torch.all((alpha > 0) & (alpha < 1))
    torch.testing.assert_close(
        alpha, torch.sigmoid(x.mean((2, 3)) @ route.fc.weight.T + route.fc.bias)
    )
    # the weights need not sum to one (sigmoid, not softmax)
    assert not torch.allclose(alpha.sum(1), torch.ones(4))


def test_one_routing_feeds_two_layers_of_a_block():
    torch.manual_seed(0)
    route = Routing(3, 4)
    expand, project = CondConv2d(3, 6, 3, 4, padding=1), CondConv2d(6, 3, 1, 4)
    x = torch.randn(2, 3, 5, 5)
    alpha = route(x)
    y = project(F.relu(expand(x, alpha)), alpha)
    assert y.shape == x.shape
    y.sum().backward()
    assert route.fc.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- cost


def test_layer_and_routing_macs_by_hand():
    conv = CondConv2d(3, 5, 3, 4, padding=1)
    route = Routing(3, 4)
    x = torch.randn(2, 3, 6, 6)
    with cost.RealizedMacs(conv, 2) as macs:
        conv(x, route(x))
    # routing: 3*6*6 pooled values added + 3*4 linear; mixing: 4 * (5*3*3*3 + 5);
    # convolution: 6*6 outputs * 5*3*3*3
    hand = 3 * 36 + 3 * 4 + 4 * (135 + 5) + 36 * 135
    assert macs.per_sample.tolist() == [hand, hand]
    assert (
        sum(condconv_macs(3, 5, 3, (6, 6), 4).values())
        + sum(routing_macs(3, (6, 6), 4).values())
        == hand
    )


def test_lenet_macs_by_hand_and_counted():
    for n in (1, 3):
        torch.manual_seed(0)
        net = condconv.CondLeNet(SMALL, n).eval()
        x = torch.randn(3, 1, 28, 28)
        realized = cost.realized_macs(net, x)
        hand = sum(condconv.lenet_macs(SMALL, n).values())
        assert torch.all(realized == hand), (realized, hand)
    static = condconv.lenet_macs(SMALL, 0)
    assert sum(static.values()) == cost.dense_macs(models.LeNet(SMALL), (1, 28, 28))


# ---------------------------------------------------------------- the network


def test_condlenet_shapes_and_routing_outputs():
    torch.manual_seed(0)
    net = condconv.CondLeNet(SMALL, 4)
    logits, alphas = net.run(torch.randn(5, 1, 28, 28))
    assert logits.shape == (5, 10)
    assert [a.shape for a in alphas] == [(5, 4), (5, 4)]
    assert net.conv2.weight.shape == (4, 6, 4, 5, 5) and net.conv3.weight.shape == (
        4,
        8,
        6,
        1,
        1,
    )
    x = torch.randn(7, 1, 28, 28)
    logits, got = condconv.collect_routing(net, x, batch_size=3)
    assert [a.shape for a in got] == [(7, 4), (7, 4)]
    torch.testing.assert_close(logits, net.eval()(x))
    torch.testing.assert_close(got[1], net.run(x)[1][1])


def test_experts_are_initialised_independently_like_conv2d():
    torch.manual_seed(0)
    conv = CondConv2d(8, 16, 3, 4)
    bound = 1 / math.sqrt(8 * 9)  # nn.Conv2d's kaiming_uniform(a=sqrt(5)) bound
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
    assert not torch.allclose(conv.weight[0], conv.weight[1])


def test_class_means_spread_and_specificity():
    labels = torch.tensor([0, 0, 1, 1])
    fixed = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    torch.testing.assert_close(
        condconv.class_means(fixed, labels, 2), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    )
    assert condconv.class_specificity(fixed, labels, 2) == pytest.approx(1.0)
    same = torch.tensor([[0.2, 0.8], [0.6, 0.4], [0.2, 0.8], [0.6, 0.4]])
    assert condconv.class_specificity(same, labels, 2) == pytest.approx(0.0, abs=1e-12)
    assert condconv.class_spread(same, labels, 2) == pytest.approx(0.0, abs=1e-12)
    assert condconv.class_spread(fixed, labels, 2) == pytest.approx(0.5)  # means 1 and 0


# ---------------------------------------------------------------- errors


def test_clear_errors_on_bad_input():
    conv = CondConv2d(2, 3, 3, 4)
    x = torch.randn(2, 2, 5, 5)
    with pytest.raises(
        ValueError, match=r"routing_weights must have shape \[B, n\] = \[2, 4\]"
    ):
        conv(x, torch.rand(2, 3))
    with pytest.raises(ValueError, match="routing_weights must have shape"):
        conv(x, torch.rand(3, 4))
    with pytest.raises(ValueError, match="routing_weights must be 2-D"):
        conv(x, torch.rand(2, 4, 1))
    with pytest.raises(TypeError, match="routing_weights"):
        conv(x, torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="routing_weights has dtype"):
        conv(x, torch.rand(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="in_channels=2"):
        conv(torch.randn(2, 3, 5, 5), torch.rand(2, 4))
    with pytest.raises(ValueError, match="x must be a 4-D"):
        conv(torch.randn(2, 5, 5), torch.rand(2, 4))
    with pytest.raises(ValueError, match="num_experts"):
        CondConv2d(2, 3, 3, 0)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        Routing(3, 4)(torch.randn(2, 2, 5, 5))
    with pytest.raises(ValueError, match="num_experts"):
        condconv.trained(0, None)
