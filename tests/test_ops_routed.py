"""routed_conv2d and routed_linear against the dense-masked ground truth.

The ground truth is what the op promises: the ordinary convolution of x with the input
groups that are off zeroed, then the outputs that are off zeroed. The op must agree with
it in value and in gradient, whichever path runs: the routed path (computing only the
active items) and the dense one that the cost model may choose instead (``strategy``)."""

import pytest
import torch
import torch.nn.functional as F

from condcomp_lib.ops import routed_conv2d, routed_linear, use_kernels

D = torch.float64


def dense_masked_conv(x, w, b, route, in_route, stride, padding):
    if in_route is not None:
        x = (
            x
            * in_route.repeat_interleave(x.shape[1] // in_route.shape[1], 1)[
                :, :, None, None
            ]
        )
    y = F.conv2d(x, w, b, stride, padding)
    m = route.repeat_interleave(w.shape[0] // route.shape[1], 1)
    if route.dim() == 2:
        return y * m[:, :, None, None]
    th, tw = y.shape[2] // route.shape[2], y.shape[3] // route.shape[3]
    return y * m.repeat_interleave(th, 2).repeat_interleave(tw, 3)


def dense_masked_linear(x, w, b, route, in_route):
    y = dense_masked_conv(
        x[:, :, None, None], w[:, :, None, None], b, route, in_route, 1, 0
    )
    return y.flatten(1)


def random_in_route(kind, b, g_in):
    if kind is None:
        return None
    if kind == "trellis":  # exactly one input group per sample
        return F.one_hot(torch.randint(0, g_in, (b,)), g_in).bool()
    return torch.rand(b, g_in) < 0.5


PATHS = ["routed", "dense"]  # the strategies; "auto" picks one of them


def leaves(*shapes, dtype=D):
    return [torch.randn(*s, dtype=dtype, requires_grad=True) for s in shapes]


def check_against_truth(y, y_true, inputs, rtol=1e-9, atol=1e-9):
    torch.testing.assert_close(y, y_true, rtol=rtol, atol=atol)
    go = torch.randn_like(y)
    got = torch.autograd.grad(y, inputs, go, allow_unused=True)
    want = torch.autograd.grad(y_true, inputs, go, allow_unused=True)
    for name, a, e in zip(("x", "weight", "bias"), got, want):
        torch.testing.assert_close(
            a, e, rtol=rtol, atol=atol, msg=lambda m: f"grad {name}: {m}"
        )


CASES = [  # B, C_in, C_out, H, W, k, stride, padding, G, G_in
    (1, 3, 4, 7, 7, 3, 1, 1, 2, 1),
    (5, 6, 8, 9, 11, 3, 1, 1, 4, 3),
    (4, 4, 6, 10, 8, 3, 2, 0, 3, 2),
    (3, 8, 8, 9, 9, 3, 2, 1, 2, 4),
    (6, 5, 9, 8, 7, 1, 1, 0, 3, 5),
    (2, 4, 4, 6, 6, 5, 1, 2, 4, 2),
]


@pytest.mark.parametrize("strategy", PATHS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("in_kind", [None, "trellis", "random"])
def test_channel_routing_matches_dense_masked(case, in_kind, strategy):
    b, ci, co, h, w, k, s, p, g, gi = case
    x, wt, bias = leaves((b, ci, h, w), (co, ci, k, k), (co,))
    route = torch.rand(b, g) < 0.5
    route[:, 0] = False  # a group active for no sample
    in_route = random_in_route(in_kind, b, gi)
    y = routed_conv2d(
        x, wt, bias, route, in_route=in_route, stride=s, padding=p, strategy=strategy
    )
    check_against_truth(
        y, dense_masked_conv(x, wt, bias, route, in_route, s, p), (x, wt, bias)
    )


@pytest.mark.parametrize("strategy", PATHS)
@pytest.mark.parametrize("case", CASES[1:4])
@pytest.mark.parametrize("in_kind", [None, "trellis", "random"])
def test_tile_routing_matches_dense_masked(case, in_kind, strategy):
    b, ci, co, h, w, k, s, p, g, gi = case
    x, wt, bias = leaves((b, ci, h, w), (co, ci, k, k), (co,))
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    th = next(d for d in (3, 2, 1) if ho % d == 0)
    tw = next(d for d in (2, 3, 1) if wo % d == 0)
    route = torch.rand(b, g, ho // th, wo // tw) < 0.4
    in_route = random_in_route(in_kind, b, gi)
    y = routed_conv2d(
        x,
        wt,
        bias,
        route,
        in_route=in_route,
        stride=s,
        padding=p,
        tile=(th, tw),
        strategy=strategy,
    )
    check_against_truth(
        y, dense_masked_conv(x, wt, bias, route, in_route, s, p), (x, wt, bias)
    )


@pytest.mark.parametrize("strategy", PATHS)
@pytest.mark.parametrize("fill", [False, True])
@pytest.mark.parametrize("spatial", [False, True])
def test_nothing_and_everything_active(fill, spatial, strategy):
    x, wt, bias = leaves((3, 4, 8, 8), (6, 4, 3, 3), (6,))
    route = torch.full((3, 2, 4, 2) if spatial else (3, 2), fill)
    y = routed_conv2d(x, wt, bias, route, padding=1, strategy=strategy)
    check_against_truth(
        y, dense_masked_conv(x, wt, bias, route, None, 1, 1), (x, wt, bias)
    )
    if not fill:
        assert y.abs().sum() == 0


def test_many_input_patterns_take_the_pair_path():
    """More distinct input patterns than (input, output) pairs: results are summed by
    pairs."""
    x, wt, bias = leaves((24, 8, 5, 5), (4, 8, 3, 3), (4,))
    route = torch.rand(24, 2) < 0.7
    in_route = torch.rand(24, 4) < 0.5
    in_route[0] = False  # a sample that reads nothing: bias only
    route[0] = True
    y = routed_conv2d(x, wt, bias, route, in_route=in_route, padding=1, strategy="routed")
    check_against_truth(
        y, dense_masked_conv(x, wt, bias, route, in_route, 1, 1), (x, wt, bias)
    )


@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("layout", ["channels_last", "sliced"])
def test_non_contiguous_inputs(layout, spatial):
    x0, wt, bias = leaves((4, 6, 9, 9), (8, 6, 3, 3), (8,), dtype=torch.float32)
    x = (
        x0.contiguous(memory_format=torch.channels_last)
        if layout == "channels_last"
        else x0[:, :, 1:, ::1].transpose(2, 3)
    )
    route = torch.rand(4, 4, *((3, 1) if spatial else ())) < 0.5
    y = routed_conv2d(x, wt, bias, route, padding=1, strategy="routed")
    check_against_truth(
        y,
        dense_masked_conv(x, wt, bias, route, None, 1, 1),
        (x0, wt, bias),
        rtol=1e-4,
        atol=1e-4,
    )


def test_no_bias():
    x, wt = leaves((3, 4, 6, 6), (4, 4, 3, 3))
    route = torch.rand(3, 2, 2, 2) < 0.5
    y = routed_conv2d(x, wt, None, route, padding=1, strategy="routed")
    check_against_truth(y, dense_masked_conv(x, wt, None, route, None, 1, 1), (x, wt))


@pytest.mark.parametrize("strategy", PATHS)
@pytest.mark.parametrize("b", [1, 7])
@pytest.mark.parametrize("in_kind", [None, "trellis", "random"])
def test_linear_matches_dense_masked(b, in_kind, strategy):
    x, wt, bias = leaves((b, 12), (8, 12), (8,))
    route = torch.rand(b, 4) < 0.5
    in_route = random_in_route(in_kind, b, 3)
    y = routed_linear(x, wt, bias, route, in_route=in_route, strategy=strategy)
    check_against_truth(
        y, dense_masked_linear(x, wt, bias, route, in_route), (x, wt, bias)
    )


def test_gradcheck_float64():
    x, wt, bias = leaves((3, 4, 5, 5), (6, 4, 3, 3), (6,))
    route = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=torch.bool)
    in_route = torch.tensor([[1, 0], [1, 1], [0, 1]], dtype=torch.bool)
    tiles = torch.rand(3, 3, 5, 1) < 0.5
    for kw in (dict(in_route=in_route), {}):  # the reference path, and the fast one
        assert torch.autograd.gradcheck(
            lambda a, w, c: routed_conv2d(
                a, w, c, route, padding=1, strategy="routed", **kw
            ),
            (x, wt, bias),
            fast_mode=True,
        )
    assert torch.autograd.gradcheck(
        lambda a, w, c: routed_conv2d(
            a, w, c, tiles, stride=1, padding=1, tile=(1, 5), strategy="routed"
        ),
        (x, wt, bias),
        fast_mode=True,
    )
    xl, wl, bl = leaves((3, 6), (4, 6), (4,))
    for kw in (dict(in_route=in_route), {}):
        assert torch.autograd.gradcheck(
            lambda a, w, c: routed_linear(a, w, c, route[:, :2], strategy="routed", **kw),
            (xl, wl, bl),
            fast_mode=True,
        )


def test_cpu_tensor_with_kernel_backend_is_an_error():
    x, wt, bias = torch.randn(2, 4, 5, 5), torch.randn(4, 4, 3, 3), torch.randn(4)
    with pytest.raises(ValueError, match="backend='kernel' needs CUDA"):
        routed_conv2d(x, wt, bias, torch.ones(2, 2, dtype=torch.bool), backend="kernel")
    use_kernels(True)  # switching kernels on changes nothing for CPU tensors
    try:
        y = routed_conv2d(x, wt, bias, torch.ones(2, 2, dtype=torch.bool))
    finally:
        use_kernels(False)
    torch.testing.assert_close(y, F.conv2d(x, wt, bias))


def _two_layers(x, w1, w2, r1, r2, tile, first, second):
    """Two routed convolutions in sequence, each on its own strategy: what a routed
    network does when the cost model picks a different path for each layer."""
    h = routed_conv2d(x, w1, None, r1, padding=1, tile=tile, strategy=first)
    return routed_conv2d(h, w2, None, r2, padding=1, tile=tile, strategy=second)


@pytest.mark.parametrize("first", STRATEGY_PAIRS := ["routed", "dense", "auto"])
@pytest.mark.parametrize("second", STRATEGY_PAIRS)
@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_strategies_in_sequence(first, second, spatial, layout):
    """Whatever layout one path writes, the next path reads it: the routed path writes
    tiles channels-last, and the dense path once called ``.view`` on that."""
    x0, w1, w2 = leaves((4, 8, 8, 8), (8, 8, 3, 3), (8, 8, 3, 3), dtype=torch.float32)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    x = x0.contiguous(memory_format=fmt)
    tile = (4, 4) if spatial else None
    shape = (4, 2, 2, 2) if spatial else (4, 2)
    r1, r2 = torch.rand(shape) < 0.5, torch.rand(shape) < 0.5
    y = _two_layers(x, w1, w2, r1, r2, tile, first, second)
    want = dense_masked_conv(
        dense_masked_conv(x0, w1, None, r1, None, 1, 1), w2, None, r2, None, 1, 1
    )
    check_against_truth(y, want, (x0, w1, w2), rtol=1e-4, atol=1e-4)
