"""Mutual information by counting: the one function chapters 4, 6 and 8 share."""

import math

import pytest
import torch

from condcomp_lib.information import mutual_information_bits


def test_a_decision_that_gives_the_class_away_has_the_class_entropy():
    y = torch.arange(8) % 4
    assert mutual_information_bits(y, y) == pytest.approx(2.0)
    assert mutual_information_bits(y, 10 * y + 7) == pytest.approx(2.0)  # any codes


def test_a_decision_that_ignores_the_class_has_none():
    y = torch.arange(8) % 4
    assert mutual_information_bits(y, torch.zeros(8).long()) == pytest.approx(0.0)
    assert mutual_information_bits(y % 2, y // 2) == pytest.approx(0.0, abs=1e-12)


def test_a_partial_decision():
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    d = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])  # tells the pair of classes, not which
    assert mutual_information_bits(y, d) == pytest.approx(1.0)
    assert mutual_information_bits(d, y) == pytest.approx(1.0)  # symmetric
    h = -(0.25 * math.log2(0.25) * 2 + 0.5 * math.log2(0.5))  # H(1/4, 1/4, 1/2)
    assert mutual_information_bits(
        y, torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    ) == pytest.approx(h)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one length"):
        mutual_information_bits(torch.zeros(3).long(), torch.zeros(4).long())
    with pytest.raises(ValueError, match="no samples"):
        mutual_information_bits(torch.zeros(0).long(), torch.zeros(0).long())
