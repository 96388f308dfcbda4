"""Training and evaluation loops, seeding, device choice and the book's two profiles.

Used by every chapter. ``fit`` trains any model on a :class:`~condcomp_lib.data.Split`
with a plain-text ``tqdm`` progress bar (widgets would vanish in the offline book); a
chapter whose method needs its own objective (exit branches, routers, policies) passes a
``loss`` function instead of subclassing anything. On a CPU, two runs with the same seed
give identical numbers."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import cost
from .data import Split
from .headless import headless


# ---------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """How much work a chapter does. ``quick`` is what CI runs on a 2-core CPU (each
    chapter well under two minutes); ``full`` is the reproduction whose numbers the
    chapters report."""

    name: str
    train_samples: int | None  # None: the whole training split
    epochs: int  # the default budget for a baseline-sized network
    bench_repeats: int  # timing repeats (medians are reported)
    eval_samples: int | None  # None: the whole test split


PROFILES = {
    "quick": Profile(
        "quick", train_samples=15_000, epochs=2, bench_repeats=15, eval_samples=None
    ),
    "full": Profile(
        "full", train_samples=None, epochs=15, bench_repeats=50, eval_samples=None
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name`` ("quick" or "full"), with a clear error otherwise."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {name!r}")
    return PROFILES[name]


# ---------------------------------------------------------------- seeding and devices


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a generator for data shuffling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# ---------------------------------------------------------------- training


def cross_entropy_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    """The default objective: returns (loss, logits)."""
    logits = model(x)
    return F.cross_entropy(logits, y), logits


def batches(
    split: Split,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
):
    """Yield (x, y) minibatches of a split; a fresh permutation each call when
    shuffling."""
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        yield split.x[idx], split.y[idx]


# ---------------------------------------------------------------- checkpoints


def random_streams(gen: torch.Generator) -> dict:
    """Every random stream a run draws from (PyTorch's, the shuffling generator's,
    NumPy's and Python's) as tensors, numbers and strings, so that a checkpoint loads
    with ``weights_only``."""
    np_name, np_keys, *np_rest = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "shuffle": gen.get_state(),
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), *np_rest],
        "python": [py_version, list(py_state), py_gauss],
    }


def restore_streams(streams: dict, gen: torch.Generator) -> None:
    """Put back what :func:`random_streams` took."""
    torch.set_rng_state(streams["torch"])
    gen.set_state(streams["shuffle"])
    np_name, np_keys, *np_rest = streams["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), *np_rest))
    py_version, py_state, py_gauss = streams["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a run stopped while saving keeps the
    previous epoch's file."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path, run: dict) -> dict | None:
    """The state saved at ``path`` if it belongs to the same ``run`` (its epochs, data
    size and recipe), else None; an unreadable or foreign file is reported and
    ignored (the run then starts from scratch and overwrites it)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        print(f"checkpoint: ignoring {path.name} ({type(e).__name__}: {e})")
        return None
    if state.get("run") != run:
        print(
            f"checkpoint: ignoring {path.name}, saved by another run ({state.get('run')})"
        )
        return None
    return state


