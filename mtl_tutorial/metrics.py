"""Per-task evaluation in the units a reader cares about (accuracy, error in grams).

Taught in chapter 1.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.metrics import accuracy_score, mean_absolute_error

from mtl_tutorial.data.splits import MultiTaskData
from mtl_tutorial.tasks import Task


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
