"""Synthetic regression tasks whose relatedness is set by one number.

Taught in :doc:`/book/part1_multitask/03_task_relatedness`. This is the generator of Ma et al.
(KDD 2018, section 3.2), used there to show that a shared-bottom model suffers as tasks become less related.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtl_tutorial.data.splits import SPLIT_NAMES, MultiTaskData, Split, stratified_split
from mtl_tutorial.tasks import Task
from mtl_tutorial.validation import check_int, check_seed, check_types


@check_types
def task_directions(
    correlation: float,
    *,
    num_tasks: int = 2,
    input_dim: int = 100,
    scale: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """The tasks' directions ``w_k`` (their targets' weight vectors), with cosine ``correlation`` to ``w_1``.

    Draws orthonormal ``u_1, ..., u_K`` (a QR decomposition of a Gaussian matrix) and sets

    - ``w_1 = c * u_1``
    - ``w_k = c * (p * u_1 + sqrt(1 - p**2) * u_k)`` for ``k >= 2``,

    so ``cos(w_1, w_k) = p`` exactly. With two tasks this is the paper's construction. With more, tasks
    ``j, k >= 2`` have ``cos(w_j, w_k) = p**2``.

    Returns:
        Array of shape ``(num_tasks, input_dim)``.
    """
    seed = check_seed(seed)
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(
            f"correlation must lie in [-1, 1]; got correlation={correlation!r}."
        )
    num_tasks = check_int(num_tasks, "num_tasks", low=1)
    if input_dim < num_tasks:
        raise ValueError(
            f"input_dim must be an integer of at least num_tasks={num_tasks} (one orthogonal direction "
            f"per task); got input_dim={input_dim!r}."
        )
    if scale <= 0:
        raise ValueError(f"scale must be positive; got scale={scale!r}.")
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((input_dim, num_tasks)))
    u = basis.T  # (num_tasks, input_dim), orthonormal rows
    weights = np.empty_like(u)
    weights[0] = u[0]
    weights[1:] = correlation * u[0] + np.sqrt(1.0 - correlation**2) * u[1:]
    return scale * weights


@check_types
def make_correlated_tasks(
    n_samples: int = 10_000,
    correlation: float = 0.5,
    *,
    num_tasks: int = 2,
    input_dim: int = 100,
    scale: float = 1.0,
    num_sines: int = 10,
    noise_std: float | Sequence[float] = 0.1,
    label_scales: Sequence[float] | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    standardize_targets: bool = True,
) -> MultiTaskData:
    """Regression tasks with controllable relatedness (Ma et al. 2018, section 3.2).

    With ``W = task_directions(correlation, ...)``, inputs ``x ~ N(0, I_d)`` and, for task ``k``,

    ``y_k = w_k.x + sum_{i=1..m} sin(alpha_i * w_k.x + beta_i) + eps``, ``eps ~ N(0, noise_std**2)``,

    then, if ``label_scales`` is given, ``y_k <- label_scales[k] * y_k`` (so task ``k``'s noise has standard
    deviation ``label_scales[k] * noise_std[k]`` in its own units),

    with ``alpha_i = i``, ``beta_i = i**2`` and ``m = num_sines``. The paper gives no values for them; a
    public re-implementation from Google Research uses ``beta_i = (i - 1)**2``, offsets from 0.
    ``correlation`` is the cosine of the tasks' weight vectors, not the correlation of their labels: the
    sines make the labels' Pearson correlation much lower than ``correlation``.

    Args:
        n_samples: Number of examples before splitting.
        correlation: ``p``, the cosine similarity of ``w_1`` and every other ``w_k``, in ``[-1, 1]``.
        num_tasks: Number of tasks ``K``; they are named ``task_1, ..., task_K``.
        input_dim: ``d``.
        scale: ``c``, the norm of every ``w_k``.
        num_sines: ``m``; 0 gives purely linear tasks.
        noise_std: Standard deviation of the label noise (the paper's variance 0.01 is ``0.1``), one
            for all tasks or one per task.
        label_scales: Optional factor per task by which its labels are multiplied, to give tasks
            mismatched scales (use with ``standardize_targets=False``).
        seed: Seed of the weights, inputs, noise and split.
        val_fraction, test_fraction: Shares of examples for validation and testing.
        standardize_targets: Standardise each task's labels on the training rows.

    Returns:
        A :class:`~mtl_tutorial.data.MultiTaskData` with ``x`` of shape ``(n, input_dim)`` and
        regression targets of shape ``(n, 1)`` keyed ``task_1, ..., task_K``.
    """
    seed = check_seed(seed)
    n_samples = check_int(n_samples, "n_samples", low=10)
    num_sines = check_int(num_sines, "num_sines", low=0)
    weights = task_directions(
        correlation, num_tasks=num_tasks, input_dim=input_dim, scale=scale, seed=seed
    )
    noise = np.asarray(noise_std, dtype=float)
    if noise.ndim == 0:
        noise = np.full(num_tasks, float(noise))
    if noise.shape != (num_tasks,) or not np.all(noise >= 0):
        raise ValueError(
            f"noise_std must be one non-negative number or one per task ({num_tasks}); "
            f"got noise_std={noise_std!r}."
        )
    scales = (
        np.ones(num_tasks)
        if label_scales is None
        else np.asarray(label_scales, dtype=float)
    )
    if scales.shape != (num_tasks,) or not np.all(scales > 0):
        raise ValueError(
            f"label_scales must give one positive number per task ({num_tasks}); "
            f"got label_scales={label_scales!r}."
        )
    rng = np.random.default_rng([seed, 1])
    x = rng.standard_normal((n_samples, input_dim))
    projections = x @ weights.T  # (n, K)
    labels = projections.copy()
    for i in range(1, num_sines + 1):
        labels += np.sin(i * projections + i**2)
    labels += noise * rng.standard_normal(labels.shape)
    labels *= scales

    tasks = tuple(Task(f"task_{k + 1}", "regression") for k in range(num_tasks))
    rows = stratified_split(
        n_samples,
        labels=None,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    scaling = {}
    if standardize_targets:
        train = labels[rows["train"]]
        scaling = {
            t.name: (float(train[:, k].mean()), float(train[:, k].std()))
            for k, t in enumerate(tasks)
        }
    splits = {}
    for name in SPLIT_NAMES:
        part = rows[name]
        y = {}
        for k, task in enumerate(tasks):
            column = labels[part, k : k + 1]
            if task.name in scaling:
                mean, std = scaling[task.name]
                column = (column - mean) / std
            y[task.name] = column.astype(np.float32)
        splits[name] = Split(x=x[part].astype(np.float32), y=y)
    return MultiTaskData(
        tasks=tasks,
        feature_names=tuple(f"x_{j + 1}" for j in range(input_dim)),
        target_scaling=scaling,
        **splits,
    )


@check_types
def label_correlation(data: MultiTaskData, split: str = "train") -> float:
    """Pearson correlation between the labels of the first two tasks on one split."""
    part = data.split(split)
    names = [t.name for t in data.tasks]
    if len(names) < 2:
        raise ValueError(
            f"label_correlation needs at least two tasks; the data have {names}."
        )
    first, second = part.y[names[0]].ravel(), part.y[names[1]].ravel()
    return float(np.corrcoef(first, second)[0, 1])
