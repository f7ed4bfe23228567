"""Argument checks shared by the package: a bad argument raises ``ValueError`` naming it."""

from __future__ import annotations

import numbers


def is_positive_int(value: object) -> bool:
    """Whether ``value`` is an ``int`` (not a ``bool``) of at least 1."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_positive_int(value: object, argument: str, example: int) -> None:
    """Raise ``ValueError`` unless ``value`` is a positive ``int`` (not a bool)."""
    if not is_positive_int(value):
        raise ValueError(
            f"{argument} must be a positive integer, e.g. {example}; "
            f"got {argument}={value!r}."
        )


def check_number(
    value: object,
    argument: str,
    example: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a ``float``, or raise ``ValueError`` unless it is a real number in range.

    The range is ``[low, high]``, with either end left out when ``None`` and excluded when ``low_open``
    or ``high_open``. Booleans and NaN are refused; NumPy scalars are accepted.
    """
    if low is not None and high is None:
        wanted = (
            "a positive number"
            if low == 0 and low_open
            else f"a number {'>' if low_open else '>='} {low:g}"
        )
    elif low is not None:
        wanted = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    else:
        wanted = "a number"
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and value == value
    )
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(
            f"{argument} must be {wanted}, e.g. {example}; got {argument}={value!r}."
        )
    return float(value)
