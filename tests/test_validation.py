"""The package's shared argument checks."""

import numpy as np
import pytest

from mtl_tutorial.validation import check_number, check_positive_int


def test_check_number_accepts_numbers_in_range_and_returns_floats():
    assert check_number(np.float32(0.5), "p", 0.5, low=0, high=1) == 0.5
    assert check_number(0, "p", 0.5, low=0, high=1) == 0.0
    assert isinstance(check_number(3, "x", 1.0), float)


@pytest.mark.parametrize(
    ("value", "bounds", "message"),
    [
        (
            0.0,
            {"low": 0, "low_open": True},
            "x must be a positive number, e.g. 1.0; got x=0.0.",
        ),
        (-1, {"low": 0}, "x must be a number >= 0"),
        (
            1.0,
            {"low": 0, "high": 1, "high_open": True},
            r"x must be a number in \[0, 1\)",
        ),
        (1.5, {"low": 0, "high": 1}, r"x must be a number in \[0, 1\]"),
        (float("nan"), {"low": 0}, "x must be a number >= 0"),
        (True, {}, "x must be a number"),
        ("big", {}, "x must be a number, e.g. 1.0; got x='big'."),
    ],
)
def test_check_number_names_the_argument_the_value_and_the_range(
    value, bounds, message
):
    with pytest.raises(ValueError, match=message):
        check_number(value, "x", 1.0, **bounds)


def test_check_positive_int():
    check_positive_int(3, "n", 3)
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="n must be a positive integer, e.g. 3"):
            check_positive_int(bad, "n", 3)
