"""Hard parameter sharing: layers shared by every task, then each task's own head.

``build_shared_trunk`` (taught in :doc:`/book/part1_multitask/01_why_several_tasks`) generalises the blog
post's model (Dense 128 -> Dense 64 shared trunk, a linear regression head and a softmax classification head)
to any set of named tasks. ``build_shared_bottom`` (taught in :doc:`/book/part1_multitask/04_architectures`)
is the baseline of the mixtures of experts: one shared layer, then a small tower and a head per task.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from mtl_tutorial.models.heads import check_builder_arguments, towers_and_heads
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
    input_dim = check_positive_int(input_dim, "input_dim", 5)
    hidden_units = tuple(hidden_units)
    if not all(is_positive_int(u) for u in hidden_units):
        raise ValueError(
            f"hidden_units must be positive integers, e.g. (128, 64); got {hidden_units!r}."
        )
    hidden_units = tuple(int(u) for u in hidden_units)

    inputs = keras.Input(shape=(input_dim,), name="features")
    x = inputs
    for i, units in enumerate(hidden_units):
        x = layers.Dense(units, activation=activation, name=f"shared_{i}")(x)
    outputs = towers_and_heads(
        x, tasks, tower_units=None
    )  # no tower: heads read the trunk
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


@check_types
def build_shared_bottom(
    input_dim: int,
    tasks: Sequence[Task],
    bottom_units: int = 128,
    tower_units: int = 8,
    *,
    name: str = "shared_bottom",
) -> keras.Model:
    """Build the shared-bottom baseline: one shared ``Dense`` layer, then a tower per task.

    ``features (batch, input_dim) -> Dense(bottom_units, relu)`` named
    ``"shared_bottom"``, read by every task's tower and head. This is the
    baseline of Ma et al. (KDD 2018). The default width, 128, is the total
    width of the default mixture's experts (8 x 16 units), so the bottom has
    as many weights as those experts (their gates aside); its towers read 128
    features rather than 16, so the whole model is somewhat larger.

    Taught in :doc:`/book/part1_multitask/04_architectures`.

    Args:
        input_dim: Number of input features ``d``.
        tasks: The tasks, each getting a tower and a head named ``task.name``.
        bottom_units: Width of the shared layer.
        tower_units: Width of each task's tower.
        name: Name of the Keras model.

    Returns:
        A functional ``keras.Model`` whose output is a dict ``{task.name: tensor}``
        of shape ``(batch, task.output_units)``.

    Raises:
        ValueError: if a width is not a positive integer or ``tasks`` is invalid.
    """
    tasks, input_dim, tower_units = check_builder_arguments(
        input_dim, tasks, tower_units
    )
    bottom_units = check_positive_int(bottom_units, "bottom_units", 128)
    inputs = keras.Input(shape=(input_dim,), name="features")
    bottom = layers.Dense(bottom_units, activation="relu", name="shared_bottom")
    shared = bottom(inputs)
    outputs = towers_and_heads(shared, tasks, tower_units)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)
