"""Fashion-MNIST, the book's dataset, and scikit-learn's digits for tiny demos.

Used by every chapter. Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) has 60,000 training
and 10,000 test images of 28x28 grey clothing items in 10 classes, stored in the four
gzip'd IDX files that MNIST made standard. The loader looks for them, in order, in

1. ``$CONDCOMP_DATA``,
2. the repository's ``data/`` folder,
3. ``/usr/share/datasets/fashion-mnist`` (Debian's package ``dataset-fashion-mnist``),

and ``python -m condcomp_lib.data fetch`` downloads them from the dataset's public
location into ``data/`` when none of these has them.

Every file is checked before use. The SHA-256 sums below are of the *decompressed* IDX
bytes, so that any faithful gzip of the data verifies (Debian recompresses the upstream
files, which changes the gzip bytes but not the data). A missing file, a truncated gzip, a
wrong checksum or a wrong IDX header each raise :class:`DataError`, whose message names
the file, what was expected and the command that fixes it. Nothing is ever replaced by
synthetic data.

The training split is cut into ``train`` and ``val`` with a fixed seed, so that chapters
tune thresholds and hyperparameters on ``val`` and touch ``test`` only to report."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import sys
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# file name -> (SHA-256 of the decompressed IDX bytes, IDX magic number, shape)
FILES = {
    "train-images-idx3-ubyte.gz": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        2051,
        (60000, 28, 28),
    ),
    "train-labels-idx1-ubyte.gz": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        2049,
        (60000,),
    ),
    "t10k-images-idx3-ubyte.gz": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        2051,
        (10000, 28, 28),
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        2049,
        (10000,),
    ),
}

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")
FIX = (
    "run `make data` (or `python -m condcomp_lib.data fetch`), or install Debian's "
    "package `dataset-fashion-mnist`, or point $CONDCOMP_DATA at a folder with the four "
    "files"
)


class DataError(RuntimeError):
    """A dataset file is missing or not what it should be."""


# ---------------------------------------------------------------- reading and checking
# files


def read_idx(
    path: Path,
    sha256: str | None = None,
    magic: int | None = None,
    shape: tuple | None = None,
) -> np.ndarray:
    """Read one gzip'd IDX file into a uint8 array, checking it on the way."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; {FIX}")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (EOFError, OSError, zlib.error) as e:  # truncated or not gzip at all
        raise DataError(
            f"{path}: not a complete gzip file ({e}); delete it and {FIX}"
        ) from e
    if sha256 is not None:
        got = hashlib.sha256(raw).hexdigest()
        if got != sha256:
            raise DataError(
                f"{path}: SHA-256 of the decompressed data is {got}, expected "
                f"{sha256}; the file is corrupt or not Fashion-MNIST; delete it and {FIX}"
            )
    if len(raw) < 8:
        raise DataError(f"{path}: {len(raw)} bytes is too short for an IDX header; {FIX}")
    got_magic, n = struct.unpack(">II", raw[:8])
    if magic is not None and got_magic != magic:
        raise DataError(
            f"{path}: IDX magic number {got_magic}, expected {magic} "
            f"({'images' if magic == 2051 else 'labels'}); {FIX}"
        )
    ndim = got_magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    if shape is not None and tuple(dims) != tuple(shape):
        raise DataError(
            f"{path}: IDX header says shape {tuple(dims)}, expected {tuple(shape)}; {FIX}"
        )
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise DataError(
            f"{path}: {len(body)} data bytes, header promises {int(np.prod(dims))}; {FIX}"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def candidate_dirs() -> list[Path]:
    """The folders searched for the four files, in order."""
    dirs = []
    if os.environ.get("CONDCOMP_DATA"):
        dirs.append(Path(os.environ["CONDCOMP_DATA"]))
    return dirs + [REPO_DATA, DEBIAN_DATA]


def find_data_dir() -> Path:
    """The first candidate folder that holds all four files (checked later, when read)."""
    for d in candidate_dirs():
        if all((d / name).is_file() for name in FILES):
            return d
    searched = ", ".join(str(d) for d in candidate_dirs())
    raise DataError(
        f"Fashion-MNIST files {', '.join(FILES)} not found in any of: {searched}; {FIX}"
    )


def download(dest: Path = REPO_DATA, url: str = URL) -> Path:
    """Download the four files into ``dest``. Each file is checked in a temporary place
    and only then moved in, so a failed or corrupt download leaves nothing partial behind.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name, (sha, magic, shape) in FILES.items():
        target = dest / name
        if target.is_file():
            read_idx(target, sha, magic, shape)
            continue
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            part = Path(tmp) / name
            print(f"downloading {url + name}", file=sys.stderr)
            try:
                with (
                    urllib.request.urlopen(url + name, timeout=30) as r,
                    open(part, "wb") as f,
                ):
                    shutil.copyfileobj(r, f)
            except OSError as e:
                raise DataError(f"{name}: download from {url} failed ({e}); {FIX}") from e
            read_idx(part, sha, magic, shape)
            part.replace(target)
    return dest


# ---------------------------------------------------------------- the dataset as tensors


@dataclass
class Split:
    """Images [N, 1, 28, 28] float32 (normalized) and labels [N] int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, n: int | None, seed: int = 0) -> "Split":
        """A random subset of ``n`` samples (all of them if ``n`` is None or too
        large)."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return Split(self.x[idx], self.y[idx])


@dataclass
class Dataset:
    train: Split
    val: Split
    test: Split
    class_names: tuple
    mean: float
    std: float

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Back to [0, 1] pixel values, for showing images."""
        return x * self.std + self.mean


