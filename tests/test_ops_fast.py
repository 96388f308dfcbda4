"""The fast CPU paths of the routed ops against their readable references, and the cost
model's choice, which may change the time but never the result."""

import pytest
import torch

from condcomp_lib.ops import (
    cost_model,
    routed_conv2d,
    routed_conv_fast,
    routed_conv_reference,
    routed_linear,
    routed_linear_fast,
    routed_linear_reference,
)
from condcomp_lib.ops.checks import conv_geometry


def both_ways(fast, ref, args, extra=(), tol=1e-10):
    """fast and ref agree in forward and in every gradient."""
    y = fast.forward(*args, *extra)
    torch.testing.assert_close(y, ref.forward(*args, *extra), rtol=tol, atol=tol)
    go = torch.randn_like(y)
    for a, e in zip(fast.backward(go, *args, *extra), ref.backward(go, *args, *extra)):
        if a is None or e is None:
            assert a is None and e is None
        else:
            torch.testing.assert_close(a, e, rtol=tol, atol=tol)


CONV = [  # B, C_in, C_out, H, W, k, stride, padding, G, tile
    (1, 3, 4, 7, 7, 3, 1, 1, 2, None),
    (5, 6, 8, 9, 11, 3, 1, 1, 4, None),
    (4, 4, 6, 10, 8, 3, 2, 0, 3, None),
    (6, 5, 9, 8, 7, 1, 1, 0, 3, None),
    (5, 6, 8, 9, 12, 3, 1, 1, 4, (3, 4)),
    (4, 4, 6, 10, 8, 3, 2, 0, 3, (2, 1)),
    (3, 8, 8, 9, 9, 3, 2, 1, 2, (1, 5)),
    (2, 3, 4, 16, 16, 3, 1, 1, 1, (8, 8)),
    (1, 3, 4, 16, 16, 5, 1, 2, 2, (4, 4)),
]


