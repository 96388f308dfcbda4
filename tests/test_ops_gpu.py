"""The CUDA kernel paths against the PyTorch reference, forward and backward (needs a
GPU).

Errors are relative (norm of the difference over norm of the float64 reference): at most
1e-5 in float32 and 1e-2 in bfloat16 (op_compare.TOL). TF32 is off, so that float32 means
float32. The same kernels also run on the CPU in every CI run (test_ops_kernels_cpu.py);
what only a GPU shows is here: the real launches, streams, host synchronisation, autocast
on CUDA, determinism under parallel execution, and sizes too large for the CPU build."""

import pytest
import torch

from op_compare import assert_exact_zeros, compare, rel_err
from condcomp_lib.ops import per_sample_conv2d, routed_conv2d, routed_linear, routed_plan
from condcomp_lib.ops import use_kernels


def _gpu_ready() -> bool:
    try:
        import cupy

        return torch.cuda.is_available() and cupy.cuda.is_available()
    except Exception:
        return False


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _gpu_ready(), reason="needs a CUDA GPU and CuPy"),
]


@pytest.fixture(autouse=True)
def no_tf32():
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def check(op, tensors, route, dtype, requires=(True,) * 3, **kw):
    """The GPU kernel path against the CPU reference; exact zeros where the route is
    off."""
    args = () if route is None else (route,)
    y = compare(op, tensors, dtype, args=args, device="cuda", requires=requires, **kw)
    if route is not None:
        assert_exact_zeros(y, route)
    return y


