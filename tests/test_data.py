"""The Fashion-MNIST loader: good files load, every kind of bad file fails clearly."""

import gzip
import struct

import numpy as np
import pytest
import torch

from condcomp_lib import data


def write_idx(path, array, magic=None, compress=True):
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 | array.ndim
    raw = (
        struct.pack(">I", magic)
        + struct.pack(">" + "I" * array.ndim, *array.shape)
        + array.tobytes()
    )
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return raw


def test_real_dataset_loads_and_splits():
    ds = data.load_fashion_mnist(val_size=5000, seed=0)
    assert ds.train.x.shape == (55000, 1, 28, 28) and ds.val.x.shape == (5000, 1, 28, 28)
    assert ds.test.x.shape == (10000, 1, 28, 28)
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64
    assert set(ds.test.y.tolist()) == set(range(10))
    # standardized with the training split's statistics
    assert (
        abs(ds.train.x.mean().item()) < 1e-3 and abs(ds.train.x.std().item() - 1) < 1e-3
    )
    # the validation split is fixed by the seed and disjoint from training
    again = data.load_fashion_mnist(val_size=5000, seed=0)
    assert torch.equal(ds.val.y, again.val.y) and torch.equal(ds.val.x, again.val.x)
    other = data.load_fashion_mnist(val_size=5000, seed=1)
    assert not torch.equal(ds.val.x, other.val.x)


def test_small_idx_roundtrip(tmp_path):
    arr = np.random.randint(0, 256, size=(3, 4, 5))
    raw = write_idx(tmp_path / "x.gz", arr)
    import hashlib

    got = data.read_idx(
        tmp_path / "x.gz", hashlib.sha256(raw).hexdigest(), 2051, (3, 4, 5)
    )
    assert np.array_equal(got, arr)


def test_missing_file_names_file_and_fix(tmp_path):
    with pytest.raises(data.DataError, match=r"x\.gz: file not found.*make data"):
        data.read_idx(tmp_path / "x.gz")


def test_truncated_gzip(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((10, 28, 28)))
    blob = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(
        data.DataError, match=r"x\.gz: not a complete gzip file.*make data"
    ):
        data.read_idx(tmp_path / "x.gz")


def test_wrong_checksum(tmp_path):
    write_idx(tmp_path / "x.gz", np.ones((2, 28, 28)))
    with pytest.raises(
        data.DataError, match=r"x\.gz: SHA-256 .* expected 00000.*make data"
    ):
        data.read_idx(tmp_path / "x.gz", sha256="0" * 64)


def test_wrong_header(tmp_path):
    write_idx(tmp_path / "x.gz", np.ones((2, 28, 28)))
    with pytest.raises(
        data.DataError, match=r"magic number 2051, expected 2049 \(labels\)"
    ):
        data.read_idx(tmp_path / "x.gz", magic=2049)
    with pytest.raises(
        data.DataError, match=r"shape \(2, 28, 28\), expected \(60000, 28, 28\)"
    ):
        data.read_idx(tmp_path / "x.gz", magic=2051, shape=(60000, 28, 28))
    # a header promising more bytes than the file holds
    raw = struct.pack(">II", 2049, 100) + bytes(10)
    (tmp_path / "y.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(data.DataError, match=r"10 data bytes, header promises 100"):
        data.read_idx(tmp_path / "y.gz")


def test_search_order_and_missing_everywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDCOMP_DATA", str(tmp_path))
    assert data.candidate_dirs()[0] == tmp_path
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "nothing")
    monkeypatch.setattr(data, "DEBIAN_DATA", tmp_path / "nothing-either")
    with pytest.raises(data.DataError, match="not found in any of"):
        data.find_data_dir()


def test_bad_file_in_data_dir_is_reported_not_used(tmp_path):
    for name in data.FILES:
        write_idx(tmp_path / name, np.zeros((2, 28, 28)))
    with pytest.raises(data.DataError, match="SHA-256"):
        data.load_fashion_mnist(data_dir=tmp_path)


def test_failed_download_leaves_nothing(tmp_path):
    with pytest.raises(data.DataError, match="download .* failed"):
        data.download(tmp_path, url="http://127.0.0.1:9/")
    assert list(tmp_path.iterdir()) == []


def test_digits():
    ds = data.load_digits()
    assert ds.train.x.shape[1:] == (1, 8, 8)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 1797


def test_checksum_file_matches_the_loader():
    listed = dict(
        line.split()[::-1]
        for line in (data.REPO_DATA / "checksums.sha256").read_text().splitlines()
    )
    assert listed == {name: spec[0] for name, spec in data.FILES.items()}
