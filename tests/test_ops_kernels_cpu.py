"""The CUDA kernels, compiled as C++ and run on the CPU, against the references: no GPU
needed.

``kernels_on_cpu`` builds ``routing.cu`` and ``per_sample.cu`` with a shim header and
stands in for ``cuda.kernel``; everything else is the library's own kernel path (the plan,
the glue, the launch checks, the autograd function). Each case runs forward and backward
in float64, float32 and bfloat16 and is compared with the reference in float64 on the same
(rounded) inputs. Uninitialised memory is filled with NaN (deterministic mode), so an
output element that no kernel writes fails the comparison too.

Errors are relative (norm of the difference over norm of the reference; see op_compare).
"""

import re
import zlib
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F

import kernels_on_cpu
from op_compare import TOL, assert_exact_zeros, compare, rel_err
from condcomp_lib.ops import (
    cuda,
    per_sample,
    per_sample_conv2d,
    routed,
    routed_conv2d,
    routed_kernel,
    routed_plan,
)
from condcomp_lib.ops.checks import conv_geometry

DTYPES = list(TOL)


@pytest.fixture(scope="module")
def built():
    if kernels_on_cpu.compiler() is None:
        pytest.skip("no C++ compiler to build the kernels for the CPU")
    try:
        for source in cuda.SOURCES:
            kernels_on_cpu.library(source)
    except kernels_on_cpu.BuildError as e:
        pytest.fail(str(e))


@contextmanager
def nan_for_uninitialised():
    """Deterministic mode: torch.empty is filled with NaN, and nondeterministic ops
    raise."""
    old = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old)


@pytest.fixture
def on_cpu(built, monkeypatch):
    """backend="kernel" runs the CPU build; backend="reference" stays the reference."""
    monkeypatch.setattr(cuda, "kernel", kernels_on_cpu.kernel)
    for module in (routed, per_sample):
        monkeypatch.setattr(module, "choose", lambda backend, x, *a, **k: backend)
    with nan_for_uninitialised():
        yield


def in_route_of(kind, b, g_in):
    if kind is None:
        return None
    if kind == "trellis":  # one input group per sample
        return F.one_hot(torch.randint(0, g_in, (b,)), g_in).bool()
    r = torch.rand(b, g_in) < 0.5
    r[0] = False  # a sample that reads nothing: bias only
    return r


# name: B, C_in, C_out, H, W, k, stride, padding, G, (G_in, kind), tile, extra
CONV_CASES = {
    "batch 1": (1, 3, 4, 7, 7, 3, 1, 1, 2, None, None, {}),
    "a group on for no sample": (
        5,
        4,
        8,
        6,
        6,
        3,
        1,
        1,
        4,
        None,
        None,
        {"group0": False},
    ),
    "all off": (3, 4, 6, 8, 8, 3, 1, 1, 2, None, None, {"fill": False}),
    "all on": (3, 4, 6, 8, 8, 3, 1, 1, 2, None, None, {"fill": True}),
    "stride 2, odd sizes": (4, 5, 6, 11, 9, 3, 2, 0, 3, None, None, {}),
    "1x1 kernel": (6, 5, 9, 8, 7, 1, 1, 0, 3, None, None, {}),
    "trellis in_route": (5, 6, 8, 9, 11, 3, 1, 1, 4, (3, "trellis"), None, {}),
    "random in_route, stride 2": (6, 8, 8, 9, 9, 3, 2, 1, 2, (4, "random"), None, {}),
    "many patterns: pair path": (24, 8, 4, 5, 5, 3, 1, 1, 2, (4, "random"), None, {}),
    "tiles": (3, 4, 6, 12, 12, 3, 1, 1, 3, None, (3, 4), {}),
    "in_route with tiles": (4, 4, 6, 12, 12, 3, 1, 1, 3, (2, "random"), (3, 4), {}),
    "tiles, stride 2": (3, 8, 8, 16, 16, 3, 2, 1, 4, None, (2, 2), {}),
    "1x1 tiles": (2, 4, 4, 6, 6, 3, 1, 1, 2, None, (1, 1), {}),
    "5x5 kernel, tiles, odd": (2, 3, 4, 9, 6, 5, 1, 2, 4, None, (3, 2), {}),
    "tiles all off": (2, 4, 4, 6, 6, 3, 1, 1, 2, None, (2, 3), {"fill": False}),
    "bias=None": (3, 4, 4, 6, 6, 3, 1, 1, 2, (2, "random"), (2, 2), {"bias": False}),
    "channels_last": (4, 6, 8, 9, 9, 3, 1, 1, 4, None, None, {"channels_last": True}),
}