CONV_CASES = [  # B, C_in, C_out, H, W, k, stride, padding, G, G_in, tiles
    (1, 8, 8, 9, 9, 3, 1, 1, 2, None, None),
    (6, 16, 32, 14, 14, 3, 1, 1, 4, None, None),
    (5, 12, 12, 11, 13, 3, 2, 0, 3, 3, None),
    (4, 8, 16, 12, 12, 3, 1, 1, 2, 2, (3, 4)),
    (3, 8, 8, 16, 16, 3, 2, 1, 4, None, (2, 2)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
@pytest.mark.parametrize("case", CONV_CASES)
def test_routed_conv2d_kernel_matches_reference(case, dtype):
    b, ci, co, h, w, k, s, p, g, gi, tiles = case
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    shape = (b, g) if tiles is None else (b, g, ho // tiles[0], wo // tiles[1])
    route = torch.rand(shape) < 0.5
    in_route = None if gi is None else torch.rand(b, gi) < 0.6
    tensors = [torch.randn(b, ci, h, w), torch.randn(co, ci, k, k), torch.randn(co)]
    check(routed_conv2d, tensors, route, dtype, in_route=in_route, stride=s, padding=p)


@pytest.mark.parametrize("fill", [False, True])
def test_nothing_and_everything_on_the_gpu(fill):
    tensors = [torch.randn(3, 8, 7, 7), torch.randn(8, 8, 3, 3), torch.randn(8)]
    check(routed_conv2d, tensors, torch.full((3, 4), fill), torch.float32, padding=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("with_in_route", [False, True])
def test_routed_linear_kernel_matches_reference(dtype, with_in_route):
    route = torch.rand(9, 4) < 0.5
    in_route = torch.rand(9, 2) < 0.6 if with_in_route else None
    check(
        routed_linear,
        [torch.randn(9, 16), torch.randn(12, 16), torch.randn(12)],
        route,
        dtype,
        in_route=in_route,
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
@pytest.mark.parametrize("shape", [(1, 4, 6, 7, 7, 3, 1, 1), (5, 8, 8, 10, 9, 3, 2, 1)])
def test_per_sample_kernel_matches_reference(shape, dtype):
    b, ci, co, h, w, k, s, p = shape
    tensors = [torch.randn(b, ci, h, w), torch.randn(b, co, ci, k, k), torch.randn(b, co)]
    check(per_sample_conv2d, tensors, None, dtype, stride=s, padding=p)


def test_gradcheck_float64_on_the_kernels():
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, device="cuda", requires_grad=True)
    w = torch.randn(4, 4, 3, 3, dtype=torch.float64, device="cuda", requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, device="cuda", requires_grad=True)
    route = torch.tensor([[1, 0], [1, 1]], dtype=torch.bool, device="cuda")
    tiles = torch.rand(2, 2, 5, 1, device="cuda") < 0.5
    assert torch.autograd.gradcheck(
        lambda a, c, d: routed_conv2d(a, c, d, route, padding=1, backend="kernel"),
        (x, w, bias),
    )
    assert torch.autograd.gradcheck(
        lambda a, c, d: routed_conv2d(a, c, d, tiles, padding=1, backend="kernel"),
        (x, w, bias),
    )
    wp = torch.randn(
        2, 3, 4, 3, 3, dtype=torch.float64, device="cuda", requires_grad=True
    )
    assert torch.autograd.gradcheck(
        lambda a, c: per_sample_conv2d(a, c, padding=1, backend="kernel"), (x, wp)
    )


# ------------------------------------------------------------------ what the review asked
# for


def tiled_case(b=4, c_in=8, c_out=16, hw=12, g=2, tiles=(3, 4), frac=0.5):
    route = torch.rand(b, g, *tiles) < frac
    return [
        torch.randn(b, c_in, hw, hw),
        torch.randn(c_out, c_in, 3, 3),
        torch.randn(c_out),
    ], route


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_tiled_exact_zeros_without_bias(dtype):
    tensors, route = tiled_case()
    tensors[2] = None
    in_route = torch.rand(4, 2) < 0.6
    check(
        routed_conv2d,
        tensors,
        route,
        dtype,
        requires=(True, True, False),
        in_route=in_route,
        padding=1,
    )


@pytest.mark.parametrize(
    "requires",
    [
        (True, False, False),
        (False, True, False),
        (False, False, True),
        (True, False, True),
    ],
)
def test_partial_gradients(requires):
    tensors, route = tiled_case()
    check(routed_conv2d, tensors, route, torch.float32, requires=requires, padding=1)


def test_a_non_default_stream():
    tensors, route = tiled_case()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        check(routed_conv2d, tensors, route, torch.float32, padding=1)
    torch.cuda.current_stream().wait_stream(stream)
    stream.synchronize()


@pytest.mark.parametrize("tiles", [None, (4, 4)])
def test_one_large_shape(tiles):
    """[64, 128, 28, 28] -> 256 channels, G = 4, a quarter on: the kernels at a real size,
    against the reference in float64 on the GPU."""
    torch.manual_seed(0)
    x = torch.randn(64, 128, 28, 28, device="cuda")
    w = torch.randn(256, 128, 3, 3, device="cuda") / 34
    b = torch.randn(256, device="cuda")
    route = torch.rand(64, 4, *(tiles or ()), device="cuda") < 0.25
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    y = routed_conv2d(*leaves, route, padding=1, backend="kernel")
    ref = [t.double().requires_grad_() for t in (x, w, b)]
    y_r = routed_conv2d(*ref, route, padding=1, backend="reference")
    go = torch.randn_like(y)
    assert rel_err(y, y_r) <= 1e-5
    assert_exact_zeros(y, route)
    for a, e in zip(
        torch.autograd.grad(y, leaves, go), torch.autograd.grad(y_r, ref, go.double())
    ):
        assert rel_err(a, e) <= 1e-5


def test_float16_is_refused_by_the_kernel_and_falls_back_in_auto():
    x, w, b = (
        torch.randn(2, 4, 6, 6, device="cuda").half(),
        torch.randn(4, 4, 3, 3, device="cuda").half(),
        None,
    )
    route = torch.tensor([[True, False], [True, True]], device="cuda")
    with pytest.raises(TypeError, match="has no float16 kernel"):
        routed_conv2d(x, w, b, route, padding=1, backend="kernel")
    use_kernels(True)
    try:
        y = routed_conv2d(x, w, b, route, padding=1)
    finally:
        use_kernels(False)
    torch.testing.assert_close(
        y, routed_conv2d(x, w, b, route, padding=1, backend="reference")
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_autocast_on_the_gpu(dtype):
    """bfloat16 autocast runs the kernels in bfloat16; float16 autocast falls back in
    auto."""
    tensors, route = tiled_case()
    x, w, b = [t.cuda().requires_grad_() for t in tensors]
    use_kernels(True)
    try:
        with torch.autocast("cuda", dtype=dtype):
            y = routed_conv2d(x, w, b, route.cuda(), padding=1)
    finally:
        use_kernels(False)
    assert y.dtype == dtype
    rounded = [t.detach().to(dtype).double().cpu() for t in (x, w, b)]
    assert rel_err(y.cpu(), routed_conv2d(*rounded, route, padding=1)) <= 1e-2
    y.float().sum().backward()
    assert x.grad.dtype == torch.float32


def test_tiled_backward_is_deterministic():
    tensors, route = tiled_case(b=8, frac=0.7)
    torch.use_deterministic_algorithms(True)
    try:
        grads = []
        for _ in range(3):
            leaves = [t.cuda().requires_grad_() for t in tensors]
            y = routed_conv2d(
                *leaves, route.cuda(), stride=1, padding=1, backend="kernel"
            )
            grads.append(torch.autograd.grad(y.square().sum(), leaves))
    finally:
        torch.use_deterministic_algorithms(False)
    for run in grads[1:]:
        assert all(torch.equal(a, e) for a, e in zip(run, grads[0]))


def test_one_sync_in_forward_none_in_backward(monkeypatch):
    calls = []
    sync = routed_plan.to_host
    monkeypatch.setattr(routed_plan, "to_host", lambda t: calls.append(1) or sync(t))
    tensors, route = tiled_case()
    leaves = [t.cuda().requires_grad_() for t in tensors]
    y = routed_conv2d(
        *leaves,
        route.cuda(),
        in_route=(torch.rand(4, 2) < 0.6).cuda(),
        padding=1,
        backend="kernel",
    )
    assert len(calls) == 1
    torch.cuda.set_sync_debug_mode("error")
    try:
        y.backward(torch.ones_like(y))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(calls) == 1
