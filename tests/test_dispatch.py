"""Dispatch: a routed block run once per route equals the dense-masked ground truth.

The ground truth (:meth:`Dispatch.reference`) runs every path on every sample and keeps
each sample's own result. A dispatch must agree with it in value and in gradient, for any
routes: random, batch 1, empty buckets, one bucket holding everything, paths that compute
nothing."""

import pytest
import torch

from condcomp_lib import cost
from condcomp_lib.ops import BlockCost, Dispatch

D = torch.float64


def mlp_paths(k, f_in=6, hidden=5, f_out=3, none=()):
    """k small two-layer paths (weights as leaves), some replaced by None."""
    ws = [
        (
            torch.randn(f_in, hidden, dtype=D, requires_grad=True),
            torch.randn(hidden, f_out, dtype=D, requires_grad=True),
        )
        for _ in range(k)
    ]
    paths = [
        None if r in none else (lambda h, w=w: torch.tanh(h @ w[0]) @ w[1])
        for r, w in enumerate(ws)
    ]
    return paths, [t for w in ws for t in w]


def check(route, k, none=(), batch_feat=6):
    x = torch.randn(len(route), batch_feat, dtype=D, requires_grad=True)
    paths, params = mlp_paths(k, none=none)
    d = Dispatch(route, k)
    y, y_ref = d.run(x, paths), d.reference(x, paths)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    go = torch.randn_like(y)
    got = torch.autograd.grad(y, [x] + params, go, allow_unused=True)
    want = torch.autograd.grad(y_ref, [x] + params, go, allow_unused=True)
    for a, e in zip(got, want):
        if a is None or e is None:  # a path no sample took has no gradient, or zeros
            assert (a if a is not None else e) is None or (
                a if a is not None else e
            ).abs().sum() == 0
        else:
            torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)
    return d


@pytest.mark.parametrize("batch", [2, 7, 64])
@pytest.mark.parametrize("k", [2, 5])
def test_random_routes_match_the_reference(batch, k):
    torch.manual_seed(batch * k)
    check(torch.randint(0, k, (batch,)), k)


def test_batch_1_is_one_bucket_without_reordering():
    for r in range(3):
        d = check(torch.tensor([r]), 3)
        assert d.single and d.order is None and d.used == [r]


def test_empty_buckets():
    d = check(torch.tensor([0, 3, 3, 0, 3]), 5)  # routes 1, 2 and 4 unused
    assert d.sizes == [2, 0, 0, 3, 0] and d.used == [0, 3]


def test_one_bucket_holding_everything():
    d = check(torch.full((9,), 2), 4)
    assert d.single and d.order is None


def test_paths_that_compute_nothing_give_zeros():
    route = torch.tensor([0, 1, 2, 1, 0, 2])
    d = check(route, 3, none=(1,))
    x = torch.randn(6, 6, dtype=D)
    paths, _ = mlp_paths(3, none=(1,))
    assert d.run(x, paths)[route == 1].abs().sum() == 0
    nobody = Dispatch(torch.ones(4, dtype=torch.long), 3)  # every sample on a None path
    assert nobody.run(torch.randn(4, 6, dtype=D), paths).shape == (4, 3)


def test_any_integer_dtype_is_a_route():
    for dtype in (torch.int32, torch.uint8):
        check(torch.tensor([1, 0, 1, 1], dtype=dtype), 2)


def test_strategy_dense_and_the_cost_model_change_nothing_but_the_path():
    torch.manual_seed(0)
    route = torch.randint(0, 4, (16,))
    x = torch.randn(16, 6, dtype=D)
    paths, _ = mlp_paths(4)
    d = Dispatch(route, 4)
    calls = []

    def dense(h):
        calls.append(1)
        return d.reference(h, paths)

    cheap = BlockCost(path_macs=1, path_calls=50, dense_macs=1, dense_calls=1)  # dense
    dear = BlockCost(path_macs=1e6, path_calls=1, dense_macs=4e6, dense_calls=1)
    y_b = d.run(x, paths, strategy="buckets")
    y_d = d.run(x, paths, dense=dense, strategy="dense")
    y_cheap = d.run(x, paths, dense=dense, cost=cheap)
    assert len(calls) == 2
    y_dear = d.run(x, paths, dense=dense, cost=dear)
    assert len(calls) == 2
    for y in (y_d, y_cheap, y_dear):
        torch.testing.assert_close(y, y_b, rtol=1e-12, atol=1e-12)


def test_each_bucket_charges_its_own_samples():
    route = torch.tensor([1, 0, 1, 2])
    x = torch.randn(4, 2)

    def path(macs):
        def run(h):
            cost.report(macs)
            return h

        return run

    with cost.RealizedMacs(torch.nn.Identity(), 4) as counter:
        Dispatch(route, 3).run(x, [path(10.0), path(20.0), path(30.0)])
    assert counter.per_sample.tolist() == [20.0, 10.0, 20.0, 30.0]


@pytest.mark.parametrize(
    "route, n, words",
    [
        (torch.tensor([0, 3]), 3, "route holds index 3, outside 0..2"),
        (torch.tensor([0, -1]), 3, "route holds index -1"),
        (torch.tensor([5]), 3, "route holds index 5"),
        (torch.tensor([0.0, 1.0]), 2, "route must hold integer route indices"),
        (torch.tensor([True, False]), 2, "route must hold integer route indices"),
        (torch.zeros(2, 2, dtype=torch.long), 2, r"route must be 1-D \[B\]"),
        ([0, 1], 2, "route must be a torch.Tensor"),
        (torch.tensor([0, 1]), 0, "n_routes must be a positive int"),
    ],
)
def test_bad_routes_raise_value_errors_naming_the_argument(route, n, words):
    with pytest.raises(ValueError, match=words):
        Dispatch(route, n)


def test_bad_batches_and_paths_raise_value_errors():
    d = Dispatch(torch.tensor([0, 1, 1]), 2)
    paths, _ = mlp_paths(2)
    with pytest.raises(ValueError, match="x has 4 samples but route has 3 entries"):
        d.run(torch.randn(4, 6, dtype=D), paths)
    with pytest.raises(ValueError, match="paths has 1 entries but n_routes is 2"):
        d.run(torch.randn(3, 6, dtype=D), paths[:1])
    with pytest.raises(ValueError, match="strategy must be"):
        d.run(torch.randn(3, 6, dtype=D), paths, strategy="fast")
    with pytest.raises(ValueError, match="needs the dense alternative"):
        d.run(torch.randn(3, 6, dtype=D), paths, strategy="dense")


@pytest.mark.parametrize("batch", [1, 9])
def test_refine_dispatches_on_pairs(batch):
    torch.manual_seed(batch)
    r1, r2 = torch.randint(0, 2, (batch,)), torch.randint(0, 4, (batch,))
    pair = Dispatch(r1, 2).refine(r2, 4)
    assert torch.equal(pair.route, r1 * 4 + r2) and pair.n_routes == 8
    check(pair.route, 8)
    with pytest.raises(ValueError, match="route holds index 4"):
        Dispatch(r1, 2).refine(torch.full((batch,), 4), 4)
