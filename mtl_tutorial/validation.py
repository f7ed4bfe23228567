"""Argument checks shared by the package: a bad argument raises ``ValueError`` naming it."""

from __future__ import annotations


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
