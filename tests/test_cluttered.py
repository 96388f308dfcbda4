"""The cluttered canvases of chapter 7: deterministic, pinned by a checksum, and the item
really where its box says."""

import numpy as np
import pytest
import torch

from condcomp_lib import cluttered, data


def items(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def test_the_same_seed_gives_the_same_canvases_and_another_seed_others():
    x, y = items()
    a = cluttered.make_canvases(x, y, canvas=56, seed=3)
    b = cluttered.make_canvases(x, y, canvas=56, seed=3)
    c = cluttered.make_canvases(x, y, canvas=56, seed=4)
    assert cluttered.fingerprint(a.pixels) == cluttered.fingerprint(b.pixels)
    assert cluttered.fingerprint(a.pixels) != cluttered.fingerprint(c.pixels)
    assert a.pixels.shape == (20, 56, 56) and a.pixels.dtype == np.uint8


def test_the_item_lies_whole_at_its_box_above_the_clutter():
    x, y = items()
    made = cluttered.make_canvases(x, y, canvas=64, clutter=8, crop=9, seed=1)
    for i, (r, c) in enumerate(made.boxes):
        patch = made.pixels[i, r : r + 28, c : c + 28]
        assert np.all(patch >= x[i])  # drawn by the brighter pixel: never hidden
    bare = cluttered.make_canvases(x, y, canvas=64, clutter=0, seed=1)
    assert bare.pixels.sum() == x.astype(np.int64).sum()  # nothing but the items
    assert made.pixels.astype(np.int64).sum() > bare.pixels.astype(np.int64).sum()


def test_the_generator_is_pinned_on_the_real_test_images():
    ds = data.load_fashion_mnist()
    px = ds.denormalize(ds.test.x[:100, 0]).mul(255).round().clamp(0, 255)
    made = cluttered.make_canvases(px.to(torch.uint8).numpy(), ds.test.y[:100].numpy())
    assert cluttered.fingerprint(made.pixels) == "93bfb4afac95e232"


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(canvas=20), "canvas"),
        (dict(crop=0), "crop"),
        (dict(clutter=-1), "clutter"),
    ],
)
def test_bad_arguments_are_named(kw, match):
    x, y = items(3)
    with pytest.raises(ValueError, match=match):
        cluttered.make_canvases(x, y, **kw)
    with pytest.raises(ValueError, match="uint8"):
        cluttered.make_canvases(x.astype(np.float32), y)