@torch.enable_grad()  # a caller inside torch.no_grad() (a timing cell) still trains
def fit(
    model: torch.nn.Module,
    train: Split,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 128,
    weight_decay: float = 0.0,
    optimizer: str = "adam",
    loss: Callable = cross_entropy_loss,
    val: Split | None = None,
    schedule: str = "cosine",
    seed: int = 0,
    device: str = "auto",
    on_step: Callable | None = None,
    progress: bool = True,
    desc: str = "train",
    checkpoint: str | Path | None = None,
) -> dict:
    """Train ``model`` in place and return its history.

    ``loss(model, x, y) -> (loss, logits)``; ``on_step(step, model, logs)`` is called
    after every optimizer step (chapters use it for temperature schedules or to log loss
    terms). ``schedule`` is "cosine" (to zero over the run) or "constant". The history
    holds the per-step training loss and, when ``val`` is given, the validation accuracy
    per epoch.

    With ``checkpoint`` (a file), the run saves its state there after every epoch: the
    weights, the optimizer, the schedule, every random stream and the history. A run
    that finds a checkpoint of the same run (same epochs, data size and recipe)
    resumes after its last epoch and ends exactly as an unbroken run would, provided
    ``loss`` and ``on_step`` keep no state of their own; the file is removed when the
    run ends. The history then also says after which epochs the run was resumed
    (``resumed_after``) and how many seconds the earlier parts took
    (``seconds_before_resume``)."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    gen = seed_everything(seed)
    dev = resolve_device(device)
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    steps = epochs * ((len(train) + batch_size - 1) // batch_size)
    if schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    elif schedule == "constant":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    else:
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")

    history = {
        "loss": [],
        "train_acc": [],
        "val_acc": [],
        "resumed_after": [],
        "seconds_before_resume": 0.0,
    }
    start = 0  # the epochs done before this call
    run = dict(
        epochs=epochs,
        train_samples=len(train),
        seed=seed,
        lr=lr,
        batch_size=batch_size,
        weight_decay=weight_decay,
        optimizer=optimizer,
        schedule=schedule,
    )
    checkpoint = None if checkpoint is None else Path(checkpoint)
    saved = None if checkpoint is None else load_checkpoint(checkpoint, run)
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["schedule"])
        restore_streams(saved["streams"], gen)
        start, history = saved["epoch"], saved["history"]
        history["resumed_after"].append(start)
        history["seconds_before_resume"] = saved["seconds"]
        print(f"{desc}: resuming after epoch {start} of {epochs} ({checkpoint.name})")
    t0 = time.perf_counter()
    step = start * (steps // epochs)
    # a progress bar is for a person watching: an executed page would keep every update it
    # printed, so the book's build and the tests (headless) show none
    bar = tqdm(
        total=steps,
        desc=desc,
        disable=not progress or headless(),
        ncols=80,
        mininterval=2.0,
        initial=step,
    )
    for epoch in range(start, epochs):
        model.train()
        correct = seen = 0
        for x, y in batches(train, batch_size, shuffle=True, generator=gen):
            x, y = x.to(dev), y.to(dev)
            value, logits = loss(model, x, y)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            sched.step()
            step += 1
            history["loss"].append(value.item())
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if on_step is not None:
                on_step(step, model, history)
            bar.update(1)
            bar.set_postfix(loss=f"{value.item():.3f}", refresh=False)
        history["train_acc"].append(correct / seen)
        if val is not None:
            history["val_acc"].append(evaluate(model, val, device=dev))
        if checkpoint is not None and epoch + 1 < epochs:
            save_checkpoint(
                checkpoint,
                {
                    "run": run,
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "schedule": sched.state_dict(),
                    "streams": random_streams(gen),
                    "history": history,
                    "seconds": history["seconds_before_resume"]
                    + time.perf_counter()
                    - t0,
                },
            )
    bar.close()
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    model.eval()
    return history


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def predict(
    model: torch.nn.Module, split: Split, batch_size: int = 1000, device: str = "auto"
) -> torch.Tensor:
    """Logits of ``model`` on a whole split, computed on ``device`` in eval mode and
    returned on the CPU; the model goes back to the device it came from."""
    dev = resolve_device(device)
    home = next(model.parameters(), torch.empty(0)).device
    model.to(dev).eval()
    try:
        return torch.cat([model(x.to(dev)).cpu() for x, _ in batches(split, batch_size)])
    finally:
        model.to(home)


def evaluate(
    model: torch.nn.Module, split: Split, batch_size: int = 1000, device: str = "auto"
) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of ``model`` on a split."""
    return (
        (predict(model, split, batch_size, device).argmax(1) == split.y)
        .float()
        .mean()
        .item()
    )


@torch.no_grad()
def measure(model: torch.nn.Module, split: Split, batch_size: int = 500) -> dict:
    """Accuracy and cost of ``model`` on a split in one pass, on the CPU: ``accuracy``;
    ``macs``, the mean MACs per sample counted as executed
    (:class:`~condcomp_lib.cost.RealizedMacs`); the predictions ``pred`` [N]; and, for
    a model that keeps the route of its last forward in ``last_route``, every sample's
    route, ``routes`` [N, ...]."""
    model.eval()
    preds, macs, routes = [], [], []
    for x, _ in batches(split, batch_size):
        with cost.RealizedMacs(model, len(x)) as counter:
            preds.append(model(x).argmax(1))
        macs.append(counter.per_sample)
        if getattr(model, "last_route", None) is not None:
            routes.append(model.last_route.cpu())
    pred = torch.cat(preds)
    out = {
        "accuracy": (pred == split.y).float().mean().item(),
        "macs": torch.cat(macs).mean().item(),
        "pred": pred,
    }
    if routes:
        out["routes"] = torch.cat(routes)
    return out
