"""Compiling and launching the CuPy RawKernels of ``condcomp_lib.ops`` from PyTorch.

Used by the kernel paths of every op (``routed_kernel``, ``per_sample_kernel``). The
rules:

* CuPy is imported here, lazily, so ``import condcomp_lib`` works without it;
* a ``.cu`` source is compiled once per (dtype, device), never per shape: sizes are
  ``int`` arguments of the kernels, and C++ templates give the float/double/bfloat16
  versions;
* every launch is checked against the kernel's signature first (:mod:`.kernel_args`): a
  kernel takes raw pointers and cannot see a wrong dtype itself;
* a launch costs little host time: kernel objects are cached, tensors travel as raw data
  pointers (no DLPack or CuPy array per tensor), and the stream object for PyTorch's
  current stream is cached per stream;
* kernels run on PyTorch's current stream, so they queue in order with PyTorch's own work
  and nothing synchronises.

``kernel`` and ``launch`` are the two names the kernel paths call. The tests swap
``kernel`` for a CPU build of the same sources and keep ``launch``, so the checks and the
glue they drive are the ones a GPU runs."""

from __future__ import annotations

import contextlib
import functools
import pathlib
import re

import numpy as np
import torch

from .kernel_args import C_TYPE, Signature, prepare, signatures

HERE = pathlib.Path(__file__).parent
SOURCES = ("routing.cu", "per_sample.cu")
_INCLUDE = re.compile(r'^#include "([\w.]+\.cuh)"[ \t]*$', re.M)


@functools.lru_cache(maxsize=None)
def source_text(source: str) -> str:
    """The text of a ``.cu`` source with its local headers pasted in (what gets
    compiled)."""
    return _INCLUDE.sub(
        lambda m: (HERE / m.group(1)).read_text(), (HERE / source).read_text()
    )


@functools.lru_cache(maxsize=None)
def source_signatures(source: str) -> dict[str, Signature]:
    return signatures(source_text(source))


def name_expressions(source: str, dtype: torch.dtype) -> list[str]:
    """The template instantiations to compile, e.g. ``gather_tiles<float>``."""
    return [
        f"{s.name}<{C_TYPE[dtype]}>"
        for s in source_signatures(source).values()
        if s.template
    ]


def cuda_include_dirs() -> list[str]:
    """Folders holding ``cuda_bf16.h``: the pip wheel's headers, else the CUDA
    toolkit's."""
    dirs = []
    try:
        import nvidia.cuda_runtime as rt  # pip: nvidia-cuda-runtime-cu12

        dirs += [str(pathlib.Path(p) / "include") for p in rt.__path__]
    except ImportError:
        pass
    try:
        import cupy

        path = cupy.cuda.get_cuda_path()
        if path:
            dirs.append(str(pathlib.Path(path) / "include"))
    except Exception:
        pass
    return [d for d in dirs if (pathlib.Path(d) / "cuda_bf16.h").exists()]


def compile_options() -> tuple[str, ...]:
    return ("-std=c++17", *(f"-I{d}" for d in cuda_include_dirs()))


def _cupy():
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError("the kernel path needs CuPy: pip install cupy-cuda12x") from e
    return cupy


def _on_device(index: int):
    """Make ``index`` CuPy's current device for a launch (a no-op when it already is)."""
    cupy = _cupy()
    if cupy.cuda.runtime.getDevice() == index:
        return contextlib.nullcontext()
    return cupy.cuda.Device(index)


@functools.lru_cache(maxsize=None)
def module(source: str, dtype: torch.dtype, device_index: int):
    """The compiled ``source`` for ``dtype`` on one device (cached: compiled once)."""
    if dtype not in C_TYPE:
        raise TypeError(f"the CUDA kernels support {list(C_TYPE)}, got {dtype}")
    cupy = _cupy()
    with cupy.cuda.Device(device_index):
        mod = cupy.RawModule(
            code=source_text(source),
            options=compile_options(),
            name_expressions=name_expressions(source, dtype),
        )
        mod.compile()
    return mod


