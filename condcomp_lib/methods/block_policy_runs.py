"""Training runs of block-policy MLPs: the recipe, the cache, evaluation and the measures.

Used by chapter 6. Three kinds of network, the same MLP trained the same way (Adam with
the baselines' learning rate and cosine decay, batch 128, the profile's images and
epochs):

* ``"dense"``: every block always on, the dense MLP of the same widths;
* ``"random"``: block dropout, the authors' own control (``blockDropout.py``): every block
  on with probability tau, whatever the input, in training and at test time;
* ``"learned"``: the block policy of :mod:`.block_policies`, trained by REINFORCE and the
  authors' regularizers, in the same optimizer as the network but with its own learning
  rate per layer.

Every run is cached under a key that names what changes its weights, so an interrupted
reproduction resumes where it stopped. While a learned policy trains, every step logs the
classification loss, the realized rate and the policy's entropy per layer, and the
variance of the REINFORCE gradient under three baselines, all on the same decisions.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import baselines, cache, train
from ..information import mutual_information_bits
from ..data import Dataset, Split
from ..headless import headless
from . import block_policies as bp

KINDS = ("dense", "random", "learned")
WIDTH = 1024  # units in each hidden layer of the chapter's MLPs
CODE_WEIGHTS = dict(lambda_b=(80.0, 40.0, 40.0), lambda_v=(10.0, 20.0, 20.0))


@dataclass(frozen=True)
class PolicyRecipe:
    """How the policy learns. The authors' CIFAR-10 code weighs the regularizers with
    lambda_b 80/40/40 and lambda_v 10/20/20 (:data:`CODE_WEIGHTS`) and L2 0.05. With
    those weights a decisive policy settles well above its target rate (chapter 6 shows
    why), so the book keeps lambda_v = 10 and raises lambda_b to 400 in every layer. The
    learning rates are the book's too: the code's per-layer multipliers (0.01, 0.5, 0.5)
    scale plain SGD's step, and Adam's step does not scale with the gradient."""

    lambda_b: tuple = (400.0, 400.0, 400.0)
    lambda_v: tuple = (10.0, 10.0, 10.0)
    l2: float = 0.05
    lr: float = 1e-3  # Adam's step for every policy layer
    lr_mult: tuple = (1.0, 1.0, 1.0)
    baseline: str = "min"  # the authors' code: C - min_batch C

    def key(self) -> str:
        """A short tag of everything that changes the weights, for the cache key."""
        return "-".join(
            f"{k}{','.join(map(str, v)) if isinstance(v, tuple) else v}"
            for k, v in asdict(self).items()
        )


def gradient_variances(sigmas, masks, cost_) -> dict[str, float]:
    """Variance of the per-example REINFORCE gradient with respect to the policies'
    biases, summed over layers and blocks, for each baseline: the same decisions, only
    the number subtracted from the cost differs."""
    c = cost_.detach()
    scores = torch.cat([bp.score(s.detach(), u) for s, u in zip(sigmas, masks)], 1)
    return {
        b: ((c - bp.baseline_of(c, b))[:, None] * scores).var(0).sum().item()
        for b in bp.BASELINES
    }


def policy_objective(net: bp.BlockPolicyMLP, nll: torch.Tensor, recipe: PolicyRecipe):
    """REINFORCE on the per-example NLL, the regularizers of every layer and L2 on the
    policies' parameters; returns (loss, the per-layer terms for the log)."""
    sigmas, masks = net.trace.probs, net.trace.masks
    loss = bp.reinforce_loss(sigmas, masks, nll, recipe.baseline)
    log = {}
    for l, s in enumerate(sigmas):
        loss = loss + bp.regularizer(s, net.tau, recipe.lambda_b[l], recipe.lambda_v[l])
        log[f"L_b{l + 1}"] = bp.batchwise(s, net.tau).item()
        log[f"L_v{l + 1}"] = bp.variance(s).item()
        log[f"entropy{l + 1}"] = bp.entropy_bits(s).mean().item()
    l2 = sum((p**2).sum() for p in net.policies.parameters())
    return loss + recipe.l2 * l2, log


