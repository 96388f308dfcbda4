"""Training runs of the CIGT authors' recipe (:mod:`~condcomp_lib.methods.cigt_authors`):
the data as their scripts read it, their training loop, and the cache.

Used by chapter 4 and ``scripts/cigt_authors.py``. The loop is theirs
(``cigt/cigt_ig_refactored.py:783-834``): SGD with momentum, a learning rate set at the
start of each epoch, warm-up by epochs, the router temperature decayed every step, the
test set evaluated every 5th epoch and in each of the last 10. A run records both
accuracies that can be read from that: the one after the last epoch (the book's rule)
and the best over the evaluated epochs (the authors' rule, which picks an epoch on the
test set and so flatters the result).

A 150-epoch run takes hours on a CPU, so it keeps its state after every epoch (weights,
optimizer, step, temperature, every random stream, history) in the cache
(:func:`~condcomp_lib.cache.checkpoint_path`) and resumes after the last finished epoch,
ending with the weights an unbroken run would have."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import cache, data, train
from ..headless import headless
from .cigt_authors import ARMS, RECIPE, AuthorsCIGT, Recipe, authors_loss

FILES = (
    ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
)


@functools.lru_cache(maxsize=1)
def fashion_mnist_raw() -> tuple[data.Split, data.Split]:
    """(train, test) as the authors' scripts read Fashion-MNIST: all 60,000 training
    images in the files' order and the 10,000 test images, pixels / 255 and nothing else
    (``transforms.ToTensor()``, fashion_cigt_repeated_experiment.py:143-152).

    The book's loader (:func:`condcomp_lib.data.load_fashion_mnist`) standardizes the
    pixels and holds 5,000 training images out for validation; this recipe has neither,
    so it reads the files itself: its training set is the book's train and val
    together."""
    d = data.find_data_dir()
    read = lambda name: data.read_idx(d / name, *data.FILES[name])  # checked  # noqa: E731
    out = []
    for images, labels in FILES:
        x = torch.from_numpy(read(images).copy()).float().div(255).unsqueeze(1)
        y = torch.from_numpy(read(labels).astype(np.int64))
        out.append(data.Split(x.contiguous(), y))
    return out[0], out[1]


def first(split: data.Split, n: int | None) -> data.Split:
    """The first ``n`` samples (all for None): the files' order, as an unshuffled
    loader reads them."""
    return split if n is None or n >= len(split) else data.Split(split.x[:n], split.y[:n])


# ---------------------------------------------------------------- measuring


@torch.no_grad()
def accuracy(net: AuthorsCIGT, split: data.Split, seed: int = 0, batch: int = 1000):
    """Top-1 accuracy in eval mode. The random arm's test routes come from a generator
    seeded with ``seed``, so that they draw nothing from the training's streams."""
    net.eval()
    net.route_generator = torch.Generator().manual_seed(seed)
    try:
        correct = sum(
            (net(split.x[i : i + batch]).argmax(1) == split.y[i : i + batch]).sum().item()
            for i in range(0, len(split), batch)
        )
    finally:
        net.route_generator = None
    return correct / len(split)


@torch.no_grad()
def test_routes(net: AuthorsCIGT, split: data.Split, batch: int = 1000) -> list:
    """The path each sample takes after blocks 0 and 1 in eval mode (long [N] each), for
    an arm with one path per sample (the random arm's from the global random stream)."""
    net.eval()
    per_router = [[] for _ in net.paths[1:]]
    for i in range(0, len(split), batch):
        x = split.x[i : i + batch]
        for level, mask in enumerate(net.run(x).routes):
            if len(mask) != len(x):
                raise ValueError(f"arm {net.arm!r} sends a sample down several paths")
            per_router[level].append(mask.float().argmax(1))  # rows are samples here
    return [torch.cat(r).cpu() for r in per_router]


def macs_per_sample(arm: str) -> dict:
    """MACs of one test sample, by hand, per part (conv and linear layers; batch norm
    folds into them at inference): one path of each block and a leaf, the routers for
    CIGT only (random routes need none), 2 block-1 and 8 block-2 rows with all paths."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    conv = lambda c_in, k, side: 32 * side * side * c_in * k * k  # noqa: E731
    router = lambda k: 32 * 7 * 7 * 128 + 128 * k  # noqa: E731
    rows = (1, 2, 8) if arm == "all-paths" else (1, 1, 1)
    return {
        "block0": conv(1, 5, 28),
        "block1": rows[1] * conv(32, 5, 14),
        "block2": rows[2] * (conv(32, 1, 7) + 288 * 128 + 128 * 64),
        "leaf": rows[2] * 64 * 10,
        "routers": router(2) + router(4) if arm == "cigt" else 0,
    }


# ---------------------------------------------------------------- training


def plain(x):
    """Tuples to lists, so that a checkpoint's record compares equal after loading."""
    return json.loads(json.dumps(x))


