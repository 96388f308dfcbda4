"""``Dispatch``: run a routed block once per route, not once per routed layer.

Used by CIGT (chapter 4), early exit (chapters 1 and 2: the samples still running) and
chapter 5 (routed execution), and meant for the later chapters' block policies and cluster
trees. A routed layer on its own (:func:`~condcomp_lib.ops.routed_conv2d`) gathers the
samples of each route, computes, and scatters them back; a block of four routed layers
pays that four times. A dispatch pays it once per block:

1. order the samples by their route once: one stable sort of ``route`` [B], no Python loop
   over samples (``bincount`` gives the bucket sizes, ``argsort`` the order);
2. hand each route's samples, as one contiguous stack, to that route's *dense* sub-network
   (for CIGT: conv3, fc1, fc2 and the classifier of one path, on views of the path's
   weights);
3. put the results back in the original order once (``index_copy_``).

At batch 1, or when every sample takes the same route, there is one bucket: nothing is
gathered or scattered and the cost is that of the sub-network itself plus a few integer
operations. A route whose sub-network is ``None`` computes nothing: its rows of the result
are zero (an exited sample, a path switched off).

Whether dispatching pays depends on the work it saves against the calls it adds: with many
small buckets the wide block computed densely, its off outputs zeroed, can be faster. The
caller may hand :meth:`Dispatch.run` that dense alternative and the block's costs, and
:func:`~condcomp_lib.ops.cost_model.dispatch_pays` chooses. :meth:`Dispatch.reference`
runs every path on every sample and keeps each sample's own: the ground truth of the
tests.

    d = Dispatch(route, n_routes=4)          # route long [B], values in 0..3
    y = d.run(x, [path0, path1, path2, path3])
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .. import cost
from .cost_model import BlockCost, dispatch_pays

INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_route_index(route, n_routes: int) -> None:
    """``route`` must be an integer tensor [B] with values in [0, n_routes)."""
    if not isinstance(n_routes, int) or isinstance(n_routes, bool) or n_routes < 1:
        raise ValueError(f"n_routes must be a positive int, got {n_routes!r}")
    if not isinstance(route, torch.Tensor):
        raise ValueError(
            f"route must be a torch.Tensor of route indices [B], "
            f"got {type(route).__name__}"
        )
    if route.dtype not in INTEGER_DTYPES:
        raise ValueError(
            f"route must hold integer route indices (torch.long), got "
            f"{route.dtype}; a boolean mask [B, G] belongs to routed_conv2d"
        )
    if route.dim() != 1:
        raise ValueError(
            f"route must be 1-D [B] (one route index per sample), got shape "
            f"{tuple(route.shape)}"
        )


def _check_bounds(lo: int, hi: int, n_routes: int) -> None:
    if lo < 0 or hi >= n_routes:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"route holds index {bad}, outside 0..{n_routes - 1} (n_routes={n_routes})"
        )


def check_range(route: torch.Tensor, n_routes: int) -> None:
    """Every index of ``route`` (non-empty) lies in [0, n_routes)."""
    lo, hi = torch.aminmax(route)
    _check_bounds(int(lo), int(hi), n_routes)


class Dispatch:
    """One route index per sample, ordered once; see the module docstring.

    ``route`` long [B], values in [0, ``n_routes``). ``bucket_rows[r]`` holds, for route
    r, the original rows of its samples (in their original order), or None when route r is
    not used or holds the whole batch. ``sizes[r]`` is the number of samples on route r,
    ``used`` the routes with samples."""

    def __init__(self, route: torch.Tensor, n_routes: int):
        check_route_index(route, n_routes)
        self._route, self.n_routes, self.batch = route, n_routes, len(route)
        if self.batch == 1:  # one sample, one bucket: no sort, no copies
            self._one(int(route), n_routes)
            return
        if self.batch == 0:
            self.sizes = [0] * n_routes
        else:
            check_range(route, n_routes)
            self.sizes = torch.bincount(route, minlength=n_routes).tolist()  # [K]
        self.used = [r for r, n in enumerate(self.sizes) if n]
        # one bucket holds everyone: the identity order, nothing to gather or scatter
        self.single = len(self.used) <= 1
        self.bucket_rows: list[torch.Tensor | None] = [None] * n_routes
        self.order = None
        if not self.single:
            self.order = torch.argsort(route, stable=True)  # [B]
            for r, rows in enumerate(self.order.split(self.sizes)):
                if self.sizes[r]:
                    self.bucket_rows[r] = rows

    def _one(self, r: int, n_routes: int) -> None:
        """Batch 1 on route r: plain integers, no tensor operation."""
        self.n_routes, self.batch = n_routes, 1
        _check_bounds(r, r, n_routes)
        self.sizes = [0] * n_routes
        self.sizes[r] = 1
        self.used, self.single, self.order = [r], True, None
        self.bucket_rows = [None] * n_routes

    def refine(self, route: torch.Tensor, n_routes: int) -> "Dispatch":
        """The dispatch on pairs (this route, ``route``): pair r * n_routes + q of
        ``self.n_routes * n_routes``. A trellis block dispatches on the pair, since what a
        path reads depends on the path before it. At batch 1 this is integer
        arithmetic."""
        check_route_index(route, n_routes)
        if len(route) != self.batch:
            raise ValueError(
                f"route has {len(route)} entries but the batch has {self.batch}"
            )
        if self.batch != 1:
            check_range(route, n_routes)
            return Dispatch(self._route * n_routes + route, self.n_routes * n_routes)
        q = int(route)
        _check_bounds(q, q, n_routes)
        pair = Dispatch.__new__(Dispatch)
        pair._one(self.used[0] * n_routes + q, self.n_routes * n_routes)
        pair._route = None  # made when asked for
        pair._device = route.device
        return pair

    @property
    def route(self) -> torch.Tensor:
        """The route index of every sample, long [B]."""
        if self._route is None:
            self._route = torch.tensor(self.used, device=self._device)
        return self._route

    def _check_x(self, x: torch.Tensor, name: str = "x") -> None:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.shape[0] != self.batch:
            raise ValueError(
                f"{name} has {x.shape[0]} samples but route has "
                f"{self.batch} entries (one route index per sample)"
            )

    # ------------------------------------------------------------------ the two halves

    def split(self, x: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """(route, its samples [n_r, ...]) for every used route, in route order. One
        gather of x (none with a single bucket); each stack is a contiguous view of it."""
        self._check_x(x)
        if self.single:
            return [(r, x) for r in self.used]
        stacks = x.index_select(0, self.order).split(self.sizes)
        return [(r, stacks[r]) for r in self.used]

    def combine(self, ys: Sequence[tuple[int, torch.Tensor | None]]) -> torch.Tensor:
        """Put each route's results back in the batch's order: ``ys`` lists (route, y_r)
        with y_r [n_r, ...] (or None: zeros) for every used route. Returns [B, ...]."""
        ys = list(ys)
        if [r for r, _ in ys] != self.used:
            raise ValueError(
                f"combine needs the results of routes {self.used} in that "
                f"order, got routes {[r for r, _ in ys]}"
            )
        like = next((y for _, y in ys if y is not None), None)
        if like is None:
            raise ValueError("every route's result is None: nothing to combine")
        if self.single:
            return ys[0][1]
        out = like.new_empty(self.batch, *like.shape[1:])  # [B, ...]
        for r, y in ys:
            if y is None:
                out.index_fill_(0, self.bucket_rows[r], 0)
            else:
                out.index_copy_(0, self.bucket_rows[r], y)
        return out

    # ------------------------------------------------------------------ running a block

    def run(
        self,
        x: torch.Tensor,
        paths: Sequence[Callable | None],
        *,
        dense: Callable | None = None,
        cost: BlockCost | None = None,
        strategy: str = "auto",
    ) -> torch.Tensor:
        """Each sample through its route's sub-network ``paths[route]``: [B, ...].

        ``paths`` holds one callable (or None: that route computes nothing, zeros) per
        route. ``dense``, optional, computes the same result the simple way (the wide
        block on every sample, outputs that are off zeroed); ``strategy`` "buckets" or
        "dense" forces one, "auto" asks the cost model
        (:func:`~condcomp_lib.ops.cost_model.dispatch_pays`, which needs ``cost``) and
        dispatches when either is missing. The choice never changes the result, only the
        time."""
        if len(paths) != self.n_routes:
            raise ValueError(
                f"paths has {len(paths)} entries but n_routes is "
                f"{self.n_routes}: give one sub-network (or None) per route"
            )
        if strategy not in ("auto", "buckets", "dense"):
            raise ValueError(
                f"strategy must be 'auto', 'buckets' or 'dense', got {strategy!r}"
            )
        if strategy == "dense" and dense is None:
            raise ValueError("strategy='dense' needs the dense alternative: pass dense=")
        self._check_x(x)
        if not self.used:
            raise ValueError("route is empty: there is no sample to run")
        if self.single and strategy != "dense":  # one bucket: its path on x itself
            path = paths[self.used[0]]
            return self._zeros(x, paths) if path is None else path(x)
        if (
            strategy == "auto"
            and dense is not None
            and cost is not None
            and not dispatch_pays(self.batch, len(self.used), cost)
        ):
            strategy = "dense"
        if strategy == "dense":
            return dense(x)
        results = [
            (r, None if paths[r] is None else self._call(paths[r], r, xs))
            for r, xs in self.split(x)
        ]
        if all(y is None for _, y in results):  # nobody computes: zeros
            return self._zeros(x, paths)
        return self.combine(results)

    def _call(self, path: Callable, r: int, xs: torch.Tensor) -> torch.Tensor:
        """path(xs), with the MACs it reports charged to bucket r's samples when a
        :class:`~condcomp_lib.cost.RealizedMacs` counter is open."""
        if self.single or not cost.counting():
            return path(xs)
        with cost.sample_index(self.bucket_rows[r]):
            return path(xs)

    def _zeros(self, x: torch.Tensor, paths) -> torch.Tensor:
        """Zeros [B, ...] shaped like a path's output, learnt from a call on no
        samples."""
        probe = next((p for p in paths if p is not None), None)
        if probe is None:
            raise ValueError("every path is None: the output's shape is unknown")
        empty = probe(x[:0])
        return empty.new_zeros(self.batch, *empty.shape[1:])

    def reference(
        self, x: torch.Tensor, paths: Sequence[Callable | None]
    ) -> torch.Tensor:
        """Dense, then keep each sample's own: every path runs on the whole batch and row
        b of the result is row b of path ``route[b]``'s output (zeros for a None path). K
        times the work; the ground truth that :meth:`run` must equal."""
        self._check_x(x)
        ys = [None if p is None else p(x) for p in paths]  # K x [B, ...]
        like = next((y for y in ys if y is not None), None)
        if like is None:
            raise ValueError("every path is None: the output's shape is unknown")
        out = torch.zeros_like(like)
        for r, y in enumerate(ys):
            if y is not None and self.sizes[r]:
                keep = (self.route == r).view(-1, *[1] * (like.dim() - 1))
                out = torch.where(keep, y, out)
        return out

    def __repr__(self) -> str:
        return (
            f"Dispatch(batch={self.batch}, n_routes={self.n_routes}, sizes={self.sizes})"
        )