@pytest.mark.parametrize("frac", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("case", CONV)
def test_fast_conv_equals_the_reference(case, frac):
    b, ci, co, h, w, k, s, p, g, tile = case
    torch.manual_seed(hash((case, frac)) % 1000)
    x = torch.randn(b, ci, h, w, dtype=torch.float64)
    wt = torch.randn(co, ci, k, k, dtype=torch.float64)
    bias = torch.randn(co, dtype=torch.float64)
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    shape = (b, g) if tile is None else (b, g, ho // tile[0], wo // tile[1])
    route = torch.rand(shape) < frac
    geo = conv_geometry(x, wt, bias, route, None, s, p, tile)
    assert routed_conv_fast.supports(geo, None)
    both_ways(routed_conv_fast, routed_conv_reference, (x, wt, bias, route, None), (geo,))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("b", [1, 3, 40])
@pytest.mark.parametrize(
    "sizes",
    [
        (12, 8, 4, None),
        (20, 12, 3, None),
        (64, 32, 8, None),
        (12, 8, 4, 3),
        (64, 64, 8, 4),
        (16, 16, 4, 4),
    ],
)
def test_fast_linear_equals_the_reference(dtype, b, sizes):
    """float32 with sizes divisible by 4 runs one grouped product; the rest the
    fallback."""
    f_in, f_out, g, g_in = sizes
    torch.manual_seed(b * f_in)
    x, wt = torch.randn(b, f_in, dtype=dtype), torch.randn(f_out, f_in, dtype=dtype)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    for frac in (0.0, 0.3, 0.7):
        route = torch.rand(b, g) < frac
        in_route = None if g_in is None else torch.rand(b, g_in) < 0.5
        for bias in (torch.randn(f_out, dtype=dtype), None):
            both_ways(
                routed_linear_fast,
                routed_linear_reference,
                (x, wt, bias, route, in_route),
                tol=tol,
            )


def test_batch1_linear_reads_views_of_the_active_rows():
    x, wt, bias = torch.randn(1, 16), torch.randn(32, 16), torch.randn(32)
    route = torch.tensor([[True, True, False, True]])
    assert routed_linear_fast._runs(route[0]) == [(0, 2), (3, 4)]
    y = routed_linear(x, wt, bias, route, strategy="routed")
    torch.testing.assert_close(y[:, :16], x @ wt[:16].T + bias[:16])
    assert y[:, 16:24].abs().sum() == 0


# ---------------------------------------------------------------- the cost model's choice


def grads(y, leaves):
    return torch.autograd.grad(y, leaves, torch.ones_like(y))


@pytest.mark.parametrize("batch", [1, 16, 64])
@pytest.mark.parametrize("frac", [0.0, 1 / 16, 0.25, 1.0])
def test_the_choice_never_changes_results(batch, frac):
    torch.manual_seed(batch)
    xl = torch.randn(batch, 64, dtype=torch.float64, requires_grad=True)
    wl = torch.randn(64, 64, dtype=torch.float64, requires_grad=True)
    bl = torch.randn(64, dtype=torch.float64, requires_grad=True)
    route = torch.rand(batch, 16) < frac
    in_route = torch.rand(batch, 4) < 0.5
    xc = torch.randn(batch, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    wc = torch.randn(8, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    tiles = torch.rand(batch, 2, 4, 4) < frac
    cases = [
        (lambda s: routed_linear(xl, wl, bl, route, strategy=s), (xl, wl, bl)),
        (
            lambda s: routed_linear(xl, wl, bl, route, in_route=in_route, strategy=s),
            (xl, wl, bl),
        ),
        (
            lambda s: routed_conv2d(xc, wc, None, route[:, :2], padding=1, strategy=s),
            (xc, wc),
        ),
        (lambda s: routed_conv2d(xc, wc, None, tiles, padding=1, strategy=s), (xc, wc)),
    ]
    for op, leaves in cases:
        ys = {s: op(s) for s in ("auto", "routed", "dense")}
        gs = {s: grads(y, leaves) for s, y in ys.items()}
        for s in ("auto", "dense"):
            torch.testing.assert_close(ys[s], ys["routed"], rtol=1e-10, atol=1e-10)
            for a, e in zip(gs[s], gs["routed"]):
                torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10)


def test_the_cost_model_routes_what_saves_time_and_not_what_cannot():
    pays = lambda *a: cost_model.routed_pays(*cost_model.linear_seconds(*a))
    # the benchmark's large cases: a quarter of the work saves plenty
    assert pays(256, 512, 512, 4, 0.25, 512, 512 * 512 * 4, False)
    assert pays(1, 2048, 2048, 4, 0.25, 2, 2048 * 4, False)
    # everything on: nothing saved, and the routed path only adds
    assert not pays(256, 512, 512, 4, 1.0, 2048, 2048 * 512 * 4, False)
    # a small layer at batch 1: the calls cost more than the bytes they save
    assert not pays(1, 128, 128, 4, 0.25, 1, 128 * 4, False)


def test_unknown_strategy_is_a_value_error():
    x, wt = torch.randn(2, 4, 5, 5), torch.randn(4, 4, 3, 3)
    r = torch.ones(2, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match="strategy must be one of"):
        routed_conv2d(x, wt, None, r, strategy="fast")
    with pytest.raises(ValueError, match="strategy must be one of"):
        routed_linear(torch.randn(2, 4), torch.randn(4, 4), None, r, strategy="masked")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("counts", [[64, 0, 70, 31], [3, 0, 5, 1, 0, 2], [0, 0, 9], [40]])
def test_grouped_matmul_equals_one_product_per_group(counts, dtype):
    """Large groups take F.grouped_mm (float32), many small ones a padded bmm."""
    a = torch.randn(sum(counts), 16, dtype=dtype)
    b = torch.randn(len(counts), 16, 8, dtype=dtype)
    torch.testing.assert_close(
        routed_linear_fast.grouped_matmul(a, b, counts),
        routed_linear_fast.grouped_matmul_reference(a, b, counts),
    )
