"""RoutedConv2d / RoutedLinear: they compute what the op computes and report realized
MACs."""

import torch
import torch.nn.functional as F
from torch import nn

from condcomp_lib.cost import RealizedMacs
from condcomp_lib.nn import RoutedConv2d, RoutedLinear


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = RoutedConv2d(4, 8, 3, padding=1)
        self.fc = RoutedLinear(8 * 6 * 6, 12)

    def forward(self, x, route_conv, in_route, route_fc):
        h = self.conv(x, route_conv, in_route)
        return self.fc(h.flatten(1), route_fc)


def test_channel_and_trellis_macs():
    m = TwoLayer()
    x = torch.randn(3, 4, 6, 6)
    route_conv = torch.tensor(
        [[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool
    )
    in_route = torch.tensor([[1, 0], [1, 1], [0, 1]], dtype=torch.bool)
    route_fc = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=torch.bool)
    with RealizedMacs(m, 3) as macs:
        m(x, route_conv, in_route, route_fc)
    # conv: (#in groups * 4/2) * (#out groups * 8/4) * 6*6 pixels * 3*3
    conv = [1 * 2 * 1 * 2 * 36 * 9, 2 * 2 * 4 * 2 * 36 * 9, 0]
    # fc: 288 inputs * (#blocks * 12/3)
    fc = [288 * 2 * 4, 0, 288 * 3 * 4]
    assert macs.per_sample.tolist() == [c + f for c, f in zip(conv, fc)]


def test_tile_macs_count_active_tiles_only():
    conv = RoutedConv2d(3, 4, 3, stride=2, padding=1)
    x = torch.randn(2, 3, 8, 8)  # output 4x4, tiles 2x2
    route = torch.zeros(2, 2, 2, 2, dtype=torch.bool)
    route[0, 0, 0, 0] = route[0, 1, 1, 0] = route[1, 1, 0, 1] = True
    with RealizedMacs(conv, 2) as macs:
        conv(x, route)
    per_tile = 3 * (4 // 2) * (2 * 2) * 9  # C_in * C_out/G * pixels * k*k
    assert macs.per_sample.tolist() == [2 * per_tile, 1 * per_tile]


def test_modules_match_dense_layers_when_all_on():
    torch.manual_seed(0)
    conv, dense = RoutedConv2d(3, 6, 3, padding=1), nn.Conv2d(3, 6, 3, padding=1)
    dense.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(conv(x, torch.ones(2, 3, dtype=torch.bool)), dense(x))
    lin = RoutedLinear(5, 4)
    xl = torch.randn(3, 5)
    torch.testing.assert_close(
        lin(xl, torch.ones(3, 2, dtype=torch.bool)), F.linear(xl, lin.weight, lin.bias)
    )


def test_init_like_torch_layers():
    torch.manual_seed(1)
    a = RoutedConv2d(16, 32, 3)
    bound = 1 / (16 * 9) ** 0.5
    assert a.weight.abs().max() <= bound + 1e-6 and a.bias.abs().max() <= bound + 1e-6
    lin = RoutedLinear(64, 8, bias=False)
    assert lin.bias is None and lin.weight.abs().max() <= 1 / 8 + 1e-6
