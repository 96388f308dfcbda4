"""The kernel path's safety rules, as plain functions, tested without a GPU.

* which path runs (``backend.decide``): float16 has no kernel, so "auto" falls back to the
  reference and "kernel" is a clear error, never a TypeError deep in a launch;
* every launch checks its arguments against the kernel's own signature
  (``kernel_args.prepare``), so a half-precision buffer cannot reach a float kernel;
* under autocast an op casts its inputs once and runs in that one dtype (``autocast``).
"""

import pytest
import torch
import torch.nn.functional as F

from condcomp_lib.ops import cuda, per_sample_conv2d, routed_conv2d, routed_linear
from condcomp_lib.ops.autocast import autocast_dtype, cast_inputs
from condcomp_lib.ops.backend import decide
from condcomp_lib.ops.kernel_args import KERNEL_DTYPES, acc_dtype, prepare, signatures

CUDA, CPU = torch.device("cuda", 0), torch.device("cpu")


def rule(backend, device=CUDA, dtype=torch.float32, enabled=True, cupy=None, **kw):
    return decide(
        backend, device=device, dtype=dtype, enabled=enabled, cupy_reason=cupy, **kw
    )


@pytest.mark.parametrize(
    "args, want",
    [
        (("auto",), "kernel"),
        (("auto", CUDA, torch.bfloat16), "kernel"),
        (("auto", CUDA, torch.float16), "reference"),  # no float16 kernel: fall back
        (
            ("auto", CUDA, torch.float32, False),
            "reference",
        ),  # kernels switched off (default)
        (("auto", CPU), "reference"),
        (("auto", CUDA, torch.float32, True, "CuPy does not import"), "reference"),
        (("reference",), "reference"),
        (("kernel",), "kernel"),
        (("kernel", CUDA, torch.float64, False), "kernel"),  # forcing ignores the switch
    ],
)
def test_dispatch_rule(args, want):
    assert rule(*args) == want


@pytest.mark.parametrize(
    "args, error, words",
    [
        (
            ("kernel", CUDA, torch.float16),
            TypeError,
            "backend='kernel' has no float16 kernel",
        ),
        (("kernel", CPU), ValueError, "needs CUDA tensors, but x is on cpu"),
        (
            ("kernel", CUDA, torch.float32, True, "CuPy sees no CUDA device"),
            RuntimeError,
            "cannot run: CuPy sees no CUDA device",
        ),
        (("gpu",), ValueError, "backend must be one of"),
    ],
)
def test_dispatch_rule_errors(args, error, words):
    with pytest.raises(error, match=words):
        rule(*args)


def test_an_op_without_cupy_kernels_runs_any_dtype_on_the_gpu():
    """routed_linear's GPU path is GEMMs: float16 and a missing CuPy do not matter."""
    assert (
        rule("kernel", CUDA, torch.float16, cupy="no CuPy", kernel_dtypes=None)
        == "kernel"
    )
    assert rule("auto", CUDA, torch.float16, kernel_dtypes=None) == "kernel"


def test_float16_on_the_cpu_runs_the_reference():
    x, w = torch.randn(2, 4, 6, 6).half(), torch.randn(4, 4, 3, 3).half()
    route = torch.tensor([[True, False], [True, True]])
    y = routed_conv2d(x, w, None, route, padding=1)
    assert y.dtype == torch.float16
    assert (y[0, 2:] == 0).all()


# ------------------------------------------------------------------ launch checks

SIG = signatures("""
template <typename T>
__global__ void k(const T* x, const int* items, int n, const T* bias_or_null,
                  typename Acc<T>::type* acc, long long big)
{ }
""")["k"]


def launch_args(**kw):
    args = dict(
        x=torch.zeros(4),
        items=torch.zeros(2, 4, dtype=torch.int32),
        n=2,
        bias_or_null=None,
        acc=torch.zeros(3),
        big=2**40,
    )
    args.update(kw)
    return list(args.values())


def test_signature_parsing():
    assert SIG.template and [p.name for p in SIG.params] == [
        "x",
        "items",
        "n",
        "bias_or_null",
        "acc",
        "big",
    ]
    assert [p.pointer for p in SIG.params] == [True, True, False, True, True, False]
    assert SIG.params[3].optional and not SIG.params[0].optional
    with pytest.raises(ValueError, match="a type the launch glue does not know"):
        signatures('extern "C" __global__ void k(float* x) { }')


def test_every_kernel_parameter_is_understood():
    for source in cuda.SOURCES:
        sigs = cuda.source_signatures(source)
        assert sigs and all(s.params for s in sigs.values())


def test_prepare_turns_tensors_into_pointers():
    args = launch_args()
    raw = prepare(SIG, torch.float32, CPU, args)
    assert raw == [
        args[0].data_ptr(),
        args[1].data_ptr(),
        2,
        0,
        args[4].data_ptr(),
        2**40,
    ]


