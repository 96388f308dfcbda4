"""Training runs of LeNet-CIGT: the recipe, the cache, and the controls it is judged by.

Used by chapter 4. Every run trains with the baselines' recipe (:data:`baselines.RECIPE`:
Adam, learning rate 0.002 with a cosine decay, batch 128), so that CIGT, the one-path
(thin) LeNet and the random-routing trellis differ only in what is routed and how. The
router temperature decays from 25 to 0.1 over the steps after warm-up
(:meth:`cigt.Schedule.reaching_floor`), whatever the budget; ``temperature="fixed"``
keeps the authors' fixed rate of 0.9999 a step instead, which on a short budget ends far
above the floor (chapter 4's budget study compares the two).

Three kinds of run:

* :func:`cigt_run`: CIGT with an objective (beta, decision-loss weight), cached under a
  key that names everything that changes the weights, so an interrupted reproduction
  resumes where it stopped;
* the random-routing control (``routing="random"``): the same trellis trained and tested
  with every route drawn at random, and no information-gain term. It costs what CIGT
  costs and holds the same parameters; what it lacks is a learned choice;
* :func:`sweep`: several objectives on a short budget, scored on the validation split
  (never the test set).
"""

from __future__ import annotations

import math
import time

import torch

from .. import baselines, cache, information, train
from ..data import Dataset, Split
from . import cigt

ROUTINGS = ("learned", "random")
TEMPERATURES = ("scaled", "fixed")  # decay scaled to the budget, or the authors' 0.9999


def steps_for(split: Split, epochs: int) -> int:
    """Optimizer steps of ``epochs`` over ``split`` at the recipe's batch size."""
    return epochs * math.ceil(len(split) / baselines.RECIPE["batch_size"])


def objective_for(routing: str, objective: cigt.Objective) -> cigt.Objective:
    """The objective a run really trains with: the random-routing control has no
    information-gain term to weigh."""
    if routing not in ROUTINGS:
        raise ValueError(f"routing must be one of {ROUTINGS}, got {routing!r}")
    return cigt.Objective(objective.beta, 0.0) if routing == "random" else objective


def schedule_for(
    steps: int, warmup_share: float = 0.2, temperature: str = "scaled"
) -> cigt.Schedule:
    """Warm-up for the first ``warmup_share`` of ``steps`` (the authors: 25 of 150
    epochs), then a temperature decay that reaches the floor at the last step
    (``"scaled"``), or the authors' fixed 0.9999 a step wherever that ends
    (``"fixed"``)."""
    if temperature not in TEMPERATURES:
        raise ValueError(
            f"temperature must be one of {TEMPERATURES}, got {temperature!r}"
        )
    warmup = round(warmup_share * steps)
    if temperature == "fixed":
        return cigt.Schedule(warmup_steps=warmup)
    return cigt.Schedule.reaching_floor(steps, warmup_steps=warmup)


def train_cigt(
    split: Split,
    epochs: int,
    seed: int,
    objective: cigt.Objective = cigt.Objective(),
    routing: str = "learned",
    random_share: float = 0.5,
    device: str = "auto",
    desc: str = "LeNet-CIGT",
    temperature: str = "scaled",
) -> tuple[cigt.LeNetCIGT, dict]:
    """Train one LeNet-CIGT on ``split``; returns (model on the CPU, info).

    ``routing="random"`` trains the random-routing control: every route random
    (``random_share`` 1) and no information-gain term. ``info["log"]`` holds the loss
    terms of every step (:func:`cigt.cigt_loss`); ``temperature`` picks the schedule
    (:func:`schedule_for`)."""
    objective = objective_for(routing, objective)
    if routing == "random":
        random_share = 1.0
    steps = steps_for(split, epochs)
    schedule = schedule_for(steps, temperature=temperature)
    torch.manual_seed(seed)
    net = cigt.LeNetCIGT(schedule=schedule, random_share=random_share)
    log: list = []
    t0 = time.perf_counter()
    train.fit(
        net,
        split,
        epochs=epochs,
        seed=seed,
        device=device,
        desc=desc,
        loss=lambda m, x, y: cigt.cigt_loss(m, x, y, objective, log=log),
        on_step=lambda step, m, hist: m.set_step(step),
        **baselines.RECIPE,
    )
    info = {
        "seed": seed,
        "epochs": epochs,
        "steps": steps,
        "train_samples": len(split),
        "beta": objective.beta,
        "decision_weight": objective.decision_weight,
        "routing": routing,
        "random_share": random_share,
        "warmup_steps": schedule.warmup_steps,
        "decay": schedule.decay,
        "temperature": temperature,
        "train_seconds": time.perf_counter() - t0,
        "log": log,
    }
    return net.cpu().eval(), info


