"""Routed linear layer on a CPU, fast: one batched product instead of a loop over blocks.

Used through :func:`condcomp_lib.ops.routed_linear` by Bengio et al.'s block policies,
early exit and chapter 5. The readable ground truth is :mod:`.routed_linear_reference`
beside it; the tests hold the two equal, value and gradient.

* batch 1: the active output blocks, merged into runs of neighbours, are read as views of
  the weight's rows (no copy): the cost is the active rows' bytes, which is what a
  matrix-vector product on a CPU is paid by;
* a batch: the active (sample, output block) items are listed once, grouped by block
  (``nonzero`` on the transposed route), their inputs gathered once, and one grouped
  matrix product (``F.grouped_mm``: block j's items times block j's rows, with no padding)
  computes all of them; the results are added into an output that holds the bias where a
  block is on and zeros elsewhere (``index_add_``);
* with ``in_route`` the items are (sample, input block, output block) triples, grouped by
  block pair: one grouped product over the pairs, whose results sum into their output
  block.

``F.grouped_mm`` takes float32 (and sizes that are multiples of four) on a CPU; elsewhere
:func:`grouped_matmul` falls back to one product per group, the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import routed_linear_reference
from .routed_conv_reference import all_on


# below this many rows a group, one padded batched product (torch.bmm) beats a grouped
# one, which on a CPU makes one call a group (measured: 64 groups of about 16 rows)
SMALL_GROUP_ROWS = 32


def grouped_matmul(a: torch.Tensor, b: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Rows of ``a`` [n, K] in consecutive groups of ``counts[g]`` rows, group g times
    ``b[g]`` [K, N]: returns [n, N]. One batched call: ``F.grouped_mm`` for large groups,
    a zero-padded ``torch.bmm`` for many small ones; :func:`grouped_matmul_reference`
    is the plain loop both must equal."""
    used = [n for n in counts if n]
    if not used:
        return a.new_zeros(0, b.shape[2])
    if len(a) < SMALL_GROUP_ROWS * len(used):
        return _padded_bmm(a, b, counts)
    if (
        a.dtype == torch.float32
        and a.shape[1] % 4 == 0
        and b.shape[2] % 4 == 0
        and a.is_contiguous()
    ):  # what F.grouped_mm takes on a CPU
        offs = torch.tensor(counts, dtype=torch.int32).cumsum(0, dtype=torch.int32)
        return F.grouped_mm(a, b, offs=offs.to(a.device))
    return grouped_matmul_reference(a, b, counts)


def grouped_matmul_reference(a, b, counts):
    """The same products, one per group (float64, sizes F.grouped_mm does not take)."""
    parts, start = [], 0
    for g, n in enumerate(counts):
        if n:
            parts.append(a[start : start + n] @ b[g])
            start += n
    return torch.cat(parts) if parts else a.new_zeros(0, b.shape[2])


def _padded_bmm(a, b, counts):
    """Each group's rows in a zero-padded slot [G, n_max, K], one bmm, the rows back."""
    sizes = torch.tensor(counts, device=a.device)
    group = torch.repeat_interleave(torch.arange(len(counts), device=a.device), sizes)
    pos = torch.arange(len(a), device=a.device) - (sizes.cumsum(0) - sizes)[group]
    slots = a.new_zeros(len(counts), max(counts), a.shape[1])
    slots[group, pos] = a
    return torch.bmm(slots, b)[group, pos]  # [n, N]


@dataclass
class Items:
    """Active items grouped by ``group``: sample ``b``, input block ``i`` (0 without
    in_route), output block ``j``; ``counts`` items per group; ``rows`` = b * G + j."""

    b: torch.Tensor
    i: torch.Tensor
    j: torch.Tensor
    counts: list
    rows: torch.Tensor


def items(route: torch.Tensor, in_route: torch.Tensor | None) -> Items:
    """The active items, grouped by output block (by block pair with ``in_route``)."""
    bsz, g = route.shape
    if in_route is None:
        j, b = route.t().nonzero(as_tuple=True)  # sorted by block
        i = torch.zeros_like(j)
        counts = torch.bincount(j, minlength=g).tolist()
    else:
        g_in = in_route.shape[1]
        pair = route.t()[:, None, :] & in_route.t()[None, :, :]  # [G, G_in, B]
        j, i, b = pair.nonzero(as_tuple=True)  # sorted by (j, i)
        counts = torch.bincount(j * g_in + i, minlength=g * g_in).tolist()
    return Items(b, i, j, counts, b * g + j)


def _bias_or_zeros(x, bias, route, fo):
    """[B, G, F_out/G]: the bias where a block is on, zeros elsewhere."""
    if bias is None:
        return x.new_zeros(*route.shape, fo)
    return bias.view(1, -1, fo) * route[:, :, None]  # a product: faster than where


