"""Containers for a multi-task data set and its seeded train/validation/test split.

Taught in :doc:`/book/part1_multitask/01_why_several_tasks`. Every loader in :mod:`mtl_tutorial.data` returns
a :class:`~mtl_tutorial.data.MultiTaskData`, so chapters train on ``data.train.x`` and ``data.train.y``
(a dict keyed by task name) whatever the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.model_selection import train_test_split

from mtl_tutorial.tasks import Task, check_keys, check_tasks
from mtl_tutorial.validation import (
    check_int,
    check_number,
    check_positive_int,
    check_seed,
    check_types,
)

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")

#: Inputs: one array, or one array per modality keyed by its name (Part II).
Inputs = np.ndarray | dict[str, np.ndarray]


def num_rows(x: Inputs) -> int:
    """Number of examples in ``x``; every modality of a dict must have the same number."""
    if isinstance(x, dict):
        if not x:
            raise ValueError("x has no modalities; give at least one array.")
        counts = {name: len(values) for name, values in x.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(
                f"Every modality needs one row per example; got rows {counts}."
            )
        return next(iter(counts.values()))
    return len(x)


def take_rows(x: Inputs, rows: np.ndarray) -> Inputs:
    """The examples of ``x`` at the integer positions ``rows`` (of every modality, for a dict)."""
    if isinstance(x, dict):
        return {name: values[rows] for name, values in x.items()}
    return x[rows]


@dataclass(frozen=True)
class Split:
    """The examples of one split.

    Attributes:
        x: Inputs, shape ``(n, d)`` float32; or, for multi-modal data, a dict of such arrays keyed by
            modality (each of shape ``(n, ...)``).
        y: Targets keyed by task name: int32 labels of shape ``(n,)`` for classification, float32
            values of shape ``(n, 1)`` for regression.
        weights: Optional per-task sample weights of shape ``(n,)``, keyed by task name; a weight of 0
            marks a missing label (taught in :doc:`/book/part1_multitask/02_losses_scales_weights`). ``None``
            means every label is present.
    """

    x: Inputs
    y: dict[str, np.ndarray]
    weights: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        n = num_rows(self.x)
        for name, values in self.y.items():
            if len(values) != n:
                raise ValueError(
                    f"y[{name!r}] has {len(values)} rows but x has {n}; "
                    "every target needs one row per example."
                )
        for name, values in (self.weights or {}).items():
            if name not in self.y:
                raise ValueError(
                    f"weights has a task {name!r} that y lacks; y has {sorted(self.y)}."
                )
            if np.shape(values) != (n,):
                raise ValueError(
                    f"weights[{name!r}] must have shape ({n},); got {np.shape(values)}."
                )

    def __len__(self) -> int:
        return num_rows(self.x)

    def rows(self, rows: np.ndarray) -> Split:
        """The examples at the integer positions ``rows``, with their targets and weights."""
        weights = None
        if self.weights is not None:
            weights = {name: values[rows] for name, values in self.weights.items()}
        y = {name: values[rows] for name, values in self.y.items()}
        return Split(x=take_rows(self.x, rows), y=y, weights=weights)

    def with_modalities(self, names: Sequence[str]) -> Split:
        """The same examples with only the modalities ``names`` in ``x`` (multi-modal data only).

        A model built for some of the modalities must be given exactly those: Keras matches a dict of
        inputs to the model's inputs by name and refuses extra ones.
        """
        if not isinstance(self.x, dict):
            raise ValueError(
                "with_modalities needs multi-modal data, whose x is a dict of modalities."
            )
        names = list(names)
        unknown = [name for name in names if name not in self.x]
        if not names or unknown:
            raise ValueError(
                f"names must be modalities of this split, from {sorted(self.x)}; got names={names!r}."
            )
        return Split(
            x={name: self.x[name] for name in names}, y=self.y, weights=self.weights
        )

    def _modality(self, name: str) -> np.ndarray:
        if not isinstance(self.x, dict) or name not in self.x:
            modalities = sorted(self.x) if isinstance(self.x, dict) else []
            raise ValueError(
                f"name must be a modality of this split, from {modalities}; got name={name!r}."
            )
        return self.x[name]

    def _replace_modality(self, name: str, values: np.ndarray) -> Split:
        return Split(x={**self.x, name: values}, y=self.y, weights=self.weights)

    @check_types
    def with_missing_modality(
        self, name: str, *, fraction: float = 1.0, seed: int = 0
    ) -> Split:
        """A copy in which modality ``name`` is missing, as all zeros, for a share ``fraction`` of examples.

        All zeros is how the book marks a missing modality: a model built with
        ``build_fusion_model(..., allow_missing=True)`` then leaves that modality out. Which examples lose
        it is drawn with ``seed`` (all of them when ``fraction`` is 1). Taught in
        :doc:`/book/part2_multimodal/04_missing_modalities`.
        """
        seed = check_seed(seed)
        values = self._modality(name)
        fraction = check_number(fraction, "fraction", 1.0, low=0, high=1)
        missing = np.random.default_rng(seed).random(len(self)) < fraction
        shape = (-1,) + (1,) * (values.ndim - 1)
        return self._replace_modality(
            name, np.where(missing.reshape(shape), 0, values).astype(values.dtype)
        )

    @check_types
    def with_noise(self, name: str, level: float, *, seed: int) -> Split:
        """A copy with Gaussian noise added to modality ``name``, of every example.

        The noise's standard deviation is ``level`` times the modality's standard deviation over this
        split (all its entries together), so a level means the same for an image and for a spectrum:
        at level 1 the noise is as large as the signal's spread. Taught in
        :doc:`/book/part2_multimodal/04_missing_modalities`.
        """
        seed = check_seed(seed)
        values = self._modality(name)
        level = check_number(level, "level", 1.0, low=0)
        noise = np.random.default_rng(seed).standard_normal(values.shape)
        noisy = values + level * float(values.std()) * noise
        return self._replace_modality(name, noisy.astype(values.dtype))

    @check_types
    def sample(self, n: int, *, seed: int) -> Split:
        """A random subset of ``n`` examples, drawn without replacement with ``seed``.

        Used to study how a model fares with fewer labelled examples.
        """
        seed = check_seed(seed)
        n = check_int(n, "n", low=1, high=len(self))
        rng = np.random.default_rng(seed)
        return self.rows(np.sort(rng.choice(len(self), size=n, replace=False)))

    @check_types
    def with_missing_labels(self, task: str, n_labelled: int, *, seed: int) -> Split:
        """A copy in which only ``n_labelled`` random examples keep their ``task`` label.

        The other examples keep their inputs and their other tasks' labels. Their ``task`` label is
        replaced by 0 (a finite placeholder, never used) and their weight for ``task`` set to 0, so a
        loss weighted by ``weights`` ignores them.
        """
        seed = check_seed(seed)
        if task not in self.y:
            raise ValueError(
                f"Unknown task {task!r}; this split has targets {sorted(self.y)}."
            )
        n_labelled = check_int(n_labelled, "n_labelled", low=0, high=len(self))
        keep = np.zeros(len(self), dtype=bool)
        rng = np.random.default_rng(seed)
        keep[rng.choice(len(self), size=n_labelled, replace=False)] = True
        weights = {name: np.ones(len(self), np.float32) for name in self.y}
        weights.update(self.weights or {})
        weights[task] = np.where(keep, weights[task], 0.0).astype(np.float32)
        shape = (-1,) + (1,) * (self.y[task].ndim - 1)
        y = dict(self.y)
        y[task] = np.where(keep.reshape(shape), self.y[task], 0).astype(
            self.y[task].dtype
        )
        return Split(x=self.x, y=y, weights=weights)

    def labelled(self, task: str) -> Split:
        """Only the examples that have a ``task`` label (weight above 0), keeping only ``task``."""
        if task not in self.y:
            raise ValueError(
                f"Unknown task {task!r}; this split has targets {sorted(self.y)}."
            )
        present = (
            np.ones(len(self), bool) if self.weights is None else self.weights[task] > 0
        )
        rows = np.flatnonzero(present)
        return Split(x=take_rows(self.x, rows), y={task: self.y[task][rows]})


@dataclass(frozen=True)
class MultiTaskData:
    """A data set split for multi-task learning.

    Attributes:
        tasks: The tasks whose targets ``y`` holds, in order.
        train, val, test: The three splits.
        feature_names: One name per input column.
        target_scaling: For each standardised regression task, the ``(mean, std)`` of its training
            targets, used by :meth:`to_original_units`.
        n_dropped: How many rows of the source were dropped because a value was missing.
    """

    tasks: tuple[Task, ...]
    train: Split
    val: Split
    test: Split
    feature_names: tuple[str, ...]
    target_scaling: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_dropped: int = 0

    def __post_init__(self) -> None:
        check_tasks(self.tasks)
        for name in SPLIT_NAMES:
            split = getattr(self, name)
            check_keys(split.y, self.tasks, f"{name}.y")

    @property
    def input_dim(self) -> int:
        """Number of input features ``d`` (single-input data only; see :attr:`input_shapes`)."""
        if isinstance(self.train.x, dict):
            raise ValueError(
                f"This data set has several modalities {sorted(self.train.x)}; "
                "use input_shapes for the shape of each."
            )
        return int(self.train.x.shape[1])

    def with_modalities(self, names: Sequence[str]) -> MultiTaskData:
        """The same data set with only the modalities ``names`` (see :meth:`Split.with_modalities`)."""
        splits = {
            name: getattr(self, name).with_modalities(names) for name in SPLIT_NAMES
        }
        return replace(self, feature_names=tuple(names), **splits)

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of one example of each modality; ``{"features": (d,)}`` for single-input data."""
        x = self.train.x
        if isinstance(x, dict):
            return {name: tuple(values.shape[1:]) for name, values in x.items()}
        return {"features": tuple(x.shape[1:])}

    def split(self, name: str) -> Split:
        """The split called ``name`` (``"train"``, ``"val"`` or ``"test"``)."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"split name must be one of {SPLIT_NAMES}; got {name!r}.")
        return getattr(self, name)

    def task(self, name: str) -> Task:
        """The :class:`~mtl_tutorial.Task` called ``name``."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise ValueError(
            f"Unknown task {name!r}; this data set has tasks {[t.name for t in self.tasks]}."
        )

    def to_original_units(self, task: str, values: np.ndarray) -> np.ndarray:
        """Undo the standardisation of a regression task's targets or predictions.

        Returns ``values * std + mean`` for a standardised task, ``values`` unchanged otherwise.
        """
        self.task(task)
        if task not in self.target_scaling:
            return np.asarray(values)
        mean, std = self.target_scaling[task]
        return np.asarray(values) * std + mean