def cigt_run(
    data: Dataset,
    profile: str,
    seed: int,
    objective: cigt.Objective = cigt.Objective(),
    routing: str = "learned",
    epochs: int | None = None,
    device: str = "auto",
    retrain: bool = False,
    temperature: str = "scaled",
) -> tuple[cigt.LeNetCIGT, dict]:
    """A trained LeNet-CIGT from the cache, trained first if missing: the profile's
    training images (the same subset for the same seed as the baselines) for ``epochs``
    (the profile's by default), with the temperature schedule ``temperature``."""
    objective = objective_for(routing, objective)  # the key names what really trains
    prof = train.get_profile(profile)
    epochs = epochs or prof.epochs
    split = data.train.subset(prof.train_samples, seed)
    steps = steps_for(split, epochs)
    key = (
        f"cigt-{routing}-{profile}-e{epochs}-b{objective.beta:g}"
        f"-w{objective.decision_weight:g}-seed{seed}"
        + ("-Tfixed" if temperature == "fixed" else "")  # the scaled keys as they were
    )
    name = "random routing" if routing == "random" else "CIGT"
    return cache.cached(
        key,
        lambda: cigt.LeNetCIGT(schedule=schedule_for(steps, temperature=temperature)),
        lambda: train_cigt(
            split,
            epochs,
            seed,
            objective,
            routing,
            device=device,
            desc=f"{name} b={objective.beta:g} w={objective.decision_weight:g} s{seed}",
            temperature=temperature,
        ),
        retrain,
    )


@torch.no_grad()
@torch.no_grad()  # evaluation only: no graph for a backward pass that never comes
def accuracy(
    net: cigt.LeNetCIGT, split: Split, routing: str = "learned", seed: int = 0
) -> float:
    """Top-1 accuracy on ``split`` with the routers' own routes, or with every route
    drawn at random (``routing="random"``, the control's test condition)."""
    if routing not in ROUTINGS:
        raise ValueError(f"routing must be one of {ROUTINGS}, got {routing!r}")
    net.eval()
    g = torch.Generator().manual_seed(seed)
    routes = [torch.randint(0, k, (len(split),), generator=g) for k in net.paths[1:]]
    correct = 0
    for i in range(0, len(split), 1000):  # in chunks: conv1's output is 100 kB a sample
        part = slice(i, i + 1000)
        if routing == "random":
            net.forced_routes = [r[part] for r in routes]
        try:
            logits = net.run(split.x[part], probs=False).logits
        finally:
            net.forced_routes = None
        correct += (logits.argmax(1) == split.y[part]).sum().item()
    return correct / len(split)


def sweep(
    data: Dataset,
    profile: str,
    objectives: list[cigt.Objective],
    epochs: int,
    seed: int = 0,
    device: str = "auto",
) -> list[dict]:
    """Train one CIGT per objective for ``epochs`` and score it on the validation split.
    Returns one row per objective: beta, decision weight, validation accuracy, and the
    mutual information (bits) of each router's validation routes."""
    rows = []
    for obj in objectives:
        net, _ = cigt_run(data, profile, seed, obj, epochs=epochs, device=device)
        r1, r2, logits = cigt.collect_routes(net, data.val.x)
        rows.append(
            {
                "beta": obj.beta,
                "decision weight": obj.decision_weight,
                "val accuracy": (logits.argmax(1) == data.val.y).float().mean().item(),
                "I(Y;R) router 1 (bits)": information.mutual_information_bits(
                    data.val.y, r1
                ),
                "I(Y;R) router 2 (bits)": information.mutual_information_bits(
                    data.val.y, r2
                ),
            }
        )
    return rows
