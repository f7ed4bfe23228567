"""Argument checks shared by the package: a bad argument raises ``ValueError`` or ``TypeError`` naming it."""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Mapping, Sequence

import numpy as np


def is_integer(value: object) -> bool:
    """Whether ``value`` is an integer, Python's or NumPy's, not a ``bool``: what ``check_types`` accepts for
    an ``int`` parameter."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number, Python's or NumPy's, not a ``bool``: what ``check_types`` accepts
    for a ``float`` parameter."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_positive_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python's or NumPy's, not a ``bool``) of at least 1."""
    return is_integer(value) and value >= 1


def check_int(
    value: object,
    argument: str,
    example: int | None = None,
    *,
    low: int = 1,
    high: int | None = None,
) -> int:
    """Return ``value`` as an ``int``, or raise ``ValueError`` unless it is an integer in ``[low, high]``.

    NumPy integers are accepted, as ``check_types`` accepts them; booleans are refused. ``high`` ``None``
    leaves the range open above. The message shows ``example`` when one is given.
    """
    if high is not None:
        wanted = f"an integer between {low} and {high}"
    elif low == 1:
        wanted = "a positive integer"
    elif low == 0:
        wanted = "a non-negative integer"
    else:
        wanted = f"an integer of at least {low}"
    if not is_integer(value) or value < low or (high is not None and value > high):
        hint = "" if example is None else f", e.g. {example}"
        raise ValueError(
            f"{argument} must be {wanted}{hint}; got {argument}={value!r}."
        )
    return int(value)


def check_positive_int(value: object, argument: str, example: int) -> int:
    """Return ``value`` as an ``int``, or raise ``ValueError`` unless it is a positive integer."""
    return check_int(value, argument, example, low=1)


def check_seed(value: object, argument: str = "seed") -> int:
    """Return the seed ``value`` as an ``int``, or raise ``ValueError`` unless it is a non-negative integer.

    NumPy's generators and scikit-learn's ``random_state`` refuse negative seeds; every public function
    that takes a seed calls this first, so the refusal names the argument.
    """
    if not is_integer(value) or value < 0:
        raise ValueError(
            f"{argument} must be a non-negative integer (as NumPy and scikit-learn require), e.g. 0; "
            f"got {argument}={value!r}."
        )
    return int(value)


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
    ok = is_number(value) and value == value
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(
            f"{argument} must be {wanted}, e.g. {example}; got {argument}={value!r}."
        )
    return float(value)


