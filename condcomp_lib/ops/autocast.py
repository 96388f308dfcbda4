"""The routed ops under ``torch.autocast``: inputs cast once at the door, autocast off
inside.

Used by every op of ``condcomp_lib.ops``. Under autocast, ``F.conv2d`` and ``F.linear``
run in the autocast dtype (float16 or bfloat16). An op built from several PyTorch calls
cannot let autocast cast each call on its own: a convolution inside would return half
precision while the buffers around it stay float32, and a kernel handed that
half-precision buffer as float reads garbage past its end. So an op behaves like one
autocast-listed call instead: its floating inputs are cast to the autocast dtype where
autocast would cast them (float32 and the other half type; float64 stays), and its body
runs with autocast disabled, in that one dtype. The casts stay outside the op's autograd
function, so gradients flow back through them to the original dtype as usual."""

from __future__ import annotations

import torch


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast is casting to on ``device_type`` now, or None when it is off."""
    try:
        if not torch.is_autocast_enabled(device_type):
            return None
        return torch.get_autocast_dtype(device_type)
    except TypeError:  # torch < 2.4 names the CPU and GPU states apart
        if device_type == "cpu":
            return (
                torch.get_autocast_cpu_dtype()
                if torch.is_autocast_cpu_enabled()
                else None
            )
        return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None


def cast_inputs(device_type: str, *tensors):
    """``tensors`` as an autocast-listed op would see them (None stays None)."""
    dtype = autocast_dtype(device_type)
    if dtype is None:
        return tensors
    return tuple(
        t.to(dtype)
        if t is not None and t.is_floating_point() and t.dtype != torch.float64
        else t
        for t in tensors
    )


def disabled(device_type: str):
    """A context in which autocast is off on ``device_type`` (the body of an op)."""
    return torch.autocast(device_type=device_type, enabled=False)