@check_types
def stratified_split(
    n: int,
    *,
    labels: np.ndarray | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Seeded row indices for train, validation and test, stratified by ``labels`` when given.

    Args:
        n: Number of rows.
        labels: Class label per row, shape ``(n,)``, or ``None`` for a plain random split.
        val_fraction: Share of all rows for validation, in ``(0, 1)``.
        test_fraction: Share of all rows for testing, in ``(0, 1)``; the two together below 1.
        seed: Seed of the shuffle; the same seed gives the same split.

    Returns:
        ``{"train": idx, "val": idx, "test": idx}``, sorted index arrays that partition ``range(n)``.
    """
    seed = check_seed(seed)
    check_positive_int(n, "n", 100)
    for argument, value in (
        ("val_fraction", val_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0.0 < value < 1.0:
            raise ValueError(
                f"{argument} must lie strictly between 0 and 1; got {value!r}."
            )
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            "val_fraction + test_fraction must leave rows for training (sum below 1); "
            f"got {val_fraction} + {test_fraction}."
        )
    if labels is not None and len(labels) != n:
        raise ValueError(
            f"labels must have one entry per row (n={n}); got {len(labels)} entries."
        )
    index = np.arange(n)
    rest, test = train_test_split(
        index, test_size=test_fraction, random_state=seed, stratify=labels
    )
    rest_labels = None if labels is None else labels[rest]
    train, val = train_test_split(
        rest,
        test_size=val_fraction / (1.0 - test_fraction),
        random_state=seed,
        stratify=rest_labels,
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