def conv_case(name):
    b, ci, co, h, w, k, s, p, g, gin, tile, extra = CONV_CASES[name]
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    shape = (b, g) if tile is None else (b, g, ho // tile[0], wo // tile[1])
    route = (
        torch.rand(shape) < 0.5
        if "fill" not in extra
        else torch.full(shape, extra["fill"])
    )
    if "group0" in extra:
        route[:, 0] = False
    in_route = None if gin is None else in_route_of(gin[1], b, gin[0])
    x = torch.randn(b, ci, h, w)
    if extra.get("channels_last"):
        x = x.contiguous(memory_format=torch.channels_last)
    tensors = [
        x,
        torch.randn(co, ci, k, k),
        torch.randn(co) if extra.get("bias", True) else None,
    ]
    return tensors, route, dict(in_route=in_route, stride=s, padding=p)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("name", list(CONV_CASES))
def test_routed_conv2d_kernels_match_the_reference(on_cpu, name, dtype):
    torch.manual_seed(zlib.crc32(name.encode()))
    tensors, route, kw = conv_case(name)
    y = compare(
        routed_conv2d,
        tensors,
        dtype,
        args=(route,),
        requires=[t is not None for t in tensors],
        **kw,
    )
    assert_exact_zeros(y, route)  # exact zeros where the route is off


@pytest.mark.parametrize(
    "requires",
    [
        (True, False, False),
        (False, True, False),
        (False, False, True),
        (True, False, True),
    ],
)
def test_partial_gradients(on_cpu, requires):
    torch.manual_seed(1)
    tensors, route, kw = conv_case("in_route with tiles")
    compare(routed_conv2d, tensors, torch.float32, args=(route,), requires=requires, **kw)


PER_SAMPLE_CASES = {  # B, C_in, C_out, H, W, k, stride, padding, bias, channels_last
    "batch 1": (1, 4, 6, 7, 7, 3, 1, 1, True, False),
    "stride 2, odd sizes": (5, 8, 8, 10, 9, 3, 2, 1, True, False),
    "1x1 kernel": (2, 3, 4, 6, 6, 1, 1, 0, True, False),
    "5x5 kernel, stride 2": (2, 4, 4, 7, 9, 5, 2, 2, False, False),
    "stride 3, no padding": (2, 3, 3, 8, 8, 3, 3, 0, True, True),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("name", list(PER_SAMPLE_CASES))
def test_per_sample_kernels_match_the_reference(on_cpu, name, dtype):
    torch.manual_seed(2)
    b, ci, co, h, w, k, s, p, with_bias, channels_last = PER_SAMPLE_CASES[name]
    x = torch.randn(b, ci, h, w)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    tensors = [x, torch.randn(b, co, ci, k, k), torch.randn(b, co) if with_bias else None]
    compare(
        per_sample_conv2d,
        tensors,
        dtype,
        requires=[t is not None for t in tensors],
        stride=s,
        padding=p,
    )


def test_one_host_sync_per_forward_and_none_in_backward(on_cpu, monkeypatch):
    calls = {"sync": 0, "plan": 0}
    sync, make = routed_plan.to_host, routed_plan.make

    def counted_sync(t):
        calls["sync"] += 1
        return sync(t)

    def counted_make(*a, **k):
        calls["plan"] += 1
        return make(*a, **k)

    monkeypatch.setattr(routed_plan, "to_host", counted_sync)
    monkeypatch.setattr(routed_plan, "make", counted_make)
    tensors, route, kw = conv_case("in_route with tiles")
    x, w, b = [t.requires_grad_() for t in tensors]
    y = routed_conv2d(x, w, b, route, backend="kernel", **kw)
    assert calls == {"sync": 1, "plan": 1}
    y.sum().backward()
    assert calls == {"sync": 1, "plan": 1}  # backward reused the forward's plan
    assert x.grad.abs().sum() > 0


def geometry(tensors, route, kw):
    return conv_geometry(
        *tensors, route, kw["in_route"], kw["stride"], kw["padding"], None
    )


@pytest.mark.parametrize(
    "name, pairs", [("trellis in_route", False), ("many patterns: pair path", True)]
)
def test_units_merge_input_groups_as_the_reference_does(on_cpu, name, pairs):
    """One unit per (output group, input pattern), so each output is written once; past
    G_in * G units the work is cut by pairs, added after a bias fill of every active item.
    """
    torch.manual_seed(3)
    tensors, route, kw = conv_case(name)
    g = geometry(tensors, route, kw)
    plan = routed_plan.make(route, kw["in_route"], g, torch.float32)
    assert plan.units and all(u.accumulate == pairs for u in plan.units)
    assert len(plan.units) <= g.in_groups * g.groups
    n_on, n_all = int(route.sum()), route.numel()
    filled = sum(len(f.items) for f in plan.fills)
    if pairs:  # off items, then every on item gets the bias
        assert filled == n_all and any(
            len(f.items) == n_on and f.with_bias for f in plan.fills
        )
    else:  # every item exactly once: a unit or a fill
        assert filled + sum(len(u.items) for u in plan.units) == n_all
        items = torch.cat([u.items for u in plan.units] + [f.items for f in plan.fills])
        assert len(torch.unique(items[:, :2], dim=0)) == n_all  # (b, j), one tile each


def test_launch_check_catches_autocast_half_precision(on_cpu):
    """Without the op's autocast handling, the convolution inside returns bfloat16 while y
    is float32: the launch of the float kernel must refuse the buffer, not read past its
    end."""
    tensors, route, kw = conv_case("tiles")
    g = geometry(tensors, route, kw)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(TypeError, match=r"tiles_in must have dtype torch.float32"):
            routed_kernel.forward(*tensors, route, None, g)


def test_autocast_runs_the_kernels_in_the_autocast_dtype(on_cpu):
    tensors, route, kw = conv_case("in_route with tiles")
    x, w, b = [t.requires_grad_() for t in tensors]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = routed_conv2d(x, w, b, route, backend="kernel", **kw)
    assert y.dtype == torch.bfloat16
    rounded = [t.detach().bfloat16().double() for t in (x, w, b)]
    y_ref = routed_conv2d(*rounded, route, backend="reference", **kw)
    assert rel_err(y, y_ref) <= TOL[torch.bfloat16]
    y.float().sum().backward()
    assert x.grad.dtype == w.grad.dtype == torch.float32  # back through the casts


def test_tiled_backward_is_deterministic(on_cpu):
    """Halos overlap, yet the gradient is bitwise the same run after run (no atomics:
    patch gradients go to their own slots and F.fold sums them)."""
    for source in cuda.SOURCES:
        assert not re.search(r"\batomic\w*\s*\(", cuda.source_text(source))
    tensors, route, kw = conv_case("tiles, stride 2")
    grads = []
    for _ in range(2):
        x, w, b = [t.clone().requires_grad_() for t in tensors]
        routed_conv2d(x, w, b, route, backend="kernel", **kw).square().sum().backward()
        grads.append((x.grad, w.grad, b.grad))
    for a, e in zip(*grads):
        assert torch.equal(a, e)


def test_a_broken_kernel_fails_these_tests(built, monkeypatch):
    """The harness catches an indexing error: swap a tile's row and column in
    scatter_tiles."""
    text = cuda.source_text("routing.cu")
    body = text[text.index("__global__ void scatter_tiles") :]
    body = body[: body.index("\n}\n")]
    broken = text.replace(body, body.replace("item[2] * th", "item[3] * th", 1))
    assert broken != text
    original = cuda.source_text
    monkeypatch.setattr(
        cuda,
        "source_text",
        lambda source: broken if source == "routing.cu" else original(source),
    )
    kernels_on_cpu.library.cache_clear()
    kernels_on_cpu.kernel.cache_clear()
    monkeypatch.setattr(cuda, "kernel", kernels_on_cpu.kernel)
    monkeypatch.setattr(routed, "choose", lambda backend, x, *a, **k: backend)
    try:
        torch.manual_seed(4)
        tensors, route, kw = conv_case("tiles")
        y_k = routed_conv2d(*tensors, route, backend="kernel", **kw)
        y_r = routed_conv2d(*tensors, route, backend="reference", **kw)
        assert rel_err(y_k, y_r) > 1e-3
    finally:
        kernels_on_cpu.library.cache_clear()
        kernels_on_cpu.kernel.cache_clear()


def test_input_patterns_past_the_int64_codes(on_cpu, monkeypatch):
    """Past 62 input groups the patterns are found by torch.unique instead of bit
    codes."""
    monkeypatch.setattr(routed_plan, "MAX_CODE_GROUPS", 1)
    torch.manual_seed(5)
    for name in ("random in_route, stride 2", "many patterns: pair path"):
        tensors, route, kw = conv_case(name)
        compare(routed_conv2d, tensors, torch.float64, args=(route,), **kw)