# --- Checking argument types from annotations --------------------------------------------------------------


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong kind: a ``TypeError``, and a ``ValueError`` too, so that code (and the
    book's examples) catching ``ValueError`` for a bad argument catch it as well."""


# What each checkable kind reads as in a message, and an example shown when the parameter has no default.
_DESCRIPTIONS = {
    "int": ("an integer", "1"),
    "float": ("a number", "0.5"),
    "bool": ("True or False", "True"),
    "str": ("a string", "'name'"),
    "Task": ("an mtl_tutorial.Task", "mtl.Task('y', 'regression')"),
    "Rule": ("an mtl_tutorial.rules.Rule", "mtl.rules.Equal()"),
    "Mapping": ("a dict", "{'y': 1.0}"),
    "array": ("an array", "np.arange(4)"),
    "callable": ("a function (something callable)", None),
    "pd.DataFrame": (
        "a pandas DataFrame",
        "the table of mtl.experiments.results_table",
    ),
    "keras.Model": ("a keras.Model", "a model from mtl.models"),
    "MultiTaskData": ("an mtl_tutorial.data.MultiTaskData", "a data set from mtl.data"),
    "Split": ("an mtl_tutorial.data.Split", "data.train"),
    "Figure": ("a matplotlib Figure", "plt.figure()"),
    "History": (
        "a keras History or a dict of lists",
        "the History that model.fit returns",
    ),
    "Sequence[Task]": (
        "a sequence of mtl_tutorial.Task",
        "[mtl.Task('y', 'regression')]",
    ),
    "Sequence[int]": ("a sequence of integers", "(0, 1, 2)"),
    "Sequence[float]": ("a sequence of numbers", "(1.0, 2.0)"),
    "Sequence[str]": ("a sequence of strings", "('a', 'b')"),
    "Sequence[bool]": ("a sequence of True/False", "(True, False)"),
    "Sequence[array]": ("a tuple or list of arrays", None),
}
# How annotations are spelled in the package, for kinds spelled more than one way.
_SPELLINGS = {"np.ndarray": "array", "ArrayLike": "array", "dict": "Mapping"}


def _kind(annotation: str) -> str | None:
    """The checkable kind of one member of an annotation, e.g. ``"Sequence[Task]"``, or None."""
    a = annotation.strip().replace("typing.", "")
    if a.startswith(("Sequence[", "tuple[")) and a.endswith("]"):
        inner = a[a.index("[") + 1 : -1].split(",")[0].strip()
        a = f"Sequence[{_SPELLINGS.get(inner, inner)}]"
    elif a.startswith(("Mapping[", "dict[")):
        a = "Mapping"
    elif a.startswith("Callable"):
        a = "callable"
    a = _SPELLINGS.get(a, a)
    return a if a in _DESCRIPTIONS else None


@functools.cache
def _predicates() -> dict:
    """Whether a value is of each kind that is not a sequence (imported late: the package imports us)."""
    import keras
    import pandas as pd
    from matplotlib.figure import Figure

    from mtl_tutorial.data.splits import MultiTaskData, Split
    from mtl_tutorial.rules import Rule
    from mtl_tutorial.tasks import Task

    def sequence(v):
        # Arrays and pandas Series and Index count as sequences: chapters pass columns of tables.
        return isinstance(
            v, (Sequence, np.ndarray, pd.Series, pd.Index)
        ) and not isinstance(v, (str, bytes))

    return {
        "int": is_integer,
        "float": is_number,
        "bool": lambda v: isinstance(v, (bool, np.bool_)),
        "str": lambda v: isinstance(v, str),
        "Task": lambda v: isinstance(v, Task),
        "Rule": lambda v: isinstance(v, Rule),
        # A pandas Series is dict-like (keys, items, []), and the package passes them as mappings.
        "Mapping": lambda v: isinstance(v, (Mapping, pd.Series)),
        "array": _is_array,
        "callable": callable,
        "pd.DataFrame": lambda v: isinstance(v, pd.DataFrame),
        "keras.Model": lambda v: isinstance(v, keras.Model),
        "MultiTaskData": lambda v: isinstance(v, MultiTaskData),
        "Split": lambda v: isinstance(v, Split),
        "Figure": lambda v: isinstance(v, Figure),
        "History": lambda v: isinstance(v, (keras.callbacks.History, Mapping)),
        "sequence": sequence,
    }


def _fits(kind: str, value: object) -> bool:
    predicates = _predicates()
    if not kind.startswith("Sequence["):
        return predicates[kind](value)
    inner = kind[len("Sequence[") : -1]
    if inner == "Task" and predicates["Task"](value):
        return True  # one task stands for a sequence of one
    if inner == "array":
        # Arrays in a tuple or list: a 2-D array is one array, not a sequence of its rows.
        container = isinstance(value, Sequence) and not isinstance(value, (str, bytes))
    else:
        container = predicates["sequence"](value)
    return container and all(predicates[inner](item) for item in value)


def _is_array(value: object) -> bool:
    """Whether NumPy reads ``value`` (an array, a tensor, a list, a pandas column) as an array of at least
    one dimension. Strings and mappings are not arrays here, though NumPy would wrap them."""
    if isinstance(value, (str, bytes, Mapping, set)):
        return False
    try:
        return np.asarray(value).ndim >= 1
    except (TypeError, ValueError):
        return False


def check_adam(adam: Mapping[str, float] | None) -> dict[str, float]:
    """Adam's settings other than the step size, checked: ``{}`` for Keras's defaults.

    Raises ``ValueError`` for a setting other than ``beta_1``, ``beta_2`` and ``epsilon``, a beta outside
    ``[0, 1)`` or an ``epsilon`` that is not positive.
    """
    if adam is None:
        return {}
    if not isinstance(adam, Mapping):
        raise ValueError(
            f"adam must be a dict of Adam's settings, e.g. {{'beta_1': 0.6}}; got adam={adam!r}."
        )
    unknown = sorted(set(adam) - {"beta_1", "beta_2", "epsilon"})
    if unknown:
        raise ValueError(
            f"adam may set beta_1, beta_2 and epsilon (the step size is learning_rate); got {unknown}."
        )
    checked = {}
    for name, value in adam.items():
        if name == "epsilon":
            checked[name] = check_number(
                value, "adam['epsilon']", 1e-7, low=0, low_open=True
            )
        else:
            checked[name] = check_number(
                value, f"adam[{name!r}]", 0.9, low=0, high=1, high_open=True
            )
    return checked


def check_types(function):
    """Decorate ``function`` so that an argument of the wrong kind raises :class:`ArgumentTypeError`.

    Reads each parameter's annotation as written (``int``, ``float``, ``bool``, ``str``, ``Task``, ``Rule``,
    ``Sequence[...]`` of those or of arrays, ``Mapping``, ``np.ndarray``, ``Callable``, ``pd.DataFrame``,
    ``keras.Model``, ``Figure``, ``History``, the data containers, and unions of them with ``None``);
    parameters with other annotations are not checked. NumPy integers pass as ``int`` and NumPy numbers as
    ``float`` (``is_integer``, ``is_number``). The module must use ``from __future__ import
    annotations``, or the decorator refuses the function with a ``TypeError`` at import. The message says
    what was expected, with an example (the default where there is one), and what was given: ``seed must
    be an integer, e.g. 0; got seed='three'.``

    Kinds only: ranges and choices stay the function's own business, checked where they get their meaning,
    with ``check_int``, ``check_number`` and ``check_seed``, which accept what this accepts.
    """
    signature = inspect.signature(function)
    plan = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = parameter.annotation
        if annotation is parameter.empty:
            continue
        if not isinstance(annotation, str):
            raise TypeError(
                f"check_types reads annotations as written, but {function.__qualname__}'s are evaluated; "
                "add 'from __future__ import annotations' to its module."
            )
        members = [m.strip() for m in annotation.split("|")]
        optional = "None" in members
        kinds = [_kind(m) for m in members if m != "None"]
        if not kinds or None in kinds:
            continue
        default = parameter.default
        plan[name] = (kinds, optional, default)

    @functools.wraps(function)
    def checked(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if name not in plan:
                continue
            kinds, optional, default = plan[name]
            if value is None and optional:
                continue
            if not any(_fits(kind, value) for kind in kinds):
                wanted = " or ".join(_DESCRIPTIONS[k][0] for k in kinds)
                example = (
                    repr(default)
                    if default not in (inspect.Parameter.empty, None)
                    else _DESCRIPTIONS[kinds[0]][1]
                )
                hint = f", e.g. {example}" if example is not None else ""
                raise ArgumentTypeError(
                    f"{name} must be {wanted}{hint}; got {name}={value!r}."
                )
        return function(*args, **kwargs)

    # Keras reads a layer's __init__ arguments with inspect.getfullargspec, which ignores __wrapped__.
    checked.__signature__ = signature
    return checked
