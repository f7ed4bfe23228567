"""Hard parameter sharing: one trunk of dense layers shared by every task, one head per task.

Taught in chapter 1. This generalises the seed post's model (Dense 128 -> Dense 64 shared trunk, a linear
regression head and a softmax classification head) to any set of named tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import check_positive_int, check_types, is_positive_int


@check_types
def build_shared_trunk(
    input_dim: int,
    tasks: Sequence[Task],
    hidden_units: Sequence[int] = (128, 64),
    *,
    activation: str = "relu",
    name: str = "shared_trunk",
) -> keras.Model:
    """Build a multi-task model with a shared trunk and one output head per task.

    Inputs of shape ``(batch, input_dim)`` pass through one ``Dense`` layer per entry
    of ``hidden_units``, shared by all tasks. Each task then has a single ``Dense``
    head named after it, with ``task.output_units`` units and
    ``task.output_activation``. With one task this is the matching single-task
    model, with exactly the same trunk.

    Args:
        input_dim: Number of input features ``d``.
        tasks: The tasks, each getting a head named ``task.name``.
        hidden_units: Width of each shared layer, input side first.
        activation: Activation of the shared layers.
        name: Name of the Keras model.

    Returns:
        A functional ``keras.Model`` whose output is a dict ``{task.name: tensor}``:
        ``(batch, num_classes)`` probabilities for a classification head,
        ``(batch, 1)`` values for a regression head.

    Raises:
        ValueError: if ``input_dim`` or a width is not a positive integer, or
            ``tasks`` is invalid.
    """
    tasks = check_tasks(tasks)
    check_positive_int(input_dim, "input_dim", 5)
    hidden_units = tuple(hidden_units)
    if not all(is_positive_int(u) for u in hidden_units):
        raise ValueError(
            f"hidden_units must be positive integers, e.g. (128, 64); got {hidden_units!r}."
        )

    inputs = keras.Input(shape=(input_dim,), name="features")
    x = inputs
    for i, units in enumerate(hidden_units):
        x = layers.Dense(units, activation=activation, name=f"shared_{i}")(x)
    outputs = {
        task.name: layers.Dense(
            task.output_units, activation=task.output_activation, name=task.name
        )(x)
        for task in tasks
    }
    return keras.Model(inputs=inputs, outputs=outputs, name=name)
