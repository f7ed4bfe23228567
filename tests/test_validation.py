"""The package's shared argument checks."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest

from mtl_tutorial import Task
from mtl_tutorial.rules import Equal, Rule
from mtl_tutorial.validation import (
    ArgumentTypeError,
    check_int,
    check_number,
    check_positive_int,
    check_seed,
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


@check_types
def _with_rule_and_arrays(
    rule: Rule | None = None, parts: tuple[np.ndarray, np.ndarray] = ()
) -> None:
    del rule, parts


def test_check_types_checks_rules_and_sequences_of_arrays():
    _with_rule_and_arrays(Equal(), parts=(np.zeros(3), [1.0, 2.0]))
    with pytest.raises(
        ArgumentTypeError,
        match=r"rule must be an mtl_tutorial.rules.Rule, e.g. mtl.rules.Equal\(\); got rule='equal'\.",
    ):
        _with_rule_and_arrays("equal")
    for bad in (
        "three",
        (np.zeros(3), 1.0),
        np.zeros((2, 3)),
    ):  # a 2-D array is one array
        with pytest.raises(
            ArgumentTypeError, match="parts must be a tuple or list of arrays"
        ):
            _with_rule_and_arrays(parts=bad)


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


def test_check_types_checks_kinds_only_whatever_the_name():
    """No rule keyed on a parameter's name: a negative seed is check_seed's to refuse, where it is taken."""
    assert _seeded(-1) == -1
    assert _seeded(np.int64(3), other=-1) == 3
    with pytest.raises(ArgumentTypeError, match="seed must be an integer, e.g. 7"):
        _seeded(1.5)


def test_check_seed_accepts_non_negative_integers_and_returns_ints():
    for value in (0, 3, np.int64(3), np.uint8(1)):
        seed = check_seed(value)
        assert seed == value
        assert type(seed) is int


@pytest.mark.parametrize("bad", [-1, np.int64(-1), 1.5, True, "0", None])
def test_check_seed_refuses_what_numpy_and_scikit_learn_refuse(bad):
    with pytest.raises(ValueError) as raised:
        check_seed(bad)
    assert str(raised.value) == (
        "seed must be a non-negative integer (as NumPy and scikit-learn require), e.g. 0; "
        f"got seed={bad!r}."
    )


def test_check_seed_names_the_argument_it_is_given():
    with pytest.raises(
        ValueError,
        match=r"seeds\[2\] must be a non-negative integer .*; got seeds\[2\]=-1\.",
    ):
        check_seed(-1, "seeds[2]")


def test_check_int_accepts_what_check_types_accepts_and_returns_ints():
    for value in (3, np.int64(3), np.int32(3), np.uint8(3)):
        assert type(check_int(value, "n", low=0, high=3)) is int
    assert check_int(np.int64(10), "n", low=10) == 10


@pytest.mark.parametrize(
    ("value", "bounds", "message"),
    [
        (0, {}, "n must be a positive integer, e.g. 5; got n=0."),
        (-1, {"low": 0}, "n must be a non-negative integer, e.g. 5; got n=-1."),
        (9, {"low": 10}, "n must be an integer of at least 10, e.g. 5; got n=9."),
        (
            4,
            {"low": 1, "high": 3},
            "n must be an integer between 1 and 3, e.g. 5; got n=4.",
        ),
        (2.0, {}, "n must be a positive integer, e.g. 5; got n=2.0."),
        (True, {}, "n must be a positive integer, e.g. 5; got n=True."),
        ("3", {}, "n must be a positive integer, e.g. 5; got n='3'."),
    ],
)
def test_check_int_names_the_argument_the_value_and_the_range(value, bounds, message):
    with pytest.raises(ValueError) as raised:
        check_int(value, "n", 5, **bounds)
    assert str(raised.value) == message


def test_check_int_leaves_out_the_example_when_none_is_given():
    with pytest.raises(ValueError) as raised:
        check_int(0, "batch_size")
    assert (
        str(raised.value) == "batch_size must be a positive integer; got batch_size=0."
    )


@check_types
def _takes_int(x: int) -> None:
    del x


@check_types
def _takes_float(x: float) -> None:
    del x


def _accepts(function, *args) -> bool:
    try:
        function(*args)
    except ValueError:  # ArgumentTypeError is a ValueError too
        return False
    return True


@pytest.mark.parametrize(
    "value",
    [
        3,
        np.int64(3),
        np.uint16(3),
        3.0,
        np.float32(3.0),
        True,
        np.bool_(True),
        "3",
        None,
    ],
    ids=repr,
)
def test_the_range_helpers_accept_exactly_the_kinds_check_types_accepts(value):
    """A value in range is refused by a range helper exactly when ``check_types`` refuses its kind."""
    assert _accepts(check_int, value, "x") == _accepts(_takes_int, value)
    assert _accepts(check_seed, value) == _accepts(_takes_int, value)
    assert _accepts(check_number, value, "x", 1.0) == _accepts(_takes_float, value)


def test_check_positive_int_accepts_numpy_integers():
    check_positive_int(np.int64(3), "n", 3)
    check_positive_int(np.uint8(1), "n", 3)