def load_fashion_mnist(
    val_size: int = 5000, seed: int = 0, data_dir: str | Path | None = None
) -> Dataset:
    """Fashion-MNIST as tensors, with ``val_size`` training images held out as validation.

    Pixels are scaled to [0, 1] and standardized with the training split's mean and std.
    The held-out split depends only on ``seed`` (default 0, shared by the whole book).
    """
    d = Path(data_dir) if data_dir is not None else find_data_dir()
    arrays = {name: read_idx(d / name, *FILES[name]) for name in FILES}
    tr_x = torch.from_numpy(
        arrays["train-images-idx3-ubyte.gz"].astype(np.float32) / 255.0
    )
    tr_y = torch.from_numpy(arrays["train-labels-idx1-ubyte.gz"].astype(np.int64))
    te_x = torch.from_numpy(
        arrays["t10k-images-idx3-ubyte.gz"].astype(np.float32) / 255.0
    )
    te_y = torch.from_numpy(arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64))
    if not 0 <= val_size < len(tr_y):
        raise ValueError(f"val_size must be in [0, {len(tr_y)}), got {val_size}")
    perm = torch.randperm(len(tr_y), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    mean, std = tr_x[train_idx].mean().item(), tr_x[train_idx].std().item()

    def split(x, y):
        return Split(((x - mean) / std).unsqueeze(1).contiguous(), y)

    return Dataset(
        split(tr_x[train_idx], tr_y[train_idx]),
        split(tr_x[val_idx], tr_y[val_idx]),
        split(te_x, te_y),
        CLASS_NAMES,
        mean,
        std,
    )


def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), split 60/20/20: for tiny demos
    and tests."""
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_tr, n_va = int(0.6 * len(y)), int(0.2 * len(y))
    parts = perm[:n_tr], perm[n_tr : n_tr + n_va], perm[n_tr + n_va :]
    mean, std = x[parts[0]].mean().item(), x[parts[0]].std().item()
    x = (x - mean) / std
    return Dataset(
        *(Split(x[p], y[p]) for p in parts), tuple(str(i) for i in range(10)), mean, std
    )


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``python -m condcomp_lib.data check|fetch``: verify the files, or fetch what is
    missing."""
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m condcomp_lib.data", description=main.__doc__
    )
    p.add_argument("command", choices=["check", "fetch"])
    args = p.parse_args(argv)
    try:
        d = find_data_dir()
    except DataError as e:
        if args.command == "check":
            print(e, file=sys.stderr)
            return 1
        try:
            d = download()
        except DataError as e2:
            print(e2, file=sys.stderr)
            return 1
    try:
        for name, spec in FILES.items():
            read_idx(d / name, *spec)
    except DataError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"Fashion-MNIST: all four files verified in {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
