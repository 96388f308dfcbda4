"""The CUDA kernel paths against the PyTorch reference, forward and backward (needs a GPU).

Errors are relative (norm of the difference over norm of the float64 reference): at most 1e-5
in float32 and 1e-2 in bfloat16. TF32 is off, so that float32 means float32.
"""
import pytest
import torch

from condcomp_lib.ops import per_sample_conv2d, routed_conv2d, routed_linear


def _gpu_ready() -> bool:
    try:
        import cupy
        return torch.cuda.is_available() and cupy.cuda.is_available()
    except Exception:
        return False


pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not _gpu_ready(), reason="needs a CUDA GPU and CuPy")]
TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2, torch.float64: 1e-12}


@pytest.fixture(autouse=True)
def no_tf32():
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def rel_err(a, ref):
    a, ref = a.double(), ref.double()
    return ((a - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def compare(op, tensors, masks, dtype, **kw):
    """Run op on the GPU kernel path in ``dtype`` and on the CPU reference in float64."""
    leaves_k = [t.to("cuda", dtype).requires_grad_() for t in tensors]
    leaves_r = [t.double().requires_grad_() for t in tensors]
    route = [m for m in masks[:1] if m is not None]           # per_sample_conv2d has none
    y_k = op(*leaves_k, *[m.cuda() for m in route],
             **{k: (v.cuda() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()},
             backend="kernel")
    y_r = op(*leaves_r, *route, **kw, backend="reference")
    go = torch.randn_like(y_r)
    g_k = torch.autograd.grad(y_k, leaves_k, go.to("cuda", dtype))
    g_r = torch.autograd.grad(y_r, leaves_r, go)
    assert rel_err(y_k.cpu(), y_r) <= TOL[dtype]
    for name, a, e in zip(("x", "weight", "bias"), g_k, g_r):
        assert rel_err(a.cpu(), e) <= TOL[dtype], name
    if masks[0] is not None and masks[0].dim() == 2 and not masks[0].all():
        off = ~masks[0].cuda().repeat_interleave(y_k.shape[1] // masks[0].shape[1], 1)
        assert (y_k[off] == 0).all()   # exact zeros where the route is off


CONV_CASES = [  # B, C_in, C_out, H, W, k, stride, padding, G, G_in, tiles
    (1, 8, 8, 9, 9, 3, 1, 1, 2, None, None),
    (6, 16, 32, 14, 14, 3, 1, 1, 4, None, None),
    (5, 12, 12, 11, 13, 3, 2, 0, 3, 3, None),
    (4, 8, 16, 12, 12, 3, 1, 1, 2, 2, (3, 4)),
    (3, 8, 8, 16, 16, 3, 2, 1, 4, None, (2, 2)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("case", CONV_CASES)
def test_routed_conv2d_kernel_matches_reference(case, dtype):
    b, ci, co, h, w, k, s, p, g, gi, tiles = case
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    shape = (b, g) if tiles is None else (b, g, ho // tiles[0], wo // tiles[1])
    route = torch.rand(shape) < 0.5
    in_route = None if gi is None else torch.rand(b, gi) < 0.6
    tensors = [torch.randn(b, ci, h, w), torch.randn(co, ci, k, k), torch.randn(co)]
    compare(routed_conv2d, tensors, [route], dtype, in_route=in_route, stride=s, padding=p)


@pytest.mark.parametrize("fill", [False, True])
def test_nothing_and_everything_on_the_gpu(fill):
    tensors = [torch.randn(3, 8, 7, 7), torch.randn(8, 8, 3, 3), torch.randn(8)]
    compare(routed_conv2d, tensors, [torch.full((3, 4), fill)], torch.float32, padding=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("with_in_route", [False, True])
def test_routed_linear_kernel_matches_reference(dtype, with_in_route):
    route = torch.rand(9, 4) < 0.5
    in_route = torch.rand(9, 2) < 0.6 if with_in_route else None
    compare(routed_linear, [torch.randn(9, 16), torch.randn(12, 16), torch.randn(12)], [route],
            dtype, in_route=in_route)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("shape", [(1, 4, 6, 7, 7, 3, 1, 1), (5, 8, 8, 10, 9, 3, 2, 1)])
def test_per_sample_kernel_matches_reference(shape, dtype):
    b, ci, co, h, w, k, s, p = shape
    tensors = [torch.randn(b, ci, h, w), torch.randn(b, co, ci, k, k), torch.randn(b, co)]
    compare(per_sample_conv2d, tensors, [None], dtype, stride=s, padding=p)


def test_gradcheck_float64_on_the_kernels():
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, device="cuda", requires_grad=True)
    w = torch.randn(4, 4, 3, 3, dtype=torch.float64, device="cuda", requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, device="cuda", requires_grad=True)
    route = torch.tensor([[1, 0], [1, 1]], dtype=torch.bool, device="cuda")
    tiles = torch.rand(2, 2, 5, 1, device="cuda") < 0.5
    assert torch.autograd.gradcheck(
        lambda a, c, d: routed_conv2d(a, c, d, route, padding=1, backend="kernel"), (x, w, bias))
    assert torch.autograd.gradcheck(
        lambda a, c, d: routed_conv2d(a, c, d, tiles, padding=1, backend="kernel"), (x, w, bias))
    wp = torch.randn(2, 3, 4, 3, 3, dtype=torch.float64, device="cuda", requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, c: per_sample_conv2d(a, c, padding=1, backend="kernel"), (x, wp))
