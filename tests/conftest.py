"""Shared fixtures. The chapter tests import the book builder from scripts/."""

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))


@pytest.fixture(scope="session")
def digits28():
    """scikit-learn's 8x8 digits padded to 28x28: a dataset small enough for a test to
    train on, in the shape the LeNets take. Tests only read it."""
    from condcomp_lib import data

    ds = data.load_digits()
    pad = lambda s: data.Split(torch.nn.functional.pad(s.x, (10, 10, 10, 10)), s.y)
    return data.Dataset(
        pad(ds.train), pad(ds.val), pad(ds.test), ds.class_names, ds.mean, ds.std
    )
