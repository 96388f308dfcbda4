"""What a network costs: parameters and multiply-accumulates (MACs), dense and realized.

Used by every chapter. Two questions, two tools:

* ``dense_costs(model, input_shape)``: the MACs and parameters of every convolution and
  linear layer when the whole network runs (pooling, activations and normalization are
  ignored, as is usual in the papers the book reproduces). One MAC is one multiply and one
  add.
* ``RealizedMacs``: what each sample *actually* executed in a conditional network. Inside
  ``with RealizedMacs(model, batch_size) as macs: model(x)``, ordinary ``Conv2d`` and
  ``Linear`` layers add their dense per-sample cost for the samples they see, and
  conditional modules (routed layers, exits, mixtures) call :func:`report` with what each
  of their samples computed. A model that compacts its batch (samples leave at an early
  exit) runs the rest under ``with sample_index(idx):`` so that costs land on the right
  original samples. ``macs.per_sample`` is then a float64 tensor [B].

A module that reports its own cost sets ``reports_macs = True``; the counter then leaves
it (and everything inside it) to the module."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

_ACTIVE: list["RealizedMacs"] = []  # the counters open now (innermost last)
_INDEX: list[torch.Tensor] = []  # the sample-index maps open now (innermost last)


# ---------------------------------------------------------------- dense cost of one layer


def conv2d_macs(
    c_in: int,
    c_out: int,
    kernel: tuple[int, int],
    out_hw: tuple[int, int],
    groups: int = 1,
) -> int:
    """MACs of one sample through a convolution: every output element sums C_in/groups *
    k*k."""
    return c_out * out_hw[0] * out_hw[1] * (c_in // groups) * kernel[0] * kernel[1]


def linear_macs(in_features: int, out_features: int) -> int:
    """MACs of one sample (one row) through a linear layer."""
    return in_features * out_features


def layer_macs_per_sample(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """Dense MACs of one sample through ``module``, given its input and output of one
    call."""
    if isinstance(module, nn.Conv2d):
        return conv2d_macs(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            tuple(out.shape[-2:]),
            module.groups,
        )
    if isinstance(module, nn.Linear):
        rows = (
            out[0].numel() // module.out_features
        )  # e.g. tokens per sample; 1 for [B, F]
        return rows * linear_macs(module.in_features, module.out_features)
    raise TypeError(f"no MAC rule for {type(module).__name__}")


# ---------------------------------------------------------------- dense cost of a model


@dataclass
class LayerCost:
    name: str
    kind: str
    macs: int  # per sample
    params: int


def dense_costs(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerCost]:
    """Per-layer MACs (one sample) and parameters of every Conv2d and Linear in ``model``.

    ``input_shape`` is one sample's shape, e.g. (1, 28, 28). The model runs once on zeros.
    """
    rows: list[LayerCost] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, args, out):
        rows.append(
            LayerCost(
                names[module],
                type(module).__name__,
                layer_macs_per_sample(module, args[0], out),
                sum(p.numel() for p in module.parameters(recurse=False)),
            )
        )

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters(), None)
        x = torch.zeros((1, *input_shape), device=p.device if p is not None else "cpu")
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return rows


def dense_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Total MACs of one sample through every Conv2d and Linear of ``model``."""
    return sum(r.macs for r in dense_costs(model, input_shape))


def count_params(model: nn.Module) -> int:
    """All trainable parameters of ``model`` (biases and normalization included)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------- realized cost per
# sample


@contextlib.contextmanager
def sample_index(idx: torch.Tensor):
    """Map the rows of the batch that runs inside this block to rows of the enclosing
    batch.

    ``idx`` [b] holds, for each row of the smaller batch, its row in the enclosing one;
    blocks nest (an index inside an index composes)."""
    idx = idx.detach().to("cpu", torch.long)
    if _INDEX:
        idx = _INDEX[-1][idx]
    _INDEX.append(idx)
    try:
        yield idx
    finally:
        _INDEX.pop()


def counting() -> bool:
    """True while a :class:`RealizedMacs` counter is open (callers skip bookkeeping
    else)."""
    return bool(_ACTIVE)


def report(macs) -> None:
    """Called by conditional modules: ``macs`` is a scalar (the same for every sample of
    the current batch) or a tensor [b] with the MACs each sample of the current batch
    executed. Does nothing unless a :class:`RealizedMacs` counter is open."""
    if not _ACTIVE:
        return
    counter = _ACTIVE[-1]
    macs = torch.as_tensor(macs, dtype=torch.float64).detach().cpu()
    if _INDEX:
        rows = _INDEX[-1]
        counter.per_sample.index_add_(0, rows, macs.expand(len(rows)).clone())
    else:
        counter.per_sample += macs


class RealizedMacs:
    """Context manager that counts the MACs each sample of one forward pass executed."""

    def __init__(self, model: nn.Module, batch_size: int):
        self.model = model
        self.per_sample = torch.zeros(batch_size, dtype=torch.float64)
        self._handles = []

    def _hook(self, module, args, out):
        report(layer_macs_per_sample(module, args[0], out))

    def _static_layers(self):
        """Conv2d/Linear layers not inside a module that reports its own cost."""
        skip = set()
        for m in self.model.modules():
            if getattr(m, "reports_macs", False):
                skip.update(id(s) for s in m.modules())
        return [
            m
            for m in self.model.modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in skip
        ]

    def __enter__(self) -> "RealizedMacs":
        self._handles = [
            m.register_forward_hook(self._hook) for m in self._static_layers()
        ]
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.remove(self)
        for h in self._handles:
            h.remove()

    @property
    def mean(self) -> float:
        return self.per_sample.mean().item()


def realized_macs(model: nn.Module, x: torch.Tensor, **forward_kwargs) -> torch.Tensor:
    """Run ``model(x)`` without gradients and return the MACs each sample executed,
    [B]."""
    with torch.no_grad(), RealizedMacs(model, len(x)) as counter:
        model(x, **forward_kwargs)
    return counter.per_sample
