"""PathConv2d and PathLinear: wide layers stored as the blocks their paths use."""

import torch
import torch.nn.functional as F
from torch import nn

from condcomp_lib.cost import RealizedMacs
from condcomp_lib.nn import PathConv2d, PathLinear, RoutedConv2d, RoutedLinear


def test_initialised_like_the_wide_layers():
    torch.manual_seed(3)
    conv, lin = RoutedConv2d(8, 12, 3), RoutedLinear(16, 8)
    torch.manual_seed(3)
    pconv, plin = PathConv2d(8, 12, 3, paths=3, in_paths=2), PathLinear(16, 8, paths=4)
    assert torch.equal(pconv.wide_weight(), conv.weight)
    assert torch.equal(pconv.wide_bias(), conv.bias)
    blocks = lin.weight.view(4, 2, 4, 4)[torch.arange(4), :, torch.arange(4)]
    assert torch.equal(plin.weight, blocks) and torch.equal(plin.wide_bias(), lin.bias)


def test_a_path_is_its_slice_of_the_wide_layer():
    pconv = PathConv2d(8, 12, 3, paths=3, in_paths=2, padding=1)
    plin = PathLinear(16, 8, 4)
    x = torch.randn(2, 4, 5, 5)
    wide = pconv.wide_weight()
    want = F.conv2d(x, wide[8:12, 4:8], pconv.wide_bias()[8:12], padding=1)
    torch.testing.assert_close(pconv(x, 2, 1), want)
    xl = torch.randn(3, 4)
    torch.testing.assert_close(
        plin(xl, 1), xl @ plin.wide_weight()[2:4, 4:8].T + plin.wide_bias()[2:4]
    )
    xa = torch.randn(3, 16)  # every path on every sample: the block-diagonal layer
    torch.testing.assert_close(
        plin.forward_all(xa), F.linear(xa, plin.wide_weight(), plin.wide_bias())
    )


def test_weight_views_are_not_copies():
    plin = PathLinear(16, 8, 4)
    assert plin.weight[2].data_ptr() == plin.weight.data_ptr() + 2 * 2 * 4 * 4
    assert plin.weight[2].is_contiguous()


def test_a_checkpoint_of_the_wide_layout_loads():
    conv, lin = RoutedConv2d(8, 12, 3), RoutedLinear(16, 8)
    pconv, plin = PathConv2d(8, 12, 3, paths=3, in_paths=2), PathLinear(16, 8, paths=4)
    pconv.load_state_dict(conv.state_dict())
    plin.load_state_dict(lin.state_dict())
    assert torch.equal(pconv.wide_weight(), conv.weight)
    off_diagonal = torch.block_diag(*torch.ones(4, 2, 4)) == 0
    assert torch.equal(plin.wide_weight()[~off_diagonal], lin.weight[~off_diagonal])


def test_each_path_reports_its_own_macs():
    plin = PathLinear(16, 8, 4)
    with RealizedMacs(nn.Identity(), 3) as macs:
        plin(torch.randn(3, 4), 0)
    assert macs.per_sample.tolist() == [4 * 2] * 3
