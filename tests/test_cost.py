"""MAC accounting, checked against counts made by hand."""

import torch
from torch import nn

from condcomp_lib import cost, models


def test_lenet_macs_by_hand():
    # thick LeNet: conv1 28x28x32x25, conv2 14x14x64x32x25, conv3 7x7x128x64, fc 1152x512,
    # 512x256, 256x10
    by_hand = [627_200, 10_035_200, 401_408, 589_824, 131_072, 2_560]
    rows = cost.dense_costs(models.LeNet(models.THICK), (1, 28, 28))
    assert [r.macs for r in rows] == by_hand
    assert [r.name for r in rows] == ["conv1", "conv2", "conv3", "fc1", "fc2", "fc3"]
    assert [r.params for r in rows] == [
        32 * 25 + 32,
        64 * 32 * 25 + 64,
        128 * 64 + 128,
        1152 * 512 + 512,
        512 * 256 + 256,
        256 * 10 + 10,
    ]
    thin = cost.dense_macs(models.LeNet(models.THIN), (1, 28, 28))
    assert (
        thin
        == 627_200 + 14 * 14 * 32 * 32 * 25 + 49 * 32 * 32 + 288 * 128 + 128 * 64 + 640
    )


def test_conv_rule_with_stride_and_groups():
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4)
    [row] = cost.dense_costs(nn.Sequential(conv), (8, 10, 10))
    assert row.macs == 16 * 5 * 5 * 2 * 9


def test_realized_macs_of_static_model_is_dense():
    m = models.LeNet(models.THIN)
    per_sample = cost.realized_macs(m, torch.randn(5, 1, 28, 28))
    assert per_sample.shape == (5,) and torch.all(
        per_sample == cost.dense_macs(m, (1, 28, 28))
    )


class HalfExit(nn.Module):
    """A toy conditional model: every sample runs `a`; only even samples go on to `b`."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x):
        h = self.a(x)
        keep = torch.arange(0, len(x), 2)
        with cost.sample_index(keep):
            self.b(h[keep])
            cost.report(
                torch.full((len(keep),), 100.0)
            )  # a module reporting its own cost
        return h


def test_realized_macs_follow_compacted_samples():
    per_sample = cost.realized_macs(HalfExit(), torch.randn(5, 4))
    assert per_sample.tolist() == [16 + 12 + 100, 16, 16 + 12 + 100, 16, 16 + 12 + 100]


def test_modules_that_report_are_not_double_counted():
    class Reporting(nn.Linear):
        reports_macs = True

        def forward(self, x):
            cost.report(1.0)
            return super().forward(x)

    per_sample = cost.realized_macs(
        nn.Sequential(Reporting(4, 4), nn.Linear(4, 2)), torch.randn(3, 4)
    )
    assert per_sample.tolist() == [1 + 8] * 3


def test_report_outside_a_counter_is_a_no_op():
    cost.report(5.0)  # nothing open: must not raise
