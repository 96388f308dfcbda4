"""Every CUDA source of condcomp_lib.ops compiles, for every dtype, without a GPU.

NVRTC (the runtime compiler CuPy uses) needs no device, so a kernel that does not compile
fails here on any machine, not only on a GPU runner. We compile for compute capability 9.0
(H100), with the same instantiations and options the library uses at run time."""

import pytest
import torch

nvrtc = pytest.importorskip(
    "cupy_backends.cuda.libs.nvrtc",
    reason="cupy_backends (cupy-cuda12x) is not installed",
)

from condcomp_lib.ops import cuda  # noqa: E402  (after the skip)
from condcomp_lib.ops.kernel_args import C_TYPE  # noqa: E402


def compile_ptx(source: str, dtype: torch.dtype) -> str:
    code = cuda.source_text(source)  # the source with its local headers pasted in
    prog = nvrtc.createProgram(code, source, (), ())
    try:
        names = cuda.name_expressions(source, dtype)
        for name in names:
            nvrtc.addNameExpression(prog, name)
        try:
            nvrtc.compileProgram(prog, ("-arch=compute_90", *cuda.compile_options()))
        except nvrtc.NVRTCError as e:
            pytest.fail(
                f"{source} ({dtype}) does not compile:\n{nvrtc.getProgramLog(prog)}\n{e}"
            )
        for name in names:  # every template instantiation exists
            assert nvrtc.getLoweredName(prog, name)
        return (
            nvrtc.getPTX(prog).decode()
            if isinstance(nvrtc.getPTX(prog), bytes)
            else nvrtc.getPTX(prog)
        )
    finally:
        nvrtc.destroyProgram(prog)


def test_headers_found():
    assert cuda.cuda_include_dirs(), (
        "cuda_bf16.h not found: pip install nvidia-cuda-runtime-cu12"
    )


@pytest.mark.parametrize("dtype", list(C_TYPE))
@pytest.mark.parametrize("source", sorted(cuda.SOURCES))
def test_source_compiles(source, dtype):
    ptx = compile_ptx(source, dtype)
    assert ptx.count(".entry") == len(cuda.source_signatures(source))  # every kernel
    if source == "routing.cu":
        assert "unpack_items" in ptx  # the extern "C" kernel keeps its name


def test_every_cu_file_is_listed():
    assert sorted(p.name for p in cuda.HERE.glob("*.cu")) == sorted(cuda.SOURCES)


def test_headers_are_pasted_in():
    for source in cuda.SOURCES:
        text = cuda.source_text(source)
        assert '#include "' not in text and "FOR_PIXELS" in text
