"""The library's CUDA sources built as C++ for the CPU, behind the same ``kernel``
interface.

The kernel paths (``routed_kernel``, ``per_sample_kernel``) ask
``condcomp_lib.ops.cuda.kernel`` for a kernel and run it with ``cuda.launch``. Swapping
``cuda.kernel`` for :func:`kernel` below runs the very same glue, launch checks included,
on CPU tensors: each kernel runs every thread of every block in turn (the shim header in
``cuda_shim/``), so an indexing error in a kernel shows up as a wrong value on any
machine, without a GPU.

Each source is compiled once into a shared object in the temporary folder, named by the
hash of everything that goes into it, so a later run (or another test process) reuses it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile

import torch

from condcomp_lib.ops import cuda
from condcomp_lib.ops.kernel_args import C_TYPE, Param, Signature

SHIM = pathlib.Path(__file__).parent / "cuda_shim"
FLAGS = ("-std=c++17", "-O1", "-fPIC", "-shared", "-Wall")


def compiler() -> str | None:
    """A C++17 compiler on this machine, or None."""
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _c_type(p: Param) -> str:
    base = "typename Acc<T>::type" if p.base == "Acc<T>::type" else p.base
    return base + "*" if p.pointer else base


def _symbol(sig: Signature, dtype: torch.dtype) -> str:
    return f"{sig.name}__{C_TYPE[dtype]}" if sig.template else f"{sig.name}__launch"


def _launcher(sig: Signature) -> str:
    """C++ that runs kernel ``sig`` over a grid: arguments come as an array of pointers to
    their values, as the CUDA driver takes them."""
    args = ", ".join(
        f"*static_cast<{_c_type(p)}*>(a[{k}])" for k, p in enumerate(sig.params)
    )
    head = 'extern "C" void {sym}(const unsigned* g, const unsigned* b, void** a)'
    if not sig.template:
        return (
            head.format(sym=_symbol(sig, torch.float32))
            + f" {{ for_each_thread(g, b, [&] {{ {sig.name}({args}); }}); }}\n"
        )
    out = (
        f"template <typename T> static void run__{sig.name}(const unsigned* g, "
        f"const unsigned* b, void** a) {{ for_each_thread(g, b, [&] {{ "
        f"{sig.name}<T>({args}); }}); }}\n"
    )
    for dtype, ctype in C_TYPE.items():
        out += (
            head.format(sym=_symbol(sig, dtype))
            + f" {{ run__{sig.name}<{ctype}>(g, b, a); }}\n"
        )
    return out


class BuildError(RuntimeError):
    pass


@functools.lru_cache(maxsize=None)
def library(source: str) -> ctypes.CDLL:
    """The CPU build of one ``.cu`` source (compiled once, cached on disk by content)."""
    cxx = compiler()
    if cxx is None:
        raise BuildError("no C++ compiler (g++, c++ or clang++) found")
    code = (
        cuda.source_text(source)
        + "\n"
        + "".join(_launcher(s) for s in cuda.source_signatures(source).values())
    )
    shim = (SHIM / "cuda_bf16.h").read_text()
    key = hashlib.sha256("\0".join((code, shim, cxx, *FLAGS)).encode()).hexdigest()[:16]
    folder = pathlib.Path(tempfile.gettempdir()) / "condcomp-cpu-kernels"
    folder.mkdir(exist_ok=True)
    so = folder / f"{pathlib.Path(source).stem}-{key}.so"
    if not so.exists():
        cpp = folder / f"{so.stem}.{os.getpid()}.cpp"
        cpp.write_text(code)
        tmp = cpp.with_suffix(".so")
        done = subprocess.run(
            [cxx, *FLAGS, "-I", str(SHIM), "-o", str(tmp), str(cpp)],
            capture_output=True,
            text=True,
        )
        cpp.unlink()
        if done.returncode:
            raise BuildError(f"{source} does not compile for the CPU:\n{done.stderr}")
        os.replace(tmp, so)  # atomic: a parallel run sees the whole file or none
    return ctypes.CDLL(str(so))


class CpuKernel:
    """One kernel of the CPU build, called like ``cuda.CudaKernel``: k(grid, block,
    raw)."""

    def __init__(self, source: str, name: str, dtype: torch.dtype):
        self.signature = cuda.source_signatures(source)[name]
        self.dtype, self.device = dtype, torch.device("cpu")
        self.fn = getattr(library(source), _symbol(self.signature, dtype))
        self.fn.restype = None
        self.c_types = [
            ctypes.c_void_p
            if p.pointer
            else ctypes.c_longlong
            if p.base == "long long"
            else ctypes.c_int
            for p in self.signature.params
        ]
        self.launches = 0

    def __call__(self, grid, block, raw) -> None:
        values = [t(v) for t, v in zip(self.c_types, raw)]
        pointers = (ctypes.c_void_p * len(values))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values]
        )
        self.fn((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block), pointers)
        self.launches += 1


@functools.lru_cache(maxsize=None)
def kernel(source: str, name: str, dtype: torch.dtype, device: torch.device) -> CpuKernel:
    """Stands in for ``cuda.kernel``: the CPU build's kernel, for CPU tensors."""
    if torch.device(device).type != "cpu":
        raise ValueError(f"the CPU build runs CPU tensors, got {device}")
    return CpuKernel(source, name, dtype)
