"""Comparing an op's kernel path with its float64 reference: shared by the GPU tests and
the tests of the kernels' CPU build.

Errors are relative: the norm of the difference over the norm of the reference.
"""

from __future__ import annotations

import torch

TOL = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 1e-2}


def rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    a, ref = a.detach().double().cpu(), ref.detach().double().cpu()
    return ((a - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def _to(v, device):
    return v.to(device) if isinstance(v, torch.Tensor) else v


def compare(op, tensors, dtype, *, args=(), device="cpu", requires=(True,) * 3, **kw):
    """Run ``op(*tensors, *args, backend=..., **kw)`` on the kernel path in ``dtype`` on
    ``device`` and on the reference in float64 on the CPU, forward and backward; assert
    that they agree within TOL and return the kernel path's output.

    ``tensors`` are the differentiable inputs (None allowed: no bias), rounded to
    ``dtype`` first so that both paths see the same values; ``requires`` says which need a
    gradient."""
    tensors = [None if t is None else t.detach().to(dtype) for t in tensors]
    leaves_k = [
        None if t is None else t.to(device, copy=True).requires_grad_(r)
        for t, r in zip(tensors, requires)
    ]
    leaves_r = [
        None if t is None else t.double().requires_grad_(r)
        for t, r in zip(tensors, requires)
    ]
    y_k = op(
        *leaves_k,
        *[_to(a, device) for a in args],
        backend="kernel",
        **{k: _to(v, device) for k, v in kw.items()},
    )
    y_r = op(*leaves_r, *args, backend="reference", **kw)
    assert y_k.dtype == dtype and y_k.device.type == torch.device(device).type
    assert rel_err(y_k, y_r) <= TOL[dtype], "y"
    go = torch.randn_like(y_r).to(dtype)
    got = [t for t in leaves_k if t is not None and t.requires_grad]
    want = [t for t in leaves_r if t is not None and t.requires_grad]
    for name, a, e in zip(
        ("x", "weight", "bias"),
        torch.autograd.grad(y_k, got, go.to(device)),
        torch.autograd.grad(y_r, want, go.double()),
    ):
        assert a.dtype == dtype and rel_err(a, e) <= TOL[dtype], name
    return y_k


def off_mask(route: torch.Tensor, out_shape) -> torch.Tensor:
    """Where a routed op's output [B, C_out, ...] must be exactly zero, as a bool mask:
    route [B, G] covers whole channel groups, [B, G, Th, Tw] tiles of the output too."""
    m = route.repeat_interleave(out_shape[1] // route.shape[1], 1)
    if route.dim() == 2:
        return ~m.view(*m.shape, *[1] * (len(out_shape) - 2)).expand(*out_shape)
    th, tw = out_shape[2] // route.shape[2], out_shape[3] // route.shape[3]
    return ~m.repeat_interleave(th, 2).repeat_interleave(tw, 3)


def assert_exact_zeros(y: torch.Tensor, route: torch.Tensor) -> None:
    assert (y[off_mask(route.to(y.device), y.shape)] == 0).all()
