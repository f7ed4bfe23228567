"""The Palmer penguins, as a multi-task data set.

Taught in :doc:`/book/part1_multitask/01_why_several_tasks`. The data (344 penguins of three species, measured
on three islands of the Palmer Archipelago, 2007-2009; Gorman et al. 2014) ship inside the ``palmerpenguins``
package, so nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import palmerpenguins
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mtl_tutorial.data.splits import SPLIT_NAMES, MultiTaskData, Split, stratified_split
from mtl_tutorial.tasks import Task
from mtl_tutorial.validation import check_seed, check_types

#: Numeric columns and their units.
NUMERIC_COLUMNS: dict[str, str] = {
    "bill_length_mm": "mm",
    "bill_depth_mm": "mm",
    "flipper_length_mm": "mm",
    "body_mass_g": "g",
    "year": "",
}
#: Categorical columns.
CATEGORICAL_COLUMNS: tuple[str, ...] = ("species", "island", "sex")
#: The inputs used when ``features`` is not given (minus any column chosen as a task).
DEFAULT_FEATURES: tuple[str, ...] = (
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "sex",
)


@check_types
def load_penguins(
    tasks: Sequence[str] = ("species", "body_mass_g"),
    features: Sequence[str] | None = None,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    standardize_targets: bool = True,
) -> MultiTaskData:
    """Load the Palmer penguins as a seeded, stratified, standardised multi-task data set.

    Categorical columns (``species``, ``island``, ``sex``) become classification tasks or one-hot
    inputs; numeric columns become regression tasks or standardised inputs.

    Missing values are handled explicitly: every row with a missing value in any column used (as a task
    or a feature) is dropped before splitting, and the count is kept in ``n_dropped``. With the
    defaults that drops 11 of 344 rows (2 penguins were never measured, 9 more have no recorded sex).

    The split is stratified by the first classification task, if any. Input standardisation (and target
    standardisation of regression tasks, when ``standardize_targets``) is fitted on the training rows
    only, so nothing about the validation or test rows leaks into training.

    Args:
        tasks: Columns to predict, e.g. ``("species", "body_mass_g")``.
        features: Input columns; default :data:`~mtl_tutorial.data.penguins.DEFAULT_FEATURES`
            without the task columns.
        seed: Seed of the split.
        val_fraction: Share of rows for validation.
        test_fraction: Share of rows for testing.
        standardize_targets: Standardise regression targets to mean 0 and standard deviation 1 on the
            training rows; ``data.to_original_units`` converts back.

    Returns:
        A :class:`~mtl_tutorial.data.MultiTaskData` whose ``x`` has shape ``(n, d)`` and whose ``y``
        is keyed by task name.

    Raises:
        ValueError: for an unknown column, a column that is both task and feature, or no features.
    """
    seed = check_seed(seed)
    known = (*NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS)
    tasks = _check_columns(tasks, "tasks", known)
    features = (
        tuple(c for c in DEFAULT_FEATURES if c not in tasks)
        if features is None
        else features
    )
    features = _check_columns(features, "features", known)
    both = sorted(set(tasks) & set(features))
    if both:
        raise ValueError(
            f"Columns {both} are in both tasks and features; a target cannot be an input."
        )

    frame = palmerpenguins.load_penguins()
    n_rows = len(frame)
    frame = frame.dropna(subset=[*tasks, *features]).reset_index(drop=True)
    categories = {c: sorted(frame[c].dropna().unique()) for c in CATEGORICAL_COLUMNS}

    task_specs = tuple(_make_task(column, categories) for column in tasks)
    strata = next(
        (frame[t.name].to_numpy() for t in task_specs if t.kind == "classification"),
        None,
    )
    rows = stratified_split(
        len(frame),
        labels=strata,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )

    numeric = [c for c in features if c in NUMERIC_COLUMNS]
    categorical = [c for c in features if c in CATEGORICAL_COLUMNS]
    encoder = ColumnTransformer(
        [
            ("numeric", StandardScaler(), numeric),
            (
                "categorical",
                _one_hot([categories[c] for c in categorical]),
                categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )
    encoder.fit(frame.iloc[rows["train"]])

    scaling = {}
    if standardize_targets:
        for task in task_specs:
            if task.kind == "regression":
                train_values = frame[task.name].to_numpy(dtype=float)[rows["train"]]
                scaling[task.name] = (
                    float(train_values.mean()),
                    float(train_values.std()),
                )

    splits = {}
    for name in SPLIT_NAMES:
        part = frame.iloc[rows[name]]
        x = encoder.transform(part).astype(np.float32)
        y = {
            task.name: _encode_target(part[task.name], task, categories, scaling)
            for task in task_specs
        }
        splits[name] = Split(x=x, y=y)
    return MultiTaskData(
        tasks=task_specs,
        feature_names=tuple(str(n) for n in encoder.get_feature_names_out()),
        target_scaling=scaling,
        n_dropped=n_rows - len(frame),
        **splits,
    )


def _check_columns(
    columns: Sequence[str], argument: str, known: Sequence[str]
) -> tuple[str, ...]:
    columns = tuple(columns)
    if not columns:
        raise ValueError(
            f"{argument} must name at least one column of {list(known)}; got none."
        )
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ValueError(
            f"Unknown {argument} {unknown}; the penguins have columns {list(known)}."
        )
    if len(set(columns)) != len(columns):
        raise ValueError(f"{argument} repeats a column: {list(columns)}.")
    return columns


def _make_task(column: str, categories: dict[str, list[str]]) -> Task:
    if column in CATEGORICAL_COLUMNS:
        names = tuple(categories[column])
        return Task(column, "classification", num_classes=len(names), class_names=names)
    return Task(column, "regression", unit=NUMERIC_COLUMNS[column])


def _one_hot(categories: list[list[str]]) -> OneHotEncoder:
    return OneHotEncoder(
        categories=categories, sparse_output=False, handle_unknown="error"
    )


def _encode_target(values, task: Task, categories, scaling) -> np.ndarray:
    if task.kind == "classification":
        codes = {name: i for i, name in enumerate(categories[task.name])}
        return values.map(codes).to_numpy(dtype=np.int32)
    column = values.to_numpy(dtype=np.float64).reshape(-1, 1)
    if task.name in scaling:
        mean, std = scaling[task.name]
        column = (column - mean) / std
    return column.astype(np.float32)
