"""The package's shared argument checks."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest

from mtl_tutorial import Task
from mtl_tutorial.validation import (
    ArgumentTypeError,
    check_number,
    check_positive_int,
    check_types,
)


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


# --- check_types: the wrong kind of argument, read from the annotation -------------------------------------


@check_types
def _example(
    n: int,
    rate: float = 0.5,
    names: Sequence[str] = ("a",),
    tasks: Sequence[Task] = (),
    flag: bool = False,
    weights: Mapping[str, float] | None = None,
    values: np.ndarray | None = None,
    anything: object = None,
) -> tuple:
    return n, rate, names, tasks, flag, weights, values, anything


def test_check_types_accepts_numpy_scalars_columns_and_none_where_optional():
    task = Task("y", "regression")
    assert _example(np.int64(3), rate=np.float32(0.25))[0] == 3
    _example(3, rate=2)  # an int is a number
    _example(3, names=pd.Series(["a", "b"]), flag=np.bool_(True))
    _example(3, names=pd.Index(["a"]), tasks=[task], weights=pd.Series({"y": 1.0}))
    _example(3, tasks=task)  # one task stands for a sequence of one
    _example(3, values=[1, 2], weights=None, anything=object())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": True}, "n must be an integer, e.g. 1; got n=True."),
        ({"n": 2.0}, "n must be an integer, e.g. 1; got n=2.0."),
        ({"n": 1, "rate": "fast"}, "rate must be a number, e.g. 0.5; got rate='fast'."),
        (
            {"n": 1, "names": "ab"},
            "names must be a sequence of strings, e.g. ('a',); got names='ab'.",
        ),
        ({"n": 1, "names": ["a", 2]}, "names must be a sequence of strings"),
        ({"n": 1, "names": {"a": 1}}, "names must be a sequence of strings"),
        ({"n": 1, "tasks": ["y"]}, "tasks must be a sequence of mtl_tutorial.Task"),
        ({"n": 1, "flag": 1}, "flag must be True or False, e.g. False; got flag=1."),
        (
            {"n": 1, "weights": [1.0]},
            "weights must be a dict, e.g. {'y': 1.0}; got weights=[1.0].",
        ),
        (
            {"n": 1, "values": "three"},
            "values must be an array, e.g. np.arange(4); got values='three'.",
        ),
        ({"n": 1, "values": 3}, "values must be an array"),
    ],
)
def test_check_types_names_the_argument_the_value_and_what_was_expected(
    kwargs, message
):
    with pytest.raises(ArgumentTypeError) as raised:
        _example(**kwargs)
    assert message in str(raised.value)


def test_an_argument_type_error_is_both_a_type_error_and_a_value_error():
    for kind in (TypeError, ValueError):
        with pytest.raises(kind):
            _example("one")


def test_check_types_refuses_evaluated_annotations():
    """Without postponed annotations the decorator could not read them as written: it says so at once."""

    def evaluated(n):
        return n

    evaluated.__annotations__ = {"n": int}
    with pytest.raises(TypeError, match="from __future__ import annotations"):
        check_types(evaluated)


def test_check_types_keeps_the_signature_for_keras():
    """Keras rebuilds a layer from ``get_config`` by reading ``__init__`` with ``getfullargspec``."""
    assert list(inspect.signature(_example).parameters)[:2] == ["n", "rate"]
    assert inspect.getfullargspec(_example).args[:2] == ["n", "rate"]
    assert _example.__name__ == "_example"


@check_types
def _seeded(seed: int = 7, other: int = 0) -> int:
    return seed


def test_a_seed_must_not_be_negative_and_other_integers_are_left_to_the_function():
    assert _seeded(np.int64(3)) == 3
    _seeded(other=-1)  # only the parameter called seed has the convention
    with pytest.raises(
        ValueError,
        match=r"seed must be a non-negative integer .*e\.g\. 7; got seed=-1\.",
    ):
        _seeded(-1)


def test_check_positive_int_accepts_numpy_integers():
    check_positive_int(np.int64(3), "n", 3)
    check_positive_int(np.uint8(1), "n", 3)
