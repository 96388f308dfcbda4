"""Where a call's time goes: operators sorted into causes by name, the wall time beyond
them counted as time between operators."""

import pytest
import torch

from condcomp_lib import time_causes as tc


def test_operators_are_sorted_into_causes_by_name():
    assert tc.cause_of("aten::mm") == "arithmetic"
    assert tc.cause_of("aten::index_select") == "data movement"
    assert tc.cause_of("aten::empty") == "bookkeeping"  # a name on no list


def test_a_product_is_arithmetic_and_a_gather_is_data_movement():
    a = torch.randn(256, 256)
    with torch.no_grad():
        product = tc.by_cause(lambda: a @ a, calls=5)
        idx = torch.randint(0, 256, (4096,))
        gather = tc.by_cause(lambda: a.index_select(0, idx), calls=5)
    assert set(product) == set(tc.CAUSES) and all(v >= 0 for v in product.values())
    assert product["arithmetic"] > product["data movement"]
    assert gather["data movement"] > gather["arithmetic"]


def test_at_least_one_call_is_profiled():
    with pytest.raises(ValueError, match="at least 1"):
        tc.by_cause(lambda: None, calls=0)
