"""The parameters of the CUDA kernels, read from their source, and the check of every
launch.

Used by :mod:`.cuda` (every launch of the kernel paths of ``routed_conv2d`` and
``per_sample_conv2d``) and by the tests' CPU build of the same sources. A kernel receives
raw pointers: it cannot tell a float32 buffer from a bfloat16 one, so a wrong dtype is
silent garbage or a read past the end of a buffer. So every launch checks each argument
against the kernel's own signature first: dtype, device, contiguity, and that every int
fits in 32 bits. Nothing here needs CuPy or a GPU.

Parameter types the kernels use, and what a launch must pass for them:

* ``T*`` / ``const T*``: a tensor of the dtype the kernel was compiled for;
* ``typename Acc<T>::type*``: a tensor of the accumulation dtype (float32 for bfloat16);
* ``int*``, ``long long*``, ``bool*``: int32, int64 and bool tensors;
* ``int``, ``long long``: Python ints that fit in 32 or 64 bits.

A pointer parameter whose name ends in ``_or_null`` may be passed ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

# the C++ type a kernel template is instantiated with, per torch dtype; float16 has none
C_TYPE = {
    torch.float32: "float",
    torch.float64: "double",
    torch.bfloat16: "__nv_bfloat16",
}
KERNEL_DTYPES = tuple(C_TYPE)

_POINTER_KINDS = {
    "T": None,
    "Acc<T>::type": None,
    "int": torch.int32,
    "long long": torch.int64,
    "bool": torch.bool,
}
_SCALAR_BITS = {"int": 32, "long long": 64}
_KERNEL = re.compile(
    r'(template\s*<\s*typename\s+T\s*>|extern\s+"C")\s*__global__\s+void\s+'
    r"(\w+)\s*\(([^)]*)\)"
)


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a kernel sums in: float32 for bfloat16, the dtype itself otherwise."""
    return torch.float32 if dtype == torch.bfloat16 else dtype


@dataclass(frozen=True)
class Param:
    """One kernel parameter: ``base`` is its type without const, typename and the pointer
    star."""

    name: str
    base: str
    pointer: bool

    @property
    def optional(self) -> bool:
        return self.pointer and self.name.endswith("_or_null")

    def dtype(self, kernel_dtype: torch.dtype) -> torch.dtype:
        """The tensor dtype this pointer parameter takes in a kernel compiled for
        kernel_dtype."""
        if self.base == "T":
            return kernel_dtype
        if self.base == "Acc<T>::type":
            return acc_dtype(kernel_dtype)
        return _POINTER_KINDS[self.base]


@dataclass(frozen=True)
class Signature:
    name: str
    template: bool  # a template over T (else extern "C": one version serves every dtype)
    params: tuple[Param, ...]


def _param(text: str, kernel: str) -> Param:
    words = text.replace("*", " * ").split()
    name, type_words = (
        words[-1],
        [w for w in words[:-1] if w not in ("const", "typename")],
    )
    pointer = "*" in type_words
    base = " ".join(w for w in type_words if w != "*")
    if base not in (_POINTER_KINDS if pointer else _SCALAR_BITS):
        raise ValueError(
            f"kernel {kernel}: parameter {text.strip()!r} has a type the launch "
            f"glue does not know; see condcomp_lib/ops/kernel_args.py"
        )
    return Param(name, base, pointer)


def signatures(code: str) -> dict[str, Signature]:
    """Every ``__global__`` kernel of a CUDA source: {name: Signature}."""
    out = {}
    for head, name, params in _KERNEL.findall(code):
        out[name] = Signature(
            name,
            head.startswith("template"),
            tuple(_param(p, name) for p in params.split(",")),
        )
    return out


def prepare(sig: Signature, dtype: torch.dtype, device: torch.device, args) -> list[int]:
    """Check a launch's arguments against the kernel's signature; return them as integers
    (tensors as their data pointers, None as 0), in order. Raises TypeError or ValueError,
    naming the kernel and the parameter, before anything runs."""
    where = f"kernel {sig.name}" + (f"<{C_TYPE[dtype]}>" if sig.template else "")
    if len(args) != len(sig.params):
        raise TypeError(f"{where} takes {len(sig.params)} arguments, got {len(args)}")
    out = []
    for p, a in zip(sig.params, args):
        if not p.pointer:
            if isinstance(a, torch.Tensor) or not isinstance(a, int):
                raise TypeError(
                    f"{where}: {p.name} must be a Python int, got {type(a).__name__}"
                )
            bits = _SCALAR_BITS[p.base]
            if not -(2 ** (bits - 1)) <= a < 2 ** (bits - 1):
                raise ValueError(
                    f"{where}: {p.name}={a} does not fit the kernel's {bits}-bit {p.base}"
                )
            out.append(int(a))
        elif a is None and p.optional:
            out.append(0)
        elif not isinstance(a, torch.Tensor):
            raise TypeError(f"{where}: {p.name} must be a tensor, got {type(a).__name__}")
        else:
            want = p.dtype(dtype)
            if a.dtype != want:
                raise TypeError(
                    f"{where}: {p.name} must have dtype {want} (the kernel is "
                    f"compiled for {dtype}), got {a.dtype}"
                )
            if a.device != device:
                raise ValueError(
                    f"{where}: {p.name} is on {a.device}, the kernel on {device}"
                )
            if not a.is_contiguous():
                raise ValueError(f"{where}: {p.name} must be contiguous")
            out.append(a.data_ptr())
    return out
