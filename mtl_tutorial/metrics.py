"""Per-task evaluation in the units a reader cares about, and the Δm summary across tasks.

``task_metric`` and ``evaluate_tasks`` are taught in :doc:`/book/part1_multitask/01_why_several_tasks`;
``delta_m`` in :doc:`/book/part1_multitask/02_losses_scales_weights`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
from sklearn.metrics import accuracy_score, mean_absolute_error

from mtl_tutorial.data.splits import MultiTaskData
from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import check_int, check_types


@check_types
def task_metric(task: Task, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The headline metric of ``task``: accuracy for classification, MAE for regression.

    Args:
        task: The task.
        y_true: Class labels of shape ``(n,)`` (classification) or values of shape ``(n,)`` or
            ``(n, 1)`` (regression).
        y_pred: Class probabilities of shape ``(n, num_classes)`` or values of shape ``(n,)`` or
            ``(n, 1)``.

    Raises:
        ValueError: if the shapes do not match what the task produces.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(y_true)
    if task.kind == "classification":
        if y_true.ndim != 1 or y_pred.shape != (n, task.num_classes):
            raise ValueError(
                f"Task {task.name!r}: expected labels of shape (n,) and probabilities of shape "
                f"(n, {task.num_classes}); got y_true {y_true.shape} and y_pred {y_pred.shape}."
            )
        return float(accuracy_score(y_true, y_pred.argmax(axis=1)))
    if y_true.reshape(n, -1).shape != (n, 1) or y_pred.size != n or y_pred.ndim > 2:
        raise ValueError(
            f"Task {task.name!r}: expected targets and predictions of shape (n,) or (n, 1); "
            f"got y_true {y_true.shape} and y_pred {y_pred.shape}."
        )
    return float(mean_absolute_error(y_true.reshape(-1), y_pred.reshape(-1)))


@check_types
def evaluate_tasks(
    model: keras.Model, data: MultiTaskData, split: str = "test"
) -> dict[str, float]:
    """Headline metric of every task the model predicts, on one split, in original units.

    Regression targets and predictions are mapped back through ``data.to_original_units`` first, so a
    body-mass error comes out in grams.

    Returns:
        ``{task name: metric}`` for each output of ``model``.
    """
    part = data.split(split)
    # A direct call, not model.predict: for the book's small test sets it skips tracing a predict
    # function, which costs more than the forward pass itself.
    predictions = model(part.x, training=False)
    if not isinstance(predictions, dict):
        if len(model.output_names) != 1:
            raise ValueError(
                "evaluate_tasks needs a model whose outputs are named after tasks."
            )
        predictions = {model.output_names[0]: predictions}
    predictions = {
        name: keras.ops.convert_to_numpy(value) for name, value in predictions.items()
    }
    scores = {}
    for name, y_pred in predictions.items():
        task = data.task(name)
        y_true = data.to_original_units(name, part.y[name])
        scores[name] = task_metric(task, y_true, data.to_original_units(name, y_pred))
    return scores


@check_types
def delta_m(
    scores: Mapping[str, float], baselines: Mapping[str, float], tasks: Sequence[Task]
) -> float:
    """Mean relative change of a multi-task model over its single-task baselines, in percent.

    ``Δm = (100 / T) * sum_i (-1)**l_i * (M_m,i - M_b,i) / M_b,i`` with ``l_i = 1`` when a lower value
    of task ``i``'s metric is better (Maninis et al. 2019; Vandenhende et al. 2021). Positive is better:
    ``Δm = +2`` means the multi-task model is 2 % better than the baselines on average over tasks.

    Args:
        scores: The multi-task model's metric per task name.
        baselines: The single-task baselines' metric per task name.
        tasks: The tasks to average over; each one's ``higher_is_better`` sets the sign.

    Raises:
        ValueError: if a task is missing from ``scores`` or ``baselines``, or a baseline is zero.
    """
    tasks = check_tasks(tasks)
    changes = []
    for task in tasks:
        for argument, mapping in (("scores", scores), ("baselines", baselines)):
            if task.name not in mapping:
                raise ValueError(
                    f"{argument} has no value for task {task.name!r}; it has {sorted(mapping)}."
                )
        baseline = float(baselines[task.name])
        if baseline == 0.0:
            raise ValueError(
                f"baselines[{task.name!r}] is 0; a relative change needs a non-zero baseline."
            )
        change = (float(scores[task.name]) - baseline) / abs(baseline)
        changes.append(change if task.higher_is_better else -change)
    return 100.0 * float(np.mean(changes))


@check_types
def pareto_front(points: np.ndarray, higher_is_better: Sequence[bool]) -> np.ndarray:
    """Which points no other point dominates (a Pareto front).

    Point ``a`` dominates ``b`` when it is at least as good on every metric and better on one.
    Taught in :doc:`/book/part1_multitask/02_losses_scales_weights`.

    Args:
        points: Array of shape ``(n, k)``: ``n`` models, ``k`` metrics.
        higher_is_better: One flag per metric.

    Returns:
        Boolean array of shape ``(n,)``, True for the non-dominated points.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != len(higher_is_better):
        raise ValueError(
            f"points must have shape (n, {len(higher_is_better)}), one column per flag in "
            f"higher_is_better; got shape {points.shape}."
        )
    signs = np.where(np.asarray(higher_is_better), 1.0, -1.0)
    goodness = points * signs  # larger is better in every column
    at_least = (goodness[:, None, :] >= goodness[None, :, :]).all(axis=2)
    strictly = (goodness[:, None, :] > goodness[None, :, :]).any(axis=2)
    dominated = (at_least & strictly).any(axis=0)
    return ~dominated


@check_types
def recall_at_k(
    queries: np.ndarray,
    candidates: np.ndarray,
    k: int = 1,
    labels: np.ndarray | None = None,
) -> float:
    """Share of queries that find their partner among their ``k`` most similar candidates.

    Row ``i`` of ``queries`` and row ``i`` of ``candidates`` are a pair (e.g. an image and its tone).
    Similarity is the cosine. Without ``labels`` only the partner itself counts as found (ties are broken
    against it); with ``labels`` (one per row), any candidate with the query's label counts, which is the
    right test when pairs of the same class are interchangeable, as two tones of one key are. Taught in
    :doc:`/book/part2_multimodal/05_alignment`. A random embedding scores about ``k / n`` without labels.

    Raises:
        ValueError: if the arrays are not 2-D with the same shape, ``labels`` does not have one entry per
            row, or ``k`` is not an integer in ``[1, n]``.
    """
    queries, candidates = (
        np.asarray(queries, dtype=float),
        np.asarray(candidates, dtype=float),
    )
    if queries.ndim != 2 or queries.shape != candidates.shape:
        raise ValueError(
            "queries and candidates must be 2-D arrays of one shape (pairs in rows); "
            f"got shapes {queries.shape} and {candidates.shape}."
        )
    n = len(queries)
    k = check_int(k, "k", low=1, high=n)
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    c = candidates / np.maximum(
        np.linalg.norm(candidates, axis=1, keepdims=True), 1e-12
    )
    similarity = q @ c.T
    if labels is None:
        partner = np.diag(similarity)
        # The partner's rank: how many candidates are at least as similar, itself excluded.
        rank = (similarity >= partner[:, None]).sum(axis=1) - 1
        return float(np.mean(rank < k))
    labels = np.asarray(labels).ravel()
    if labels.shape != (n,):
        raise ValueError(
            f"labels must have one entry per row ({n}); got shape {labels.shape}."
        )
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return float(np.mean((labels[top] == labels[:, None]).any(axis=1)))
