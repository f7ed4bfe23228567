"""The task-specific end of every model: an optional tower and a head per task.

Every builder of :mod:`mtl_tutorial.models` ends with :func:`towers_and_heads`, so that every model names
its outputs after the tasks, in the tasks' order, and keeps them in float32 under mixed precision. The
shared trunk and the post's model have no towers; the architectures of the chapter 'Architectures beyond
one shared trunk' have small ones (8 units by default, after the synthetic experiments of the MMoE paper),
and the multi-modal models towers of 16 units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import layers

from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import check_positive_int


def towers_and_heads(
    features: keras.KerasTensor | Mapping[str, keras.KerasTensor],
    tasks: Sequence[Task],
    tower_units: int | None,
    *,
    suffix: str = "",
    logits: bool = False,
) -> dict[str, keras.KerasTensor]:
    """Each task's tower ``Dense(tower_units, relu)`` and head, on its features.

    For each task in order, the tower named ``"<task>_tower<suffix>"`` is created, then the head
    ``Dense(task.output_units, task.output_activation)`` named ``"<task><suffix>"``. Heads compute in float32
    (``dtype="float32"``): under the default float32 policy that changes nothing, and under a mixed
    precision policy such as ``"mixed_bfloat16"`` the outputs, and so the losses and metrics, stay float32.

    Args:
        features: The tensor every task reads, or one tensor per task keyed by task name.
        tasks: The tasks, in the order their layers are created.
        tower_units: Width of each task's tower; ``None`` for no tower (the head reads the features).
        suffix: Appended to every layer's name (late fusion's per-modality heads, ``"_from_<modality>"``).
        logits: If true, every head is linear: a classification head gives logits instead of
            probabilities (late fusion that sums the modalities' logits, ``late_combine="logits"``).

    Returns:
        ``{task.name: output}``, in the order of ``tasks``.
    """
    outputs = {}
    for task in tasks:
        x = features[task.name] if isinstance(features, Mapping) else features
        if tower_units is not None:
            tower = layers.Dense(
                tower_units, activation="relu", name=f"{task.name}_tower{suffix}"
            )
            x = tower(x)
        head = layers.Dense(
            task.output_units,
            activation=None if logits else task.output_activation,
            name=f"{task.name}{suffix}",
            dtype="float32",  # outputs stay float32 under mixed precision (Part III)
        )
        outputs[task.name] = head(x)
    return outputs


def check_builder_arguments(
    input_dim: object, tasks: Sequence[Task], tower_units: object
) -> tuple[tuple[Task, ...], int, int]:
    """Validate what every builder of a model on one input of features takes.

    Returns:
        ``(tasks, input_dim, tower_units)``: the tasks as a tuple, the sizes as Python ints (Keras refuses
        NumPy integers as layer sizes).

    Raises:
        ValueError: if ``tasks`` is invalid, or ``input_dim`` or ``tower_units`` is not a positive integer.
    """
    tasks = check_tasks(tasks)
    input_dim = check_positive_int(input_dim, "input_dim", 10)
    tower_units = check_positive_int(tower_units, "tower_units", 8)
    return tasks, input_dim, tower_units
