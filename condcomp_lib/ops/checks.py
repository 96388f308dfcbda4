"""Argument checks and the geometry of one routed convolution.

Every op validates its arguments here, before any work (and before any GPU kernel) runs,
so a mistake gives an error that names the argument and what was expected instead of a
crash deep in a convolution or a kernel. The result of the checks is a :class:`Geometry`:
the sizes the reference and the kernel path both need.

Vocabulary (chapter 4, CIGT, and the activity-specialization chapter):

* an output *group* is one of G equal blocks of output channels; ``route[b, g]`` says
  whether sample b computes group g;
* a *tile* is a th x tw block of output pixels; ``route[b, g, ty, tx]`` says whether
  sample b computes group g on tile (ty, tx). Channel routing is the case of one tile
  covering the whole output;
* an input group is one of G_in blocks of input channels; ``in_route[b, i]`` off means the
  previous layer left that block at zero for sample b, so it is not read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

BACKENDS = ("auto", "reference", "kernel")


@dataclass(frozen=True)
class Geometry:
    """Sizes of one routed convolution. ``tile`` = (th, tw) in output pixels, grid = (Th,
    Tw)."""

    batch: int
    c_in: int
    c_out: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    groups: int  # G, output-channel groups
    in_groups: int  # G_in, input-channel groups (1 without in_route)
    tile: tuple[int, int]
    grid: tuple[int, int]
    spatial: bool  # route is [B, G, Th, Tw] (else [B, G])

    @property
    def patch(self) -> tuple[int, int]:
        """Input pixels (with halo) that one output tile reads: (th-1)*stride + k per
        side."""
        return tuple(
            (t - 1) * s + k for t, s, k in zip(self.tile, self.stride, self.kernel)
        )

    @property
    def group_out(self) -> int:
        return self.c_out // self.groups

    @property
    def group_in(self) -> int:
        return self.c_in // self.in_groups


def pair(v, name: str) -> tuple[int, int]:
    """An int or a pair of ints, as (h, w)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if (
        isinstance(v, (tuple, list))
        and len(v) == 2
        and all(isinstance(a, int) for a in v)
    ):
        return (int(v[0]), int(v[1]))
    raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}")


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def check_float(t, name: str, dim: int, shape_doc: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor {shape_doc}, got {type(t).__name__}"
        )
    if not t.is_floating_point():
        raise TypeError(
            f"{name} must have a floating dtype (float32, float64, bfloat16, "
            f"float16), got {t.dtype}"
        )
    if t.dim() != dim:
        raise ValueError(
            f"{name} must be {dim}-D {shape_doc}, got shape {tuple(t.shape)}"
        )


def check_same(x: torch.Tensor, others: dict) -> None:
    """Every tensor in ``others`` ({name: tensor or None}) is on x's device with x's
    dtype."""
    for name, t in others.items():
        if t is None:
            continue
        if t.device != x.device:
            raise ValueError(
                f"{name} is on {t.device} but x is on {x.device}: "
                f"put all tensors on one device"
            )
        if t.is_floating_point() and t.dtype != x.dtype:
            raise TypeError(
                f"{name} has dtype {t.dtype} but x has {x.dtype}: use one dtype"
            )


def check_bias(bias, c_out: int) -> None:
    if bias is None:
        return
    check_float(bias, "bias", 1, f"[C_out={c_out}]")
    if bias.shape[0] != c_out:
        raise ValueError(
            f"bias must have shape [{c_out}] (C_out), got {tuple(bias.shape)}"
        )


def conv_output(h: int, w: int, kh: int, kw: int, stride, padding):
    """Check stride and padding; return them as pairs with the output size (h_out,
    w_out)."""
    sh, sw = pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    if sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride}, {padding}")
    h_out, w_out = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(
            f"the {kh}x{kw} kernel does not fit the {h}x{w} input with padding {padding}"
        )
    return (sh, sw), (ph, pw), (h_out, w_out)


def _plain_geometry(
    b: int, c_in: int, h: int, w: int, c_out: int, kh: int, kw: int, stride, padding
) -> Geometry:
    """The geometry of an ordinary convolution, one group and one tile; a routed
    convolution replaces its groups and tiles."""
    stride, padding, out_hw = conv_output(h, w, kh, kw, stride, padding)
    return Geometry(
        batch=b,
        c_in=c_in,
        c_out=c_out,
        kernel=(kh, kw),
        stride=stride,
        padding=padding,
        in_hw=(h, w),
        out_hw=out_hw,
        groups=1,
        in_groups=1,
        tile=out_hw,
        grid=(1, 1),
        spatial=False,
    )


def check_mask(m, name: str, batch: int, dims: tuple[int, ...], doc: str) -> None:
    """A boolean routing mask with the batch first and ``len(dims)`` more dimensions
    allowed."""
    if not isinstance(m, torch.Tensor):
        raise TypeError(
            f"{name} must be a boolean torch.Tensor {doc}, got {type(m).__name__}"
        )
    if m.dtype != torch.bool:
        raise TypeError(
            f"{name} must have dtype torch.bool {doc}, got {m.dtype} "
            f"(use {name} > 0.5 or {name}.bool())"
        )
    if m.dim() not in dims:
        raise ValueError(f"{name} must be {doc}, got shape {tuple(m.shape)}")
    if m.shape[0] != batch:
        raise ValueError(f"{name} has batch size {m.shape[0]} but x has {batch}")


