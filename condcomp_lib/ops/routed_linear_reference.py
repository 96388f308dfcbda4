"""Routed linear layer in plain PyTorch: the ground truth, and the CPU path.

Used through :func:`condcomp_lib.ops.routed_linear` by Bengio et al.'s block policies
(blocks of hidden units switched per sample), CIGT's routed fully connected layers
(chapter 4) and early exit. It is the 1x1 case of the routed convolution, but a matrix
product on a CPU is cheap enough that call overheads matter, so it has its own two short
paths:

* no ``in_route``: one ``F.linear`` per output block on the samples that have it on, with
  the block's rows of the weight as a view (no copy). At batch 1 this reads only the
  active rows;
* with ``in_route``: every (input block i, output block j) pair that some sample uses is
  one matrix of a single batched product ``torch.bmm``; the samples of each pair are
  stacked (padded to the largest pair) and the pair results summed into the output. One
  bmm replaces up to G_in * G small products, which matters when each is tiny.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _blocks(route: torch.Tensor):
    """(j, samples) for each output block j that some sample has on."""
    for j in (
        route.any(0).nonzero().flatten().tolist()
    ):  # one search for the blocks in use
        yield j, route[:, j].nonzero().flatten()


def _pairs(route, in_route, g_in, g, fig, fog, weight):
    """Items of the active (sample, input block, output block) triples, grouped by
    pair."""
    pair = in_route[:, :, None] & route[:, None, :]  # [B, G_in, G]
    b, i, j = pair.nonzero(as_tuple=True)
    p = i * g + j
    p_used, p = torch.unique(p, return_inverse=True)  # pairs somebody uses
    order = torch.argsort(p, stable=True)
    b, i, j, p = b[order], i[order], j[order], p[order]
    counts = torch.bincount(p, minlength=len(p_used))
    pos = torch.arange(len(p), device=p.device) - (counts.cumsum(0) - counts)[p]
    # gather the used (output block, input block) submatrices only; at batch 1 that is one
    # block, where permuting the whole weight into pair order would copy all of it per
    # call
    w_pairs = weight.view(g, fog, g_in, fig)[
        p_used % g, :, p_used // g
    ]  # [P, F_out/G, F_in/G_in]
    w_pairs = w_pairs.transpose(1, 2)  # [P, F_in/G_in, F_out/G]
    n_max = int(counts.max()) if len(counts) else 0
    return b, i, j, p, pos, n_max, w_pairs, p_used


def forward(x, weight, bias, route, in_route):
    """y [B, F_out]: x @ weight.T + bias on the active blocks, exact zeros elsewhere."""
    bsz, f_out = x.shape[0], weight.shape[0]
    g = route.shape[1]
    fog = f_out // g
    if bool(route.all()) and (in_route is None or bool(in_route.all())):
        return F.linear(x, weight, bias)
    if in_route is None:
        out = x.new_zeros(bsz, f_out)
        for j, b in _blocks(route):
            rows = slice(j * fog, (j + 1) * fog)
            bj = None if bias is None else bias[rows]
            if len(b) == bsz:
                out[:, rows] = F.linear(x, weight[rows], bj)
            else:
                out[b, rows] = F.linear(x.index_select(0, b), weight[rows], bj)
        return out

    g_in = in_route.shape[1]
    fig = x.shape[1] // g_in
    out = x.new_zeros(bsz, g, fog)  # [B, G, F_out/G]
    if bias is not None:
        out = torch.where(route[:, :, None], bias.view(g, fog), out)
    b, i, j, p, pos, n_max, w_pairs, _ = _pairs(
        route, in_route, g_in, g, fig, fog, weight
    )
    if len(b):
        xp = x.new_zeros(len(w_pairs), n_max, fig)  # [P, n, F_in/G_in]
        xp[p, pos] = x.reshape(bsz, g_in, fig)[b, i]
        yp = torch.bmm(xp, w_pairs)  # [P, n, F_out/G]
        out.index_put_((b, j), yp[p, pos], accumulate=True)
    return out.view(bsz, f_out)


def backward(grad_out, x, weight, bias, route, in_route, needs=(True,) * 3):
    """Gradients (x, weight, bias) of ``forward``, through the active blocks only."""
    need_x, need_w, need_b = needs[0], needs[1], needs[2] and bias is not None
    bsz, f_out = x.shape[0], weight.shape[0]
    g = route.shape[1]
    fog = f_out // g
    if bool(route.all()) and (in_route is None or bool(in_route.all())):
        return (
            grad_out @ weight if need_x else None,
            grad_out.T @ x if need_w else None,
            grad_out.sum(0) if need_b else None,
        )
    gx = x.new_zeros(x.shape) if need_x else None
    gw = torch.zeros_like(weight) if need_w else None
    gb = torch.zeros_like(bias) if need_b else None
    if in_route is None:
        for j, b in _blocks(route):
            rows = slice(j * fog, (j + 1) * fog)
            everyone = len(b) == bsz
            gy = grad_out[:, rows] if everyone else grad_out[b, rows]  # [n, F_out/G]
            xs = x if everyone else x.index_select(0, b)
            if need_x:
                gx.index_add_(0, b, gy @ weight[rows])
            if need_w:
                gw[rows] = gy.T @ xs
            if need_b:
                gb[rows] = gy.sum(0)
        return gx, gw, gb

    g_in = in_route.shape[1]
    fig = x.shape[1] // g_in
    go = grad_out.reshape(bsz, g, fog)
    if need_b:
        gb = (go * route[:, :, None]).sum(0).flatten()
    b, i, j, p, pos, n_max, w_pairs, p_used = _pairs(
        route, in_route, g_in, g, fig, fog, weight
    )
    if len(b) == 0:
        return gx, gw, gb
    gyp = x.new_zeros(len(w_pairs), n_max, fog)
    gyp[p, pos] = go[b, j]
    if need_x:
        gxp = torch.bmm(gyp, w_pairs.transpose(1, 2))  # [P, n, F_in/G_in]
        gx.view(bsz, g_in, fig).index_put_((b, i), gxp[p, pos], accumulate=True)
    if need_w:
        xp = x.new_zeros(len(w_pairs), n_max, fig)
        xp[p, pos] = x.reshape(bsz, g_in, fig)[b, i]
        gw_pairs = x.new_zeros(g_in * g, fig, fog)
        gw_pairs[p_used] = torch.bmm(xp.transpose(1, 2), gyp)  # [P, F_in/G_in, F_out/G]
        gw = gw_pairs.view(g_in, g, fig, fog).permute(1, 3, 0, 2).reshape(f_out, -1)
    return gx, gw, gb
