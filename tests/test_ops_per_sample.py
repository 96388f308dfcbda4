"""per_sample_conv2d: the three CPU forms agree, the op matches its loop oracle, gradients
too."""

import pytest
import torch
import torch.nn.functional as F

from condcomp_lib.ops import per_sample_conv2d
from condcomp_lib.ops import per_sample_reference as ref


def oracle(x, w, b, stride, padding):
    """The definition, written out: each sample with its own kernel."""
    return torch.cat(
        [
            F.conv2d(x[i : i + 1], w[i], None if b is None else b[i], stride, padding)
            for i in range(len(x))
        ]
    )


@pytest.mark.parametrize(
    "shape",
    [
        (1, 3, 5, 7, 7, 3, 1, 1),
        (4, 6, 4, 9, 8, 3, 2, 0),
        (3, 2, 5, 6, 6, 1, 1, 0),
        (2, 4, 4, 7, 9, 5, 2, 2),
    ],
)
@pytest.mark.parametrize("with_bias", [True, False])
def test_matches_oracle_forward_and_backward(shape, with_bias):
    b, ci, co, h, w, k, s, p = shape
    x = torch.randn(b, ci, h, w, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(b, co, ci, k, k, dtype=torch.float64, requires_grad=True)
    bias = (
        torch.randn(b, co, dtype=torch.float64, requires_grad=True) if with_bias else None
    )
    leaves = (x, wt) + ((bias,) if with_bias else ())
    y = per_sample_conv2d(x, wt, bias, stride=s, padding=p)
    y_true = oracle(x, wt, bias, s, p)
    torch.testing.assert_close(y, y_true)
    go = torch.randn_like(y)
    for a, e in zip(
        torch.autograd.grad(y, leaves, go), torch.autograd.grad(y_true, leaves, go)
    ):
        torch.testing.assert_close(a, e)


@pytest.mark.parametrize("form", sorted(ref.FORMS))
def test_every_cpu_form_agrees(form):
    x, wt, bias = torch.randn(3, 4, 6, 6), torch.randn(3, 5, 4, 3, 3), torch.randn(3, 5)
    torch.testing.assert_close(
        ref.FORMS[form](x, wt, bias, (1, 1), (1, 1)),
        oracle(x, wt, bias, 1, 1),
        rtol=1e-4,
        atol=1e-4,
    )


def test_channels_last_input():
    x = torch.randn(2, 4, 6, 6).contiguous(memory_format=torch.channels_last)
    wt = torch.randn(2, 3, 4, 3, 3)
    torch.testing.assert_close(
        per_sample_conv2d(x, wt, padding=1),
        oracle(x, wt, None, 1, 1),
        rtol=1e-4,
        atol=1e-4,
    )


def test_gradcheck_float64():
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(2, 2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, w, c: per_sample_conv2d(a, w, c, stride=2, padding=1),
        (x, wt, bias),
        fast_mode=True,
    )
