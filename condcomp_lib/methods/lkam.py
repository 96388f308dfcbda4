"""LKAM (Theodorakopoulos et al.): a learned switch for each kernel group of a conv layer.

Used by chapter 9. A Learning Kernel Activation Module sits between two conv layers: it
reads the first layer's maps through a bank of 1x1 convolutions, pools them, and a sigmoid
gives one switch per kernel group of the next layer. An L1 penalty on the switches, times
a gain, teaches the module to turn groups off; at inference a threshold makes the switches
an on/off route and the groups that are off are not computed.

The pieces, leaves first:

* :class:`KernelActivationModule`: maps [B, C, H, W] -> switches [B, G] in (0, 1).
* :func:`l1_penalty`: the gain times the mean switch.
* :func:`threshold_route`: switches -> a bool route [B, G].
* :class:`LKAMLeNet`: the thick LeNet of chapter 0 with conv2 routed by the module. With
  ``static_groups`` set it is the control: the same network with a fixed route, the first
  groups always on (static pruning of the same fraction of kernel groups).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models import THICK, LeNet, LeNetWidths
from ..nn import RoutedConv2d


class KernelActivationModule(nn.Module):
    """A 1x1 conv bank, global average pooling and a sigmoid: one switch per kernel group.

    ``forward(x)``: maps x [B, C, H, W] -> switches [B, G] in (0, 1)."""

    def __init__(
        self, in_channels: int, groups: int, hidden: int = 16, scale: float = 20.0
    ):
        super().__init__()
        if in_channels < 1 or groups < 1 or hidden < 1:
            raise ValueError(
                f"in_channels, groups and hidden must be positive, got "
                f"{in_channels}, {groups}, {hidden}"
            )
        self.bank = nn.Conv2d(in_channels, hidden, 1)
        self.switch = nn.Linear(hidden, groups)
        # every switch starts at sigmoid(0.5) = 0.62 for every input: on, so fine-tuning
        # begins at the dense network, yet near the threshold, so a short run can move it
        nn.init.zeros_(self.switch.weight)
        nn.init.constant_(self.switch.bias, 0.5 / scale)
        # the logits are scaled up so that Adam's steps, of a fixed size, move the gate
        # about ``scale`` times faster than the network it fine-tunes
        self.groups, self.scale = groups, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected maps [B, C, H, W], got shape {tuple(x.shape)}")
        h = F.relu(self.bank(x))  # [B, hidden, H, W]
        h = h.mean(dim=(2, 3))  # [B, hidden]
        return torch.sigmoid(self.scale * self.switch(h))  # [B, G]


def l1_penalty(switches: torch.Tensor, gain: float) -> torch.Tensor:
    """The gain times the mean switch (switches are positive, so this is their L1 norm per
    sample and group). A larger gain turns more groups off, trading accuracy for MACs."""
    if gain < 0:
        raise ValueError(f"gain must be non-negative, got {gain}")
    return gain * switches.abs().mean()


def threshold_route(switches: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Switches [B, G] -> bool route [B, G]: a group is computed when its switch reaches
    ``threshold``."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    return switches >= threshold


class LKAMLeNet(nn.Module):
    """The thick LeNet with conv2 split into G kernel groups, switched by an LKAM.

    In training the switches are hard in the forward pass (the route of inference) and
    soft in the backward pass (a straight-through estimate), so that the network trained
    is the network run. At inference the route goes to :class:`RoutedConv2d`, which skips
    the groups that are off. ``static_groups`` = k replaces the module by a fixed route:
    the first k groups on for every sample (the static-pruning control).

    ``forward(x)``: images [B, 1, 28, 28] -> logits [B, 10]; the last switches and route
    are kept on ``self.switches`` and ``self.route``."""

    def __init__(
        self,
        widths: LeNetWidths = THICK,
        groups: int = 8,
        threshold: float = 0.5,
        static_groups: int | None = None,
        num_classes: int = 10,
        dropout: float = 0.3,
    ):
        super().__init__()
        if widths.conv2 % groups:
            raise ValueError(f"groups ({groups}) must divide conv2 ({widths.conv2})")
        if static_groups is not None and not 1 <= static_groups <= groups:
            raise ValueError(
                f"static_groups must lie in [1, {groups}], got {static_groups}"
            )
        threshold_route(torch.zeros(1, 1), threshold)  # validates the threshold
        w = widths
        self.widths, self.groups, self.threshold = widths, groups, threshold
        self.static_groups = static_groups
        self.conv1 = nn.Conv2d(1, w.conv1, 5, padding=2)
        self.lkam = None if static_groups else KernelActivationModule(w.conv1, groups)
        self.conv2 = RoutedConv2d(w.conv1, w.conv2, 5, padding=2)
        self.conv3 = nn.Conv2d(w.conv2, w.conv3, 1)
        self.fc1 = nn.Linear(w.conv3 * 3 * 3, w.fc1)
        self.fc2 = nn.Linear(w.fc1, w.fc2)
        self.fc3 = nn.Linear(w.fc2, num_classes)
        self.dropout = nn.Dropout(dropout)
        self.switches = self.route = None

    @classmethod
    def from_lenet(cls, net: LeNet, **kwargs) -> "LKAMLeNet":
        """An LKAM network that starts from the weights of a trained LeNet."""
        model = cls(net.widths, **kwargs)
        for name in ("conv1", "conv3", "fc1", "fc2", "fc3"):
            getattr(model, name).load_state_dict(getattr(net, name).state_dict())
        model.conv2.weight.data.copy_(net.conv2.weight.data)
        model.conv2.bias.data.copy_(net.conv2.bias.data)
        return model

    def gate(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """conv1's pooled maps h [B, c1, 14, 14] -> (switches, route), each [B, G]."""
        if self.lkam is None:
            route = torch.zeros(len(h), self.groups, dtype=torch.bool, device=h.device)
            route[:, : self.static_groups] = True
            return route.float(), route
        s = self.lkam(h)
        return s, threshold_route(s, self.threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)  # [B, c1, 14, 14]
        s, route = self.gate(h)  # [B, G] each
        self.switches, self.route = s, route
        if self.training:
            # hard forward, soft backward: the value is the route, the gradient is dS.
            # The switch multiplies the maps after the ReLU, which gives the same values
            # (ReLU(y) * 0 = ReLU(y * 0) = 0), but keeps a gradient for a group that is
            # off: gated before the ReLU it would sit at exactly 0, where the ReLU passes
            # no gradient, and a group once off could never be turned on again
            hard = route.float() + s - s.detach()  # [B, G]
            every = torch.ones_like(route)
            y = F.relu(self.conv2(h, every))  # [B, c2, 14, 14]
            per_channel = hard.repeat_interleave(self.widths.conv2 // self.groups, 1)
            y = y * per_channel[:, :, None, None]
        else:
            y = F.relu(self.conv2(h, route))  # exact zeros in the groups that are off
        y = F.max_pool2d(y, 2)  # [B, c2, 7, 7]
        y = F.max_pool2d(F.relu(self.conv3(y)), 2)  # [B, c3, 3, 3]
        y = self.dropout(F.relu(self.fc1(y.flatten(1))))
        y = self.dropout(F.relu(self.fc2(y)))
        return self.fc3(y)  # [B, num_classes]


def lkam_loss(gain: float):
    """The training objective of :func:`condcomp_lib.train.fit`: cross-entropy plus the
    L1 penalty on the switches, times ``gain``."""

    def loss(model: LKAMLeNet, x: torch.Tensor, y: torch.Tensor):
        logits = model(x)
        value = F.cross_entropy(logits, y)
        if model.lkam is not None:
            value = value + l1_penalty(model.switches, gain)
        return value, logits

    return loss


def conv_fraction(model: LKAMLeNet, x: torch.Tensor) -> float:
    """The fraction of conv2's kernel groups computed on x, averaged over samples."""
    model.eval()
    with torch.no_grad():
        model(x)
    return model.route.float().mean().item()