@torch.enable_grad()
def train_arm(
    arm: str,
    train_split: data.Split,
    test_split: data.Split,
    *,
    epochs: int = RECIPE.epochs,
    seed: int = 0,
    recipe: Recipe = RECIPE,
    shuffle: bool = False,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> tuple[AuthorsCIGT, dict]:
    """Train one arm with ``recipe`` cut to ``epochs`` (:meth:`Recipe.scaled`); returns
    (network in eval mode, info). ``shuffle=False`` is the authors' loader; with
    ``checkpoint`` (a file) the run saves its state there after every epoch, resumes
    from it, and deletes it at the end."""
    r = recipe.scaled(epochs)
    gen = train.seed_everything(seed)
    net = AuthorsCIGT(arm, r)
    opt = torch.optim.SGD(
        net.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay
    )
    decision_weight = r.decision_weight if arm == "cigt" else 0.0  # no routers else
    n_batches = math.ceil(len(train_split) / r.batch_size)
    run = plain(
        dict(
            arm=arm,
            seed=seed,
            train_images=len(train_split),
            test_images=len(test_split),
            shuffle=shuffle,
            recipe=dataclasses.asdict(r),
        )
    )
    history = {"epochs": [], "test": [], "resumed_after": [], "seconds_before_resume": 0}
    start = step = 0
    checkpoint = None if checkpoint is None else Path(checkpoint)
    saved = None if checkpoint is None else train.load_checkpoint(checkpoint, run)
    if saved is not None:
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        train.restore_streams(saved["streams"], gen)
        start, step, history = saved["epoch"], saved["step"], saved["history"]
        net.temperature = saved["temperature"]
        history["resumed_after"].append(start)
        history["seconds_before_resume"] = saved["seconds"]
    t0 = time.perf_counter()
    bar = tqdm(
        total=r.epochs * n_batches,
        initial=step,
        desc=desc or f"authors' CIGT, {arm}, seed {seed}",
        disable=not progress or headless(),
        ncols=80,
        mininterval=2.0,
    )
    for epoch in range(start, r.epochs):
        for group in opt.param_groups:  # adjust_learning_rate_stepwise, per epoch
            group["lr"] = r.lr_at(epoch)
        net.warming_up = epoch < r.warmup_epochs
        net.train()
        sums: dict[str, float] = {}
        for x, y in train.batches(train_split, r.batch_size, shuffle, gen):
            step += 1
            net.temperature = r.temperature(step)  # before the forward, as theirs
            loss, terms = authors_loss(net.run(x), y, r.beta, decision_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in {"loss": loss.item(), **terms}.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.update(1)
        history["epochs"].append(
            {
                "epoch": epoch,
                "lr": r.lr_at(epoch),
                "warm_up": net.warming_up,
                "temperature": net.temperature,
                **{k: v / n_batches for k, v in sums.items()},  # means over the epoch
            }
        )
        if r.evaluated(epoch):
            history["test"].append([epoch, accuracy(net, test_split, seed)])
            bar.set_postfix(test=f"{history['test'][-1][1]:.4f}", refresh=False)
        if checkpoint is not None and epoch + 1 < r.epochs:
            seconds = history["seconds_before_resume"] + time.perf_counter() - t0
            train.save_checkpoint(
                checkpoint,
                {
                    "run": run,
                    "epoch": epoch + 1,
                    "step": step,
                    "temperature": net.temperature,
                    "model": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "streams": train.random_streams(gen),
                    "history": history,
                    "seconds": seconds,
                },
            )
    bar.close()
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    best = max(history["test"], key=lambda t: t[1])  # the first epoch of the best
    info = {
        "arm": arm,
        "seed": seed,
        "epochs": r.epochs,
        "steps": step,
        "train_samples": len(train_split),
        "test_samples": len(test_split),
        "shuffle": shuffle,
        "test_acc_last_epoch": history["test"][-1][1],
        "best_test_acc_selected_on_test": best[1],
        "best_test_epoch": best[0],
        "final_temperature": net.temperature,
        "train_seconds": history["seconds_before_resume"] + time.perf_counter() - t0,
        "recipe_requested": plain(dataclasses.asdict(recipe)),
        "recipe": run["recipe"],
        "history": history,
    }
    return net.eval(), info


def run_key(arm: str, epochs: int, seed: int, n_train: int, n_test: int, shuffle=False):
    """The cache key: everything that changes the weights or the record."""
    return f"cigt-authors-{arm}-e{epochs}-n{n_train}-t{n_test}-seed{seed}" + (
        "-shuffled" if shuffle else ""
    )


def authors_run(
    arm: str,
    seed: int,
    epochs: int = RECIPE.epochs,
    train_images: int | None = None,
    test_images: int | None = None,
    shuffle: bool = False,
    retrain: bool = False,
    progress: bool = True,
) -> tuple[AuthorsCIGT, dict]:
    """A trained arm from the cache, trained first (resuming a stopped run) if missing:
    the first ``train_images`` and ``test_images`` of the raw data (all for None)."""
    tr, te = fashion_mnist_raw()
    tr, te = first(tr, train_images), first(te, test_images)
    key = run_key(arm, epochs, seed, len(tr), len(te), shuffle)
    return cache.cached(
        key,
        lambda: AuthorsCIGT(arm),
        lambda: train_arm(
            arm,
            tr,
            te,
            epochs=epochs,
            seed=seed,
            shuffle=shuffle,
            checkpoint=cache.checkpoint_path(key),
            progress=progress,
        ),
        retrain,
    )
