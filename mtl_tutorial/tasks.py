"""What a task is: its name, its kind, and the loss and metric that go with it.

Taught in :doc:`/book/part1_multitask/01_why_several_tasks`. Every model builder, data loader and metric in
the package speaks in terms of :class:`Task`, so a chapter states its tasks once and the rest follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from mtl_tutorial.validation import is_integer

TaskKind = Literal["regression", "classification"]
TASK_KINDS: tuple[str, ...] = ("regression", "classification")


@dataclass(frozen=True)
class Task:
    """One prediction task of a multi-task model.

    Args:
        name: Key of the task's targets and of the model output; a Python identifier such as
            ``"species"`` or ``"body_mass_g"``.
        kind: ``"regression"`` (one real number per example) or ``"classification"`` (one integer
            class label in ``[0, num_classes)`` per example).
        num_classes: Number of classes, at least 2; required for classification, not allowed for
            regression.
        class_names: Optional names of the classes, one per class.
        unit: Optional unit of a regression target in its original scale, e.g. ``"g"``.

    Raises:
        ValueError: if the name is not an identifier, the kind is unknown, or the number of classes
            does not fit the kind.
    """

    name: str
    kind: TaskKind
    num_classes: int | None = None
    class_names: tuple[str, ...] = ()
    unit: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                f"Task name must be a Python identifier such as 'species'; got name={self.name!r}."
            )
        if self.kind not in TASK_KINDS:
            raise ValueError(
                f"Task {self.name!r}: kind must be one of {TASK_KINDS}; got kind={self.kind!r}."
            )
        if self.kind == "classification":
            if not is_integer(self.num_classes) or self.num_classes < 2:
                raise ValueError(
                    f"Classification task {self.name!r} needs num_classes >= 2; "
                    f"got num_classes={self.num_classes!r}."
                )
            # A Python int, as Keras wants for the head's width, also when given a NumPy integer.
            object.__setattr__(self, "num_classes", int(self.num_classes))
            if self.class_names and len(self.class_names) != self.num_classes:
                raise ValueError(
                    f"Task {self.name!r}: class_names has {len(self.class_names)} entries but "
                    f"num_classes={self.num_classes}; give one name per class."
                )
        elif self.num_classes is not None:
            raise ValueError(
                f"Regression task {self.name!r} takes no num_classes; got num_classes={self.num_classes!r}."
            )

    @property
    def output_units(self) -> int:
        """Width of the task's output layer (``num_classes`` for classification, 1 for regression)."""
        return self.num_classes if self.kind == "classification" else 1

    @property
    def output_activation(self) -> str | None:
        """``"softmax"`` for classification (class probabilities), ``None`` (linear) for regression."""
        return "softmax" if self.kind == "classification" else None

    @property
    def loss(self) -> str:
        """Keras loss name, ``"sparse_categorical_crossentropy"`` or ``"mse"`` (mean squared error)."""
        return (
            "sparse_categorical_crossentropy"
            if self.kind == "classification"
            else "mse"
        )

    @property
    def metric(self) -> str:
        """The task's headline metric, ``"accuracy"`` or ``"mae"`` (mean absolute error)."""
        return "accuracy" if self.kind == "classification" else "mae"

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger value of :attr:`metric` is better (accuracy) or worse (MAE)."""
        return self.kind == "classification"


def task_names(tasks: Iterable[Task]) -> tuple[str, ...]:
    """The names of ``tasks``, in order."""
    return tuple(task.name for task in tasks)


def check_tasks(tasks: Sequence[Task], argument: str = "tasks") -> tuple[Task, ...]:
    """Validate a non-empty sequence of distinct :class:`Task` objects and return it as a tuple.

    Raises:
        ValueError: if ``tasks`` is empty, holds something other than a ``Task``, or repeats a name.
    """
    if isinstance(tasks, Task):
        tasks = (tasks,)
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError(
            f"{argument} must name at least one Task; got an empty sequence."
        )
    for task in tasks:
        if not isinstance(task, Task):
            raise ValueError(
                f"{argument} must hold mtl_tutorial.Task objects; got {type(task).__name__}: {task!r}."
            )
    names = task_names(tasks)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"{argument} repeats task names {duplicates}; each task needs its own name."
        )
    return tasks


def check_keys(mapping: object, tasks: Sequence[Task], argument: str) -> None:
    """Check that ``mapping`` is a dict keyed by exactly the names of ``tasks``.

    Raises:
        ValueError: naming the unknown and the missing keys.
    """
    expected = set(task_names(tasks))
    if not isinstance(mapping, dict):
        raise ValueError(
            f"{argument} must be a dict keyed by task name {sorted(expected)}; got {type(mapping).__name__}."
        )
    unknown = sorted(set(mapping) - expected)
    missing = sorted(expected - set(mapping))
    if unknown or missing:
        raise ValueError(
            f"{argument} must be keyed by the task names {sorted(expected)}; "
            f"unknown keys {unknown}, missing keys {missing}."
        )
