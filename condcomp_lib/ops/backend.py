"""Which implementation runs an op: the PyTorch reference or the CuPy kernels.

Used by every op in ``condcomp_lib.ops``. The kernels are off unless asked for, so that a
book run is the same everywhere by default: ``backend="auto"`` takes the kernel path only
when

* kernels were switched on (``use_kernels(True)`` or the environment variable
  ``CONDCOMP_KERNELS=1``), and
* the tensor lives on a CUDA device, and
* CuPy imports and sees a GPU, and
* the kernels are compiled for the tensor's dtype (float32, float64, bfloat16; not
  float16).

``backend="reference"`` and ``backend="kernel"`` force one path (tests and benchmarks);
forcing the kernel where it cannot run is an error rather than a silent fallback. The rule
itself is :func:`decide`, a plain function of the facts, so it is tested on machines
without a GPU."""

from __future__ import annotations

import functools
import os

import torch

from .checks import check_backend
from .kernel_args import KERNEL_DTYPES

_enabled = os.environ.get("CONDCOMP_KERNELS", "0").strip() not in (
    "",
    "0",
    "false",
    "False",
)


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


def decide(
    backend: str,
    *,
    device: torch.device,
    dtype: torch.dtype,
    enabled: bool,
    cupy_reason: str | None,
    kernel_dtypes=KERNEL_DTYPES,
) -> str:
    """'reference' or 'kernel': the dispatch rule, as a plain function of the facts.

    ``kernel_dtypes`` are the dtypes the op's kernels are compiled for (None: the op's GPU
    path needs no CuPy kernel and runs any dtype). ``backend="auto"`` falls back to the
    reference wherever the kernel path cannot run; ``backend="kernel"`` is an error there.
    """
    check_backend(backend)
    if backend == "reference":
        return "reference"
    is_cuda = torch.device(device).type == "cuda"
    needs_cupy = kernel_dtypes is not None
    supported = not needs_cupy or dtype in kernel_dtypes
    if backend == "kernel":
        if not is_cuda:
            raise ValueError(
                f"backend='kernel' needs CUDA tensors, but x is on {device}; "
                f"use backend='reference' or 'auto' on a CPU"
            )
        if needs_cupy and cupy_reason is not None:
            raise RuntimeError(f"backend='kernel' cannot run: {cupy_reason}")
        if not supported:
            names = ", ".join(str(d).replace("torch.", "") for d in kernel_dtypes)
            raise TypeError(
                f"backend='kernel' has no {str(dtype).replace('torch.', '')} "
                f"kernel (it has {names}); cast the inputs, or use "
                f"backend='auto', which falls back to the reference"
            )
        return "kernel"
    usable = enabled and is_cuda and supported and (not needs_cupy or cupy_reason is None)
    return "kernel" if usable else "reference"


def choose(backend: str, x: torch.Tensor, kernel_dtypes=KERNEL_DTYPES) -> str:
    """'reference' or 'kernel' for an op on tensor ``x`` (see :func:`decide`)."""
    reason = (
        cupy_status()
        if (x.is_cuda and backend != "reference" and kernel_dtypes is not None)
        else None
    )
    return decide(
        backend,
        device=x.device,
        dtype=x.dtype,
        enabled=_enabled,
        cupy_reason=reason,
        kernel_dtypes=kernel_dtypes,
    )
