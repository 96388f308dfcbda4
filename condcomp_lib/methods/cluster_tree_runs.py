"""Training, measuring and timing the networks of chapter 8 (feature-cluster trees and
conditional networks).

Used by chapter 8. The base is chapter 0's thin LeNet (from the cache). Every other
network is trained here and cached under a key that names what changes its weights:

* trees of k specialists (depth 1) and of k specialists with ``k2`` children each
  (depth 2), grown by :func:`grow`; k = 1 is the capacity control, one specialist of the
  same size trained on all the data;
* the filter-group LeNet (implicit routing) and the conditional LeNet (explicit routing)
  of :mod:`condcomp_lib.methods.conditional_networks`.

The letter's computational point is that, once the base's features of the training set are
computed, the specialists train independently: :func:`train_all` trains them one after
the other in this process or, given a pool, in worker processes, and
:func:`parallel_versus_sequential` times the two.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass

import torch

from .. import baselines, cache, cost, models, train
from ..data import Dataset, Split
from . import cluster_tree as ct
from . import conditional_networks as cn

# depth 1: the letter's "a new network, perhaps identical to the original one" (the thin
# LeNet's widths); depth 2: half as wide, the letter's fewer features further down
W1 = ct.SpecialistWidths(*astuple(models.THIN))
W2 = ct.SpecialistWidths(*(w // 2 for w in astuple(models.THIN)))
# the narrow setting of earlier runs: 1/8 to 1/2 of the base's widths (an exercise)
NARROW = ct.SpecialistWidths(4, 8, 16, 64, 32)


@dataclass(frozen=True)
class Setup:
    """How much work each profile does."""

    train_samples: int | None  # images the specialists train on (None: all)
    test_samples: int | None  # None: the whole test split
    epochs: int  # epochs of every specialist (the full profile: the base's 15)
    ks: tuple  # the depth-1 trees
    k2: int  # children per specialist at depth 2
    depth2_ks: tuple  # the trees also grown to depth 2
    k_main: int  # the tree compared with the control on every seed
    seeds: tuple  # seeds of that comparison (each with its own base)
    cond_epochs: int  # the filter-group and conditional LeNets, trained from scratch
    parallel_samples: int  # images per specialist in the parallel-training timing
    widths1: ct.SpecialistWidths = W1
    widths2: ct.SpecialistWidths = W2
    # k-means restarts: with 4 at K = 4 it stops in local optima that differ by seed
    kmeans_restarts: int = 32

    def tag(self) -> str:
        w = ".".join(map(str, astuple(self.widths1) + astuple(self.widths2)))
        return (
            f"n{self.train_samples or 'all'}-e{self.epochs}-w{w}-r{self.kmeans_restarts}"
        )


SETUPS = {
    "quick": Setup(2000, 1500, 1, (2, 4), 2, (2,), 4, (0,), 2, 200),
    # every network at the base's budget: chapter 0's 15 epochs
    "full": Setup(None, None, 15, (2, 4, 10), 2, (2, 4), 4, (0, 1, 2), 15, 3000),
}


def get_setup(profile: str) -> Setup:
    train.get_profile(profile)  # the same error for an unknown name as elsewhere
    return SETUPS[profile]


def shape(s: Setup, k: int, depth: int = 1) -> ct.TreeShape:
    if depth not in (1, 2):
        raise ValueError(f"depth must be 1 or 2, got {depth!r}")
    return ct.TreeShape(k, s.k2 if depth == 2 else 0, s.widths1, s.widths2)


# ------------------------------------------------------------------ the base's levels


def levels_split(base: models.LeNet, split: Split, batch: int = 1000) -> Split:
    """The base's levels of every image, packed [N, N_levels], with the labels: what the
    specialists train on. Computed once, so that training a specialist never runs the
    base (the letter's "without any computational cost from running the original
    network")."""
    flat = [ct.pack(ct.base_levels(base, x)) for x, _ in train.batches(split, batch)]
    return Split(torch.cat(flat), split.y)


# ------------------------------------------------------------------ training specialists


def fit_one(net: torch.nn.Module, data: Split, epochs: int, seed: int, threads=None):
    """Train one specialist (the job a worker runs): returns (its weights, seconds)."""
    if threads is not None:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    train.fit(
        net,
        data,
        epochs=epochs,
        lr=baselines.RECIPE["lr"],
        batch_size=baselines.RECIPE["batch_size"],
        seed=seed,
        device="cpu",
        progress=False,
    )
    return net.state_dict(), time.perf_counter() - t0


def _started(_):
    """Make a worker import PyTorch and this library before any clock starts; the pause
    lets every worker of the pool take one of these calls."""
    torch.set_num_threads(1)
    time.sleep(0.5)
    return torch.get_num_threads()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes (spawned: a forked PyTorch can hang), one thread each."""
    ctx = torch.multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def train_all(jobs, epochs: int, seed: int, pool: ProcessPoolExecutor | None = None):
    """Train every (specialist, data) of ``jobs`` in place: one after the other in this
    process (``pool`` None) or in the pool's workers, one thread each. Returns the
    seconds each took."""
    if pool is None:
        out = [fit_one(net, data, epochs, seed) for net, data in jobs]
    else:
        futures = [pool.submit(fit_one, net, data, epochs, seed, 1) for net, data in jobs]
        out = [f.result() for f in futures]
    for (net, _), (state, _) in zip(jobs, out):
        net.load_state_dict(state)
        net.eval()
    return [seconds for _, seconds in out]


def grow(
    base: models.LeNet,
    data: Split,
    tree_shape: ct.TreeShape,
    epochs: int,
    seed: int = 0,
    pool: ProcessPoolExecutor | None = None,
    first: ct.ClusterTree | None = None,
    restarts: int = 4,
) -> tuple[ct.ClusterTree, dict]:
    """Grow a tree on the frozen ``base`` from ``data`` (the packed base levels of the
    training images, :func:`levels_split`): k-means of the base's last hidden layer, one
    specialist per cluster trained on its images only, and, at depth 2, k-means of each
    specialist's top representation over its images and one child per cluster. A depth-2
    tree can start from ``first``, the depth-1 tree of the same k grown before (the same
    clusters and specialists): only the new level is then trained. Each k-means keeps
    the best of ``restarts`` runs."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    tree = ct.skeleton(base, tree_shape)
    lateral = ct.base_channels(base.widths)
    top = ct.unpack(data.x, lateral)[5]  # [N, f2]
    if first is None:
        tree.centroids.copy_(ct.kmeans(top, tree_shape.k, seed, restarts)[0])
    else:
        tree.centroids.copy_(first.centroids)
    clusters = ct.nearest(top, tree.centroids)  # [N]
    subsets = [data_of(data, clusters == c) for c in range(tree_shape.k)]
    if first is None:
        starts = [n.specialist.start_from(base.fc3) for n in tree.branches]
        seconds = train_all(list(zip(starts, subsets)), epochs, seed, pool)
    else:  # the level grown before
        for node, old in zip(tree.branches, first.branches):
            node.specialist.load_state_dict(old.specialist.state_dict())
        seconds = []
    sizes = [len(d) for d in subsets]
    below = []
    for node, d in zip(tree.branches if tree_shape.k2 else [], subsets):
        with torch.no_grad():  # the child's inputs: its laterals beside its features
            lat = ct.unpack(d.x, lateral)
            merged = ct.merge(lat, node.specialist.levels(lat))
        node.centroids.copy_(ct.kmeans(merged[5], tree_shape.k2, seed, restarts)[0])
        route = ct.nearest(merged[5], node.centroids)
        packed = Split(ct.pack(merged), d.y)
        for g, child in enumerate(node.branches):
            child.specialist.start_from(node.specialist.head)
            below.append((child.specialist, data_of(packed, route == g)))
    if below:
        seconds += train_all(below, epochs, seed, pool)
        sizes += [len(d) for _, d in below]
    info = {
        "k": tree_shape.k,
        "k2": tree_shape.k2,
        "cluster_sizes": sizes,
        "specialist_seconds": seconds,
        "train_seconds": time.perf_counter() - t0,
    }
    return tree.eval(), info


def data_of(data: Split, keep: torch.Tensor) -> Split:
    """The rows of ``data`` where ``keep`` [N] is true; a clear error for an empty
    cluster."""
    if not keep.any():
        raise ValueError("a cluster holds no training image: choose a smaller k")
    return Split(data.x[keep], data.y[keep])


def train_split(ds: Dataset, profile: str, seed: int) -> Split:
    return ds.train.subset(get_setup(profile).train_samples, seed)


def tree(
    base: models.LeNet,
    ds: Dataset,
    profile: str,
    k: int,
    depth: int = 1,
    seed: int = 0,
    levels: Split | None = None,
    retrain: bool = False,
):
    """(tree, info) from the cache, grown first if missing. ``base`` must be the thin
    LeNet of ``seed``; ``levels`` (its packed levels of the profile's training images)
    saves computing them again. A depth-2 tree grows below the cached depth-1 tree of
    the same k; its ``train_seconds`` count both levels."""
    s = get_setup(profile)
    tshape = shape(s, k, depth)
    key = f"ctree-{profile}-{s.tag()}-k{k}-k2{tshape.k2}-seed{seed}"

    def fit():
        data = levels
        if data is None:
            data = levels_split(base, train_split(ds, profile, seed))
        first, before = None, {"train_seconds": 0.0, "specialist_seconds": []}
        if depth == 2:
            first, before = tree(base, ds, profile, k, 1, seed, data)
        net, info = grow(
            base, data, tshape, s.epochs, seed, first=first, restarts=s.kmeans_restarts
        )
        info["train_seconds"] += before["train_seconds"]
        info["specialist_seconds"] = (
            before["specialist_seconds"] + info["specialist_seconds"]
        )
        return net, {**info, "seed": seed, "profile": profile, "epochs": s.epochs}

    return cache.cached(key, lambda: ct.skeleton(base, tshape), fit, retrain)


def conditional(ds: Dataset, profile: str, routing: str, seed: int = 0, retrain=False):
    """(ConditionalLeNet, info) from the cache: ``routing`` "implicit" (filter groups)
    or "explicit" (router, soft routing in training), trained from scratch with the
    baselines' recipe for the setup's epochs."""
    s = get_setup(profile)
    key = f"condnet-{routing}-{profile}-n{s.train_samples or 'all'}-e{s.cond_epochs}"
    key += f"-seed{seed}"

    def fresh():
        torch.manual_seed(seed)
        return cn.ConditionalLeNet(models.THIN, groups=2, routing=routing)

    def fit():
        net = fresh()
        t0 = time.perf_counter()
        train.fit(
            net,
            train_split(ds, profile, seed),
            epochs=s.cond_epochs,
            loss=cn.soft_routing_loss(),
            seed=seed,
            device="cpu",
            desc=f"{routing} routing ({profile})",
            **baselines.RECIPE,
        )
        return net.eval(), {"routing": routing, "train_seconds": time.perf_counter() - t0}

    return cache.cached(key, fresh, fit, retrain)


# ------------------------------------------------------------------ measuring


def dense_macs(net: torch.nn.Module) -> int:
    """Every MAC of ``net`` if all of it ran: the base (to its last hidden layer) plus
    every specialist of a tree; the root and every branch of a conditional LeNet."""
    if isinstance(net, ct.ClusterTree):
        nodes = [m for m in net.modules() if isinstance(m, ct.Specialist)]
        return ct.base_macs(net.base) + sum(n.macs() for n in nodes)
    return cost.dense_macs(net, (1, 28, 28))


# ------------------------------------------------------------------ training time


def parallel_versus_sequential(
    tree_net: ct.ClusterTree,
    data: Split,
    epochs: int,
    samples: int,
    seed: int = 0,
    workers: int = 2,
) -> dict:
    """Train fresh copies of ``tree_net``'s depth-1 specialists on ``samples`` images of
    each of their clusters, once one after the other in this process (with its threads)
    and once in ``workers`` worker processes of one thread each; the same jobs, the same
    seeds. The pool is started (and has imported PyTorch) before its clock starts; its
    start-up is reported apart."""
    lateral = ct.base_channels(tree_net.base.widths)
    clusters = ct.nearest(ct.unpack(data.x, lateral)[5], tree_net.centroids)

    def jobs():
        torch.manual_seed(seed)
        out = []
        for c, node in enumerate(tree_net.branches):
            net = ct.Specialist(node.specialist.widths, lateral)
            d = data_of(data, clusters == c)
            out.append(
                (net.start_from(tree_net.base.fc3), Split(d.x[:samples], d.y[:samples]))
            )
        return out

    t0 = time.perf_counter()
    train_all(jobs(), epochs, seed)
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    with worker_pool(workers) as pool:
        list(pool.map(_started, range(workers)))
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        train_all(jobs(), epochs, seed, pool)
        parallel = time.perf_counter() - t0
    return {
        "sequential_s": sequential,
        "parallel_s": parallel,
        "pool_startup_s": startup,
        "speedup": sequential / parallel,
        "threads_sequential": torch.get_num_threads(),
        "workers": workers,
        "specialists": tree_net.k,
        "images_each": samples,
    }
