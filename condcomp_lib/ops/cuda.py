"""Compiling and launching the CuPy RawKernels of ``condcomp_lib.ops`` from PyTorch.

Used by the kernel paths of every op (``routed_kernel``, ``per_sample_kernel``). Four rules,
taken from projects that do this well:

* CuPy is imported here, lazily, so ``import condcomp_lib`` works without it;
* a ``.cu`` source is compiled once per (dtype, device), never per shape: sizes are ``int``
  arguments of the kernels, and C++ templates give the float/double/bfloat16 versions;
* kernels run on PyTorch's current stream (``cupy.cuda.ExternalStream``), so they queue in order
  with PyTorch's own work and nothing synchronises;
* tensors reach the kernels zero-copy through DLPack.
"""
from __future__ import annotations

import functools
import pathlib

import numpy as np
import torch

HERE = pathlib.Path(__file__).parent
THREADS = 256

# the C++ type a kernel template is instantiated with, per torch dtype
C_TYPE = {torch.float32: "float", torch.float64: "double", torch.bfloat16: "__nv_bfloat16"}

# template kernels of each source (the extern "C" ones need no instantiation)
TEMPLATES = {
    "routing.cu": ("init_output", "gather_patches", "scatter_tiles_add", "gather_tiles",
                   "scatter_patches_add", "bias_grad"),
    "per_sample.cu": ("im2col", "col2im"),
}


def name_expressions(source: str, dtype: torch.dtype) -> list[str]:
    """The instantiations to compile, e.g. ``gather_tiles<float>``."""
    return [f"{k}<{C_TYPE[dtype]}>" for k in TEMPLATES[source]]


def cuda_include_dirs() -> list[str]:
    """Folders holding ``cuda_bf16.h``: the pip wheel's headers, else the CUDA toolkit's."""
    dirs = []
    try:
        import nvidia.cuda_runtime as rt   # pip: nvidia-cuda-runtime-cu12
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


@functools.lru_cache(maxsize=None)
def module(source: str, dtype: torch.dtype, device_index: int):
    """The compiled ``source`` for ``dtype`` on one device (cached: compiled once)."""
    if dtype not in C_TYPE:
        raise TypeError(f"the CUDA kernels support {list(C_TYPE)}, got {dtype}")
    cupy = _cupy()
    with cupy.cuda.Device(device_index):
        mod = cupy.RawModule(code=(HERE / source).read_text(), options=compile_options(),
                             name_expressions=name_expressions(source, dtype))
        mod.compile()
    return mod


def kernel(source: str, name: str, dtype: torch.dtype, device: torch.device):
    """One kernel of ``source``: a template instantiated for ``dtype``, or an extern "C" one."""
    mod = module(source, dtype, device.index if device.index is not None else
                 torch.cuda.current_device())
    if name in TEMPLATES[source]:
        return mod.get_function(f"{name}<{C_TYPE[dtype]}>")
    return mod.get_function(name)


def as_cupy(t: torch.Tensor):
    """A zero-copy CuPy view of a contiguous CUDA tensor (bfloat16 travels as int16 bits:
    the kernel only sees a pointer)."""
    if not t.is_contiguous():
        raise ValueError("kernels take contiguous tensors")
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return _cupy().from_dlpack(t)


def launch(fn, work: int, args, device: torch.device, *, blocks: int | None = None) -> None:
    """Run ``fn`` on PyTorch's current stream of ``device``: grid-stride over ``work`` items
    (or exactly ``blocks`` blocks). Tensors become CuPy views, ints become int32."""
    cupy = _cupy()
    if blocks is None:
        blocks = max(1, min((work + THREADS - 1) // THREADS, 65535 * 8))
    conv = [as_cupy(a) if isinstance(a, torch.Tensor) else
            np.int32(a) if isinstance(a, (int, bool)) else a for a in args]
    stream = cupy.cuda.ExternalStream(torch.cuda.current_stream(device).cuda_stream,
                                      device.index if device.index is not None else -1)
    with cupy.cuda.Device(device.index if device.index is not None else
                          torch.cuda.current_device()):
        fn((blocks,), (THREADS,), tuple(conv), stream=stream)
