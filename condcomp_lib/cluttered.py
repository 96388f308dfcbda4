"""Cluttered, translated Fashion-MNIST: each item somewhere on a larger canvas, among
small crops of other items.

Used by chapter 7 (activity specialization), whose question is spatial: does it pay to
compute fine features only where a coarse look says something is? At 28x28 a
Fashion-MNIST item fills its image, so there is nowhere to skip. Here every item is put at
a random position on a ``canvas`` x ``canvas`` image, and ``clutter`` crops of
``crop`` x ``crop`` pixels cut from other items of the same split are scattered over it
first, as in the cluttered MNIST of the attention literature (Mnih et al., 2014;
Jaderberg et al., 2015). Overlaps are drawn by the brighter pixel (maximum), so the item
is never hidden and the clutter looks like pieces of clothing, not noise.

Everything is generated from the real Fashion-MNIST files by a seeded generator (NumPy's
PCG64, whose streams NumPy keeps stable), so the canvases are the same on every machine
and need no download; :func:`fingerprint` gives a checksum of the bytes, which the tests
pin. The item's position is kept (``boxes``), so a chapter can ask whether a coarse
network's activity lands on the object."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from .data import Dataset, Split

ITEM = 28  # Fashion-MNIST's side


@dataclass
class Canvases:
    """Generated canvases of one split: pixels uint8 [N, S, S], labels [N], and the
    item's top-left corner (row, column) on the canvas [N, 2]."""

    pixels: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def make_canvases(
    items: np.ndarray,
    labels: np.ndarray,
    canvas: int = 84,
    clutter: int = 6,
    crop: int = 9,
    seed: int = 0,
) -> Canvases:
    """Place every item of ``items`` (uint8 [N, 28, 28]) at a random position on a
    ``canvas``-sided square, over ``clutter`` random ``crop``-sided pieces of other items
    (of the same array). Deterministic in ``seed``."""
    if items.ndim != 3 or items.shape[1:] != (ITEM, ITEM) or items.dtype != np.uint8:
        raise ValueError(
            f"items must be uint8 [N, {ITEM}, {ITEM}], got {items.dtype} {items.shape}"
        )
    if len(labels) != len(items):
        raise ValueError(f"{len(items)} items but {len(labels)} labels")
    if canvas < ITEM:
        raise ValueError(f"canvas must be at least {ITEM} pixels, got {canvas}")
    if not 1 <= crop <= ITEM or clutter < 0:
        raise ValueError(
            f"crop must lie in [1, {ITEM}] and clutter be >= 0, got {crop}, {clutter}"
        )
    n = len(items)
    rng = np.random.default_rng(seed)
    # every random number is drawn up front, in a fixed order, so that the canvases do
    # not depend on how the loop below is written
    boxes = rng.integers(0, canvas - ITEM + 1, size=(n, 2))
    donors = rng.integers(0, n, size=(n, clutter))  # which item each piece comes from
    cuts = rng.integers(0, ITEM - crop + 1, size=(n, clutter, 2))  # where in the donor
    spots = rng.integers(0, canvas - crop + 1, size=(n, clutter, 2))  # where it lands
    out = np.zeros((n, canvas, canvas), dtype=np.uint8)
    for i in range(n):
        for k in range(clutter):
            (a, b), (r, c) = cuts[i, k], spots[i, k]
            piece = items[donors[i, k], a : a + crop, b : b + crop]
            view = out[i, r : r + crop, c : c + crop]
            np.maximum(view, piece, out=view)
        r, c = boxes[i]
        view = out[i, r : r + ITEM, c : c + ITEM]
        np.maximum(view, items[i], out=view)
    return Canvases(out, np.asarray(labels), boxes)


def fingerprint(pixels: np.ndarray) -> str:
    """The first 16 hex digits of the SHA-256 of the canvases' bytes: a checksum to pin
    the generator with."""
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16]


def load_cluttered(
    ds: Dataset,
    canvas: int = 84,
    clutter: int = 6,
    crop: int = 9,
    seed: int = 0,
    train_samples: int | None = None,
) -> tuple[Dataset, dict[str, np.ndarray]]:
    """The book's splits of Fashion-MNIST (``ds``) turned into cluttered canvases.

    Returns (a :class:`~condcomp_lib.data.Dataset` of float canvases [N, 1, S, S],
    standardized with the training canvases' mean and std; the items' top-left corners
    per split). ``train_samples`` keeps the first that many training images (the chapters'
    subsets are drawn before this call; this only bounds memory: 55,000 canvases of 84x84
    are 1.5 GB as float32). Each split has its own seed, derived from ``seed``."""
    splits, boxes = {}, {}
    for k, name in enumerate(("train", "val", "test")):
        split = getattr(ds, name)
        if name == "train" and train_samples is not None:
            split = Split(split.x[:train_samples], split.y[:train_samples])
        items = ds.denormalize(split.x[:, 0]).mul(255).round().clamp(0, 255)
        made = make_canvases(
            items.to(torch.uint8).numpy(),
            split.y.numpy(),
            canvas,
            clutter,
            crop,
            seed=1000 * seed + k,
        )
        splits[name], boxes[name] = made, made.boxes
    # the statistics of (up to) 5,000 training canvases: a float64 copy of all 55,000
    # would take 3 GB
    sample = splits["train"].pixels[:5000].astype(np.float32) / 255.0
    mean, std = float(sample.mean()), float(sample.std())

    def to_split(c: Canvases) -> Split:
        x = torch.from_numpy(c.pixels).float().div_(255.0).sub_(mean).div_(std)
        return Split(x.unsqueeze(1).contiguous(), torch.from_numpy(c.labels))

    out = Dataset(
        to_split(splits["train"]),
        to_split(splits["val"]),
        to_split(splits["test"]),
        ds.class_names,
        mean,
        std,
    )
    return out, boxes