def conv_geometry(x, weight, bias, route, in_route, stride, padding, tile) -> Geometry:
    """Check the arguments of ``routed_conv2d`` and return its geometry."""
    check_float(x, "x", 4, "[B, C_in, H, W]")
    check_float(weight, "weight", 4, "[C_out, C_in, kh, kw]")
    check_bias(bias, weight.shape[0])
    check_same(x, {"weight": weight, "bias": bias, "route": route, "in_route": in_route})
    b, c_in, h, w = x.shape
    c_out, w_in, kh, kw = weight.shape
    if w_in != c_in:
        raise ValueError(
            f"weight expects {w_in} input channels (weight.shape[1]) but x has "
            f"{c_in} (x.shape[1])"
        )
    plain = _plain_geometry(b, c_in, h, w, c_out, kh, kw, stride, padding)
    h_out, w_out = plain.out_hw

    check_mask(route, "route", b, (2, 4), "[B, G] or [B, G, Th, Tw]")
    g = route.shape[1]
    if g < 1 or c_out % g:
        raise ValueError(f"route has G={g} groups, which must divide C_out={c_out}")
    if route.dim() == 4:
        grid = tuple(route.shape[2:])
        if tile is None:  # inferred from the grid, which must then cut the output evenly
            if 0 in grid or h_out % grid[0] or w_out % grid[1]:
                raise ValueError(
                    f"route's tile grid {grid} (route.shape[2:]) must divide the "
                    f"output size {h_out}x{w_out} exactly"
                )
            tile = (h_out // grid[0], w_out // grid[1])
        tile = pair(tile, "tile")
        if tile[0] < 1 or tile[1] < 1 or h_out % tile[0] or w_out % tile[1]:
            raise ValueError(
                f"tile={tile} must divide the output size {h_out}x{w_out} exactly"
            )
        if (h_out // tile[0], w_out // tile[1]) != grid:
            raise ValueError(
                f"route's tile grid {grid} (route.shape[2:]) does not match the "
                f"{h_out}x{w_out} output cut in {tile[0]}x{tile[1]} tiles, "
                f"which gives {(h_out // tile[0], w_out // tile[1])}"
            )
    else:
        if tile is not None:
            raise ValueError(
                "tile is given but route is [B, G]: pass route as [B, G, Th, Tw]"
            )
        tile, grid = (h_out, w_out), (1, 1)

    g_in = 1
    if in_route is not None:
        check_mask(in_route, "in_route", b, (2,), "[B, G_in]")
        g_in = in_route.shape[1]
        if g_in < 1 or c_in % g_in:
            raise ValueError(
                f"in_route has G_in={g_in} groups, which must divide C_in={c_in}"
            )
    return dataclasses.replace(
        plain, groups=g, in_groups=g_in, tile=tile, grid=grid, spatial=route.dim() == 4
    )


def linear_groups(x, weight, bias, route, in_route) -> tuple[int, int]:
    """Check the arguments of ``routed_linear``; return (G, G_in)."""
    check_float(x, "x", 2, "[B, F_in]")
    check_float(weight, "weight", 2, "[F_out, F_in]")
    check_bias(bias, weight.shape[0])
    check_same(x, {"weight": weight, "bias": bias, "route": route, "in_route": in_route})
    if weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"weight expects {weight.shape[1]} input features (weight.shape[1]) "
            f"but x has {x.shape[1]} (x.shape[1])"
        )
    check_mask(route, "route", x.shape[0], (2,), "[B, G]")
    g = route.shape[1]
    if g < 1 or weight.shape[0] % g:
        raise ValueError(
            f"route has G={g} blocks, which must divide F_out={weight.shape[0]}"
        )
    g_in = 1
    if in_route is not None:
        check_mask(in_route, "in_route", x.shape[0], (2,), "[B, G_in]")
        g_in = in_route.shape[1]
        if g_in < 1 or x.shape[1] % g_in:
            raise ValueError(
                f"in_route has G_in={g_in} blocks, which must divide F_in={x.shape[1]}"
            )
    return g, g_in


def per_sample_geometry(x, weight, bias, stride, padding) -> Geometry:
    """Check the arguments of ``per_sample_conv2d``; its geometry has one group, no
    tiles."""
    check_float(x, "x", 4, "[B, C_in, H, W]")
    check_float(weight, "weight", 5, "[B, C_out, C_in, k, k] (one kernel per sample)")
    check_same(x, {"weight": weight, "bias": bias})
    b, c_in, h, w = x.shape
    wb, c_out, w_in, kh, kw = weight.shape
    if wb != b:
        raise ValueError(
            f"weight has kernels for {wb} samples (weight.shape[0]) but x has {b} samples"
        )
    if w_in != c_in:
        raise ValueError(
            f"weight expects {w_in} input channels (weight.shape[2]) but x has "
            f"{c_in} (x.shape[1])"
        )
    if bias is not None:
        check_float(bias, "bias", 2, f"[B, C_out] = [{b}, {c_out}]")
        if tuple(bias.shape) != (b, c_out):
            raise ValueError(
                f"bias must have shape [{b}, {c_out}] ([B, C_out]), "
                f"got {tuple(bias.shape)}"
            )
    return _plain_geometry(b, c_in, h, w, c_out, kh, kw, stride, padding)
