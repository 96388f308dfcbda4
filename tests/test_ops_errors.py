"""Bad input gets a clear error, naming the argument, before any work runs."""

import pytest
import torch

from condcomp_lib.ops import per_sample_conv2d, routed_conv2d, routed_linear

X = torch.randn(2, 4, 8, 8)
W = torch.randn(6, 4, 3, 3)
B = torch.randn(6)
R = torch.ones(2, 3, dtype=torch.bool)


def conv(**kw):
    args = dict(x=X, weight=W, bias=B, route=R)
    args.update(kw)
    rest = {
        k: args.pop(k) for k in list(args) if k not in ("x", "weight", "bias", "route")
    }
    return routed_conv2d(args["x"], args["weight"], args["bias"], args["route"], **rest)


@pytest.mark.parametrize(
    "kw, error, words",
    [
        (dict(route=R.float()), TypeError, "route must have dtype torch.bool"),
        (
            dict(route=torch.ones(2, dtype=torch.bool)),
            ValueError,
            r"route must be \[B, G\]",
        ),
        (
            dict(route=torch.ones(3, 3, dtype=torch.bool)),
            ValueError,
            "route has batch size 3",
        ),
        (
            dict(route=torch.ones(2, 4, dtype=torch.bool)),
            ValueError,
            "G=4 groups, which must divide",
        ),
        (
            dict(route=torch.ones(2, 3, 4, 4, dtype=torch.bool), padding=1, tile=(3, 3)),
            ValueError,
            "must divide the output size",
        ),
        (
            dict(route=torch.ones(2, 3, 3, 3, dtype=torch.bool), padding=1),
            ValueError,
            "must divide the output size",
        ),
        (
            dict(route=torch.ones(2, 3, 2, 2, dtype=torch.bool), padding=1, tile=(2, 2)),
            ValueError,
            "does not match",
        ),
        (dict(tile=(2, 2)), ValueError, "tile is given but route is"),
        (
            dict(weight=torch.randn(6, 5, 3, 3)),
            ValueError,
            "weight expects 5 input channels",
        ),
        (dict(bias=torch.randn(5)), ValueError, r"bias must have shape \[6\]"),
        (dict(x=X.long()), TypeError, "x must have a floating dtype"),
        (dict(weight=W.int()), TypeError, "weight must have a floating dtype"),
        (dict(x=X[0]), ValueError, "x must be 4-D"),
        (dict(weight=W.double()), TypeError, "weight has dtype torch.float64 but x has"),
        (dict(route=R.to("meta")), ValueError, "route is on meta but x is on cpu"),
        (dict(weight=W.to("meta")), ValueError, "weight is on meta"),
        (
            dict(in_route=torch.ones(2, 3)),
            TypeError,
            "in_route must have dtype torch.bool",
        ),
        (
            dict(in_route=torch.ones(2, 3, dtype=torch.bool)),
            ValueError,
            "G_in=3 groups, which must divide C_in=4",
        ),
        (
            dict(in_route=torch.ones(1, 2, dtype=torch.bool)),
            ValueError,
            "in_route has batch size 1",
        ),
        (dict(stride=0), ValueError, "stride must be >= 1"),
        (dict(stride=1.5), TypeError, "stride must be an int"),
        (dict(backend="gpu"), ValueError, "backend must be one of"),
        (dict(x=torch.randn(2, 4, 2, 2)), ValueError, "does not fit"),
    ],
)
def test_routed_conv2d_rejects(kw, error, words):
    with pytest.raises(error, match=words):
        conv(**kw)


@pytest.mark.parametrize(
    "args, kw, error, words",
    [
        (
            (torch.randn(2, 8), torch.randn(4, 8), None, torch.ones(2, 2)),
            {},
            TypeError,
            "route must have dtype torch.bool",
        ),
        (
            (
                torch.randn(2, 8),
                torch.randn(4, 6),
                None,
                torch.ones(2, 2, dtype=torch.bool),
            ),
            {},
            ValueError,
            "weight expects 6 input features",
        ),
        (
            (
                torch.randn(2, 8),
                torch.randn(4, 8),
                None,
                torch.ones(2, 3, dtype=torch.bool),
            ),
            {},
            ValueError,
            "G=3 blocks, which must divide F_out=4",
        ),
        (
            (
                torch.randn(2, 8, 1),
                torch.randn(4, 8),
                None,
                torch.ones(2, 2, dtype=torch.bool),
            ),
            {},
            ValueError,
            "x must be 2-D",
        ),
        (
            (
                torch.randn(2, 8),
                torch.randn(4, 8),
                None,
                torch.ones(2, 2, dtype=torch.bool),
            ),
            dict(in_route=torch.ones(2, 3, dtype=torch.bool)),
            ValueError,
            "G_in=3 blocks",
        ),
        (
            (
                torch.randint(0, 3, (2, 8)),
                torch.randn(4, 8),
                None,
                torch.ones(2, 2, dtype=torch.bool),
            ),
            {},
            TypeError,
            "x must have a floating dtype",
        ),
    ],
)
def test_routed_linear_rejects(args, kw, error, words):
    with pytest.raises(error, match=words):
        routed_linear(*args, **kw)


@pytest.mark.parametrize(
    "args, error, words",
    [
        ((X, torch.randn(3, 5, 4, 3, 3)), ValueError, "kernels for 3 samples"),
        ((X, torch.randn(2, 5, 3, 3, 3)), ValueError, "weight expects 3 input channels"),
        ((X, W), ValueError, "weight must be 5-D"),
        ((X, torch.randn(2, 5, 4, 3, 3), torch.randn(5)), ValueError, "bias must be 2-D"),
        (
            (X.int(), torch.randn(2, 5, 4, 3, 3)),
            TypeError,
            "x must have a floating dtype",
        ),
        ((X, torch.randn(2, 5, 4, 3, 3, device="meta")), ValueError, "weight is on meta"),
    ],
)
def test_per_sample_conv2d_rejects(args, error, words):
    with pytest.raises(error, match=words):
        per_sample_conv2d(*args)
