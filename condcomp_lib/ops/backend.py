"""Which implementation runs an op: the PyTorch reference or the CuPy kernels.

Used by every op in ``condcomp_lib.ops``. The kernels are off unless asked for, so that a book
run is the same everywhere by default: ``backend="auto"`` takes the kernel path only when

* kernels were switched on (``use_kernels(True)`` or the environment variable
  ``CONDCOMP_KERNELS=1``), and
* the tensor lives on a CUDA device, and
* CuPy imports and sees a GPU.

``backend="reference"`` and ``backend="kernel"`` force one path (tests and benchmarks); forcing
the kernel where it cannot run is an error rather than a silent fallback.
"""
from __future__ import annotations

import functools
import os

import torch

from .checks import check_backend

_enabled = os.environ.get("CONDCOMP_KERNELS", "0").strip() not in ("", "0", "false", "False")


def use_kernels(flag: bool = True) -> None:
    """Switch the CuPy kernel path on (or off) for ``backend="auto"``."""
    global _enabled
    _enabled = bool(flag)


def kernels_enabled() -> bool:
    return _enabled


@functools.lru_cache(maxsize=None)
def cupy_status() -> str | None:
    """None when CuPy imports and sees a GPU, else the reason it cannot be used."""
    try:
        import cupy
    except Exception as e:  # ImportError, or a broken CUDA install
        return f"CuPy does not import ({type(e).__name__}: {e}); install cupy-cuda12x"
    try:
        if not cupy.cuda.is_available():
            return "CuPy sees no CUDA device"
    except Exception as e:
        return f"CuPy cannot query CUDA ({e})"
    return None


def choose(backend: str, x: torch.Tensor) -> str:
    """'reference' or 'kernel' for an op on tensor ``x``."""
    check_backend(backend)
    if backend == "reference":
        return "reference"
    if backend == "kernel":
        if not x.is_cuda:
            raise ValueError(f"backend='kernel' needs CUDA tensors, but x is on {x.device}; "
                             f"use backend='reference' or 'auto' on a CPU")
        reason = cupy_status()
        if reason is not None:
            raise RuntimeError(f"backend='kernel' cannot run: {reason}")
        return "kernel"
    if _enabled and x.is_cuda and cupy_status() is None:
        return "kernel"
    return "reference"