def _batch1(x, weight, bias, route, in_route):
    """Batch 1: products on views of the active rows (and columns), no gather, no copy."""
    g, f_out = route.shape[1], weight.shape[0]
    fo = f_out // g
    out = x.new_zeros(1, f_out)
    for j0, j1 in _runs(route[0]):
        rows = slice(j0 * fo, j1 * fo)
        b = None if bias is None else bias[rows]
        if in_route is None:
            out[:, rows] = F.linear(x, weight[rows], b)
            continue
        fi = x.shape[1] // in_route.shape[1]
        y = x.new_zeros(1, j1 * fo - j0 * fo) if b is None else b[None].clone()
        for i0, i1 in _runs(in_route[0]):
            cols = slice(i0 * fi, i1 * fi)
            y += F.linear(x[:, cols], weight[rows, cols])
        out[:, rows] = y
    return out


def _runs(mask: torch.Tensor) -> list[tuple[int, int]]:
    """[(start, stop)] of the runs of consecutive True blocks of a bool [G]."""
    runs = []
    for k in mask.nonzero().flatten().tolist():
        if runs and runs[-1][1] == k:
            runs[-1] = (runs[-1][0], k + 1)
        else:
            runs.append((k, k + 1))
    return runs


def _pair_weights(weight, g, g_in):
    """[G * G_in, F_in/G_in, F_out/G]: block pair (j, i) of the weight, transposed (a
    view of one copy in which each block's rows stay whole, the cheap copy to make)."""
    fo, fi = weight.shape[0] // g, weight.shape[1] // g_in
    pairs = weight.view(g, fo, g_in, fi).transpose(1, 2).reshape(g * g_in, fo, fi)
    return pairs.transpose(1, 2)


def forward(x, weight, bias, route, in_route):
    """y [B, F_out]: x @ weight.T + bias on the active blocks, exact zeros elsewhere."""
    bsz, f_out = x.shape[0], weight.shape[0]
    g = route.shape[1]
    fo = f_out // g
    if all_on(route, in_route):
        return F.linear(x, weight, bias)
    if bsz == 1:
        return _batch1(x, weight, bias, route, in_route)
    it = items(route, in_route)
    if in_route is None:  # each (sample, block) item once: copied into zeros
        out = x.new_zeros(bsz * g, fo)  # [B * G, F_out/G]
        if it.b.numel():
            blocks = weight.view(g, fo, -1).transpose(1, 2)  # [G, F_in, F_out/G]
            y = grouped_matmul(x.index_select(0, it.b), blocks, it.counts)  # [n, fo]
            if bias is not None:
                y += bias.view(g, fo).index_select(0, it.j)
            out.index_copy_(0, it.rows, y)
        return out.view(bsz, f_out)
    out = _bias_or_zeros(x, bias, route, fo).view(bsz * g, fo)  # [B * G, F_out/G]
    if it.b.numel():  # (sample, input block, output block) items: summed
        g_in = in_route.shape[1]
        xs = x.view(bsz, g_in, -1)[it.b, it.i]  # [n, F_in/G_in]
        y = grouped_matmul(xs, _pair_weights(weight, g, g_in), it.counts)
        out.index_add_(0, it.rows, y)
    return out.view(bsz, f_out)


def backward(grad_out, x, weight, bias, route, in_route, needs=(True,) * 3):
    """Gradients (x, weight, bias) of ``forward``, through the active items only."""
    if all_on(route, in_route):  # the dense layer's gradients, as the reference
        return routed_linear_reference.backward(
            grad_out, x, weight, bias, route, in_route, needs
        )
    need_x, need_w, need_b = needs[0], needs[1], needs[2] and bias is not None
    bsz, g = x.shape[0], route.shape[1]
    fo = weight.shape[0] // g
    g_in = 1 if in_route is None else in_route.shape[1]
    fi = x.shape[1] // g_in
    it = items(route, in_route)
    gb = None
    if need_b:
        gb = (grad_out.reshape(bsz, g, fo) * route[:, :, None]).sum(0).flatten()
    gx = torch.zeros_like(x) if need_x else None
    gw = torch.zeros_like(weight) if need_w else None
    if not it.b.numel():
        return gx, gw, gb
    gys = grad_out.reshape(bsz * g, fo).index_select(0, it.rows)  # [n, F_out/G]
    xs = x.view(bsz, g_in, fi)[it.b, it.i]  # [n, F_in/G_in]
    w4 = weight.view(g, fo, g_in, fi)
    if need_x:
        w_pairs = w4.permute(0, 2, 1, 3).reshape(g * g_in, fo, fi)  # pair (j, i)
        gxs = grouped_matmul(gys, w_pairs, it.counts)  # [n, F_in/G_in]
        gx.view(bsz * g_in, fi).index_add_(0, it.b * g_in + it.i, gxs)
    if need_w:
        gw4 = gw.view(g, fo, g_in, fi)
        start = 0
        for p, n in enumerate(it.counts):  # per used pair
            if n:
                part = slice(start, start + n)
                gw4[p // g_in, :, p % g_in] = gys[part].T @ xs[part]
                start += n
    return gx, gw, gb