@pytest.mark.parametrize(
    "kw, dtype, error, words",
    [
        (
            dict(x=torch.zeros(4, dtype=torch.bfloat16)),
            torch.float32,
            TypeError,
            r"kernel k<float>: x must have dtype torch.float32 \(the kernel is compiled "
            r"for "
            r"torch.float32\), got torch.bfloat16",
        ),
        (
            dict(x=torch.zeros(4).half()),
            torch.float32,
            TypeError,
            "x must have dtype torch.float32",
        ),
        (
            dict(acc=torch.zeros(3, dtype=torch.bfloat16)),
            torch.bfloat16,
            TypeError,
            "acc must have dtype torch.float32",
        ),  # bfloat16 kernels sum in float32
        (
            dict(items=torch.zeros(2, 4, dtype=torch.int64)),
            torch.float32,
            TypeError,
            "items must have dtype torch.int32",
        ),
        (dict(x=None), torch.float32, TypeError, "x must be a tensor"),
        (
            dict(n=2**31),
            torch.float32,
            ValueError,
            "does not fit the kernel's 32-bit int",
        ),
        (dict(n=2.0), torch.float32, TypeError, "n must be a Python int"),
        (dict(x=torch.zeros(4, 2).T), torch.float32, ValueError, "x must be contiguous"),
        (
            dict(x=torch.zeros(4, device="meta")),
            torch.float32,
            ValueError,
            "x is on meta",
        ),
    ],
)
def test_prepare_refuses_what_the_kernel_would_misread(kw, dtype, error, words):
    args = launch_args(**kw)
    if dtype == torch.bfloat16:
        args[0] = args[0].bfloat16() if args[0] is not None else None
    with pytest.raises(error, match=words):
        prepare(SIG, dtype, CPU, args)


def test_prepare_counts_arguments():
    with pytest.raises(TypeError, match="takes 6 arguments, got 5"):
        prepare(SIG, torch.float32, CPU, launch_args()[:5])


def test_kernel_dtypes_and_accumulation():
    assert torch.float16 not in KERNEL_DTYPES
    assert (
        acc_dtype(torch.bfloat16) == torch.float32
        and acc_dtype(torch.float64) == torch.float64
    )


@pytest.mark.parametrize(
    "grid, block, words",
    [
        ((0, 1, 1), (32, 1, 1), "positive"),  # CuPy would run one block over no items
        ((4, 70000, 1), (32, 1, 1), "grid"),
        ((4, 1, 1), (32, 32, 2), "block"),
    ],
)
def test_launch_shapes_within_cuda_limits(grid, block, words):
    with pytest.raises(ValueError, match=words):
        cuda.check_shape(grid, block)


def test_plane_shape_packs_small_planes():
    grid, block = cuda.plane_shape(10, 64, 3, 3)
    assert grid[0] == 10 and block[0] * block[1] == 9 and block[2] > 1
    assert grid[1] * block[2] >= 64 and block[0] * block[1] * block[2] <= 256
    grid, block = cuda.plane_shape(2, 100000, 28, 28)
    assert grid[1] <= 65535 and block == (28, 9, 1)


# ------------------------------------------------------------------ autocast


def test_cast_inputs_follows_autocast():
    x, w64 = torch.randn(2, 3), torch.randn(3, dtype=torch.float64)
    assert autocast_dtype("cpu") is None and cast_inputs("cpu", x, None) == (x, None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert autocast_dtype("cpu") == torch.bfloat16
        cx, cn, cw = cast_inputs("cpu", x, None, w64)
    assert cx.dtype == torch.bfloat16 and cn is None and cw.dtype == torch.float64


@pytest.mark.parametrize("op", ["conv", "linear", "per_sample"])
def test_ops_under_autocast_run_in_the_autocast_dtype(op):
    """Each op behaves like F.conv2d / F.linear under autocast: one dtype inside,
    gradients back to float32 through the casts."""
    torch.manual_seed(0)
    if op == "conv":
        x, w, b = torch.randn(3, 4, 6, 6), torch.randn(6, 4, 3, 3), torch.randn(6)
        route = torch.rand(3, 3, 2, 2) < 0.5

        def run(*t):
            return routed_conv2d(*t, route, padding=1)

        def dense(x, w, b):
            return F.conv2d(x, w, b, padding=1) * route.repeat_interleave(
                2, 1
            ).repeat_interleave(3, 2).repeat_interleave(3, 3)
    elif op == "linear":
        x, w, b = torch.randn(5, 8), torch.randn(6, 8), torch.randn(6)
        route = torch.rand(5, 3) < 0.5

        def run(*t):
            return routed_linear(*t, route)

        def dense(x, w, b):
            return F.linear(x, w, b) * route.repeat_interleave(2, 1)
    else:
        x, w, b = torch.randn(2, 3, 5, 5), torch.randn(2, 4, 3, 3, 3), torch.randn(2, 4)
        run = dense = lambda x, w, b: per_sample_conv2d(x, w, b, padding=1)
    leaves = [t.requires_grad_() for t in (x, w, b)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = run(*leaves)
    assert y.dtype == torch.bfloat16
    want = dense(*[t.detach().bfloat16().double() for t in leaves])
    assert ((y.double() - want).norm() / want.norm()) < 1e-2
    y.float().sum().backward()
    assert all(t.grad is not None and t.grad.dtype == torch.float32 for t in leaves)