def train_block_mlp(
    split: Split,
    kind: str,
    tau: float,
    epochs: int,
    seed: int,
    recipe: PolicyRecipe = PolicyRecipe(),
    device: str = "auto",
    desc: str = "block MLP",
    width: int = WIDTH,
) -> tuple[bp.BlockPolicyMLP, dict]:
    """Train one network of ``kind`` on ``split``, its three hidden layers ``width``
    units wide; returns (model on the CPU, info), where ``info["log"]`` holds one row a
    step (learned policies)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    gen = train.seed_everything(seed)
    dev = train.resolve_device(device)
    net = bp.BlockPolicyMLP((width,) * 3, tau=tau, policy=kind == "learned").to(dev)
    # training runs the masked reference: the same values and gradients as the routed
    # layers (the tests hold them equal), and at batch 128 one dense product per layer is
    # faster on a CPU than hundreds of small block products, forward and backward
    net.execution = "masked"
    net.set_mode({"dense": "dense", "random": "random", "learned": "sample"}[kind])
    net.generator = torch.Generator().manual_seed(seed + 1)
    lr, bs = baselines.RECIPE["lr"], baselines.RECIPE["batch_size"]
    groups = [
        {"params": [*net.hidden.parameters(), *net.out.parameters()], "lr": lr},
    ]
    if net.policies is not None:
        groups += [
            {"params": p.parameters(), "lr": recipe.lr * m}
            for p, m in zip(net.policies, recipe.lr_mult)
        ]
    opt = torch.optim.Adam(groups)
    steps = epochs * math.ceil(len(split) / bs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    log, step, t0 = [], 0, time.perf_counter()
    bar = tqdm(total=steps, desc=desc, disable=headless(), ncols=80, mininterval=2.0)
    for _ in range(epochs):
        net.train()
        for x, y in train.batches(split, bs, shuffle=True, generator=gen):
            x, y = x.to(dev), y.to(dev)
            nll = F.cross_entropy(net(x), y, reduction="none")
            loss = nll.mean()
            row = {"step": step, "nll": loss.item()}
            if kind == "learned":
                pol, terms = policy_objective(net, nll, recipe)
                loss = loss + pol
                row.update(terms)
                for b, v in gradient_variances(
                    net.trace.probs, net.trace.masks, nll
                ).items():
                    row[f"grad_var_{b}"] = v
            for l, rate in enumerate(net.active_fraction()):
                row[f"rate{l + 1}"] = rate
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            log.append(row)
            bar.update(1)
    bar.close()
    net.execution = "routed"
    info = {
        "kind": kind,
        "tau": tau,
        "seed": seed,
        "epochs": epochs,
        "steps": steps,
        "train_samples": len(split),
        "recipe": asdict(recipe) if kind == "learned" else None,
        "train_seconds": time.perf_counter() - t0,
        "log": log,
    }
    return net.cpu().eval(), info


def block_run(
    data: Dataset,
    profile: str,
    kind: str,
    tau: float = 0.25,
    seed: int = 0,
    recipe: PolicyRecipe = PolicyRecipe(),
    epochs: int | None = None,
    device: str = "auto",
    retrain: bool = False,
    width: int = WIDTH,
) -> tuple[bp.BlockPolicyMLP, dict]:
    """A trained network from the cache, trained first if missing: the profile's training
    images (the same subset for the same seed as the baselines) for ``epochs`` (the
    profile's by default). ``width``: the hidden layers' units (the frontier's dense
    MLPs are narrower than the chapter's)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    prof = train.get_profile(profile)
    epochs = epochs or prof.epochs
    split = data.train.subset(prof.train_samples, seed)
    key = f"blockmlp-{kind}-{profile}-e{epochs}-seed{seed}"
    if width != WIDTH:
        key += f"-w{width}"
    if kind != "dense":
        key += f"-t{tau:g}"
    if kind == "learned":
        key += "-" + recipe.key()
    mode = {"dense": "dense", "random": "random", "learned": "sample"}[kind]
    return cache.cached(
        key,
        lambda: bp.BlockPolicyMLP(
            (width,) * 3, tau=tau, policy=kind == "learned"
        ).set_mode(mode),
        lambda: train_block_mlp(
            split,
            kind,
            tau,
            epochs,
            seed,
            recipe,
            device,
            desc=f"{kind} tau={tau:g} s{seed}" if kind != "dense" else f"dense s{seed}",
            width=width,
        ),
        retrain,
    )


# ---------------------------------------------------------------- evaluation


@dataclass
class Outcome:
    """A network's run over a split in one mode: accuracy, the block masks of every hidden
    layer (bool [N, k] each, None when dense), the MACs of every example, the logits."""

    accuracy: float
    masks: list
    macs: torch.Tensor
    logits: torch.Tensor

    def rates(self) -> list[float]:
        """Share of blocks on in each hidden layer, over the split."""
        return [1.0 if m is None else m.float().mean().item() for m in self.masks]


@torch.no_grad()
def run(
    net: bp.BlockPolicyMLP,
    split: Split,
    mode: str,
    seed: int = 0,
    chunk: int = 1000,
    execution: str = "masked",
) -> Outcome:
    """Run ``net`` over ``split`` in ``mode`` (decisions drawn with ``seed``), in chunks.
    The masked reference is the default: on chunks of 1000 it is the faster path on a CPU
    and gives the routed layers' numbers; the MACs are those of the routed execution."""
    net.eval().set_mode(mode)
    net.generator = torch.Generator().manual_seed(seed)
    home, net.execution = net.execution, execution
    logits, masks, macs = [], [], []
    for i in range(0, len(split), chunk):
        logits.append(net(split.x[i : i + chunk]))
        masks.append(net.trace.masks)
        macs.append(net.macs_of(net.trace.masks).expand(len(logits[-1])))
    layers = [
        None if masks[0][l] is None else torch.cat([m[l] for m in masks])
        for l in range(len(net.hidden))
    ]
    net.execution = home
    out = torch.cat(logits)
    acc = (out.argmax(1) == split.y).float().mean().item()
    return Outcome(acc, layers, torch.cat(macs), out)


def class_block_information(labels, masks, shuffle_seed: int | None = None) -> dict:
    """How much the decisions say about the class, in bits: the mean over blocks of
    I(Y; u_j) (one bit of decision each) and, per layer, I(Y; pattern) of the whole
    pattern of k decisions. With ``shuffle_seed`` the decisions are first shuffled across
    examples: what the same counts give when decisions ignore the input (the bias of the
    estimate at this sample size)."""
    out = {"per_block": [], "pattern": []}
    for m in masks:
        if shuffle_seed is not None:
            g = torch.Generator().manual_seed(shuffle_seed)
            m = m[torch.randperm(len(m), generator=g)]
        m = m.long()
        out["per_block"].append(
            float(
                np.mean(
                    [mutual_information_bits(labels, m[:, j]) for j in range(m.shape[1])]
                )
            )
        )
        code = (m * (2 ** torch.arange(m.shape[1]))).sum(1)
        out["pattern"].append(mutual_information_bits(labels, code))
    return out


def class_heatmap(labels: torch.Tensor, mask: torch.Tensor, n_classes: int = 10):
    """[n_classes, k]: how often each block is on for the examples of each class."""
    m = mask.float()
    return torch.stack([m[labels == c].mean(0) for c in range(n_classes)]).numpy()