class _StreamHandle:
    """A raw CUDA stream handle, offered through the CUDA stream protocol."""

    def __init__(self, handle: int):
        self.handle = handle

    def __cuda_stream__(self):
        return (0, self.handle)


@functools.lru_cache(maxsize=64)
def _cupy_stream(handle: int, device_index: int):
    """CuPy's view of one of PyTorch's streams (cached: made once per stream)."""
    cupy = _cupy()
    if hasattr(cupy.cuda.Stream, "from_external"):  # CuPy >= 14
        return cupy.cuda.Stream.from_external(_StreamHandle(handle))
    return cupy.cuda.ExternalStream(handle, device_index)  # older CuPy


class CudaKernel:
    """One compiled kernel on one device, called as ``k(grid, block, raw_args)`` where the
    raw arguments come from :func:`.kernel_args.prepare`."""

    def __init__(self, source: str, name: str, dtype: torch.dtype, device_index: int):
        self.signature = source_signatures(source)[name]
        self.dtype, self.device = dtype, torch.device("cuda", device_index)
        mod = module(source, dtype, device_index)
        raw = mod.get_function(
            f"{name}<{C_TYPE[dtype]}>" if self.signature.template else name
        )
        self.fn = getattr(raw, "kernel", raw)  # the driver function under the RawKernel
        # pointers travel as 64-bit integers, ints as the C type the kernel declares
        self.converters = [
            np.uint64 if p.pointer else np.int64 if p.base == "long long" else np.int32
            for p in self.signature.params
        ]

    def __call__(self, grid, block, raw) -> None:
        index = self.device.index
        args = tuple(c(v) for c, v in zip(self.converters, raw))
        with _on_device(index):
            stream = _cupy_stream(torch.cuda.current_stream(index).cuda_stream, index)
            self.fn(tuple(grid), tuple(block), args, stream=stream)


@functools.lru_cache(maxsize=None)
def kernel(
    source: str, name: str, dtype: torch.dtype, device: torch.device
) -> CudaKernel:
    """One kernel of ``source`` for ``dtype`` on ``device`` (cached: built once)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    return CudaKernel(source, name, dtype, index)


def check_shape(grid, block) -> None:
    """CUDA's limits on a launch's shape. An empty dimension is an error here: CuPy would
    quietly raise it to 1 and run a block over items that do not exist."""
    if len(grid) != 3 or len(block) != 3 or min(*grid, *block) < 1:
        raise ValueError(
            f"a launch needs three positive grid and block sizes, got {grid}, {block}"
        )
    if grid[0] >= 2**31 or max(grid[1], grid[2]) > 65535:
        raise ValueError(f"grid {grid} exceeds CUDA's limits (2^31 - 1, 65535, 65535)")
    if block[0] * block[1] * block[2] > 1024 or block[2] > 64:
        raise ValueError(f"block {block} exceeds CUDA's limits (1024 threads, z <= 64)")


def launch(k, grid, block, *args) -> None:
    """Check the shape and ``args`` against ``k``'s signature, then run ``k``."""
    check_shape(grid, block)
    k(grid, block, prepare(k.signature, k.dtype, k.device, args))


def plane_shape(items: int, channels: int, height: int, width: int):
    """(grid, block) of a data-movement kernel over ``items`` x ``channels`` planes of
    height x width (see common.cuh): block (x, y) covers a plane's pixels, block z packs
    small planes' channels into one block, grid y covers the rest of the channels."""
    if height * width >= 2**31:
        raise ValueError(
            f"a {height}x{width} plane does not fit the kernels' 32-bit indices"
        )
    bx = min(width, 32)
    by = min(height, max(1, 256 // bx))
    bz = min(channels, max(1, 256 // (bx * by)))
    return (items, min(-(-channels // bz), 65535), 1), (bx, by, bz)
