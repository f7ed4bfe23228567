"""Functional multi-task models beyond one shared trunk: shared bottom, cross-stitch, OMoE/MMoE, PLE.

Taught in the chapter 'Architectures beyond one shared trunk'. Every builder takes the input width and
the tasks and returns a ``keras.Model`` whose output is a dict keyed by task name, like
:func:`mtl_tutorial.models.build_shared_trunk`, so the same training and evaluation code runs on all
of them. Every task ends in a small tower ``Dense(tower_units, relu)`` (named ``"<task>_tower"``)
and a head named after the task. The defaults are small, after the synthetic experiments of the
MMoE paper (8 experts of 16 units, towers of 8 units), so that the models train on a CPU in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import layers

from mtl_tutorial.models.cross_stitch import CrossStitch, check_identity_weight
from mtl_tutorial.models.moe import MixtureOfExperts
from mtl_tutorial.models.ple import CustomizedGateControl
from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import check_positive_int, check_types, is_positive_int


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

    Taught in the chapter 'Architectures beyond one shared trunk'.

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
    tasks = _check_common(input_dim, tasks, tower_units)
    check_positive_int(bottom_units, "bottom_units", 128)
    inputs = keras.Input(shape=(input_dim,), name="features")
    bottom = layers.Dense(bottom_units, activation="relu", name="shared_bottom")
    shared = bottom(inputs)
    outputs = _towers_and_heads(
        {task.name: shared for task in tasks}, tasks, tower_units
    )
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


@check_types
def build_cross_stitch(
    input_dim: int,
    tasks: Sequence[Task],
    hidden_units: Sequence[int] = (32, 16),
    tower_units: int = 8,
    identity_weight: float = 0.9,
    *,
    name: str = "cross_stitch",
) -> keras.Model:
    """Build a cross-stitch network: one column per task, stitched after every level.

    Task ``k``'s column has one ``Dense(units, relu)`` per entry of
    ``hidden_units``, named ``"<task>_hidden_<i>"``; after level ``i`` a
    :class:`CrossStitch` layer named ``"cross_stitch_<i>"`` mixes the columns
    (Misra et al., CVPR 2016). With ``identity_weight=1.0`` the model starts as
    separate single-task networks. With one task there is nothing to stitch: the
    model is that task's column alone, the matching single-task network.

    Taught in the chapter 'Architectures beyond one shared trunk'.

    Args:
        input_dim: Number of input features ``d``.
        tasks: The tasks, each getting a column, a tower and a head.
        hidden_units: Width of each level of the columns, input side first.
        tower_units: Width of each task's tower.
        identity_weight: Initial diagonal of every cross-stitch matrix.
        name: Name of the Keras model.

    Returns:
        A functional ``keras.Model`` whose output is a dict ``{task.name: tensor}``.

    Raises:
        ValueError: if a width is not a positive integer, ``identity_weight`` is
            not in ``[0, 1]`` or ``tasks`` is invalid.
    """
    tasks = _check_common(input_dim, tasks, tower_units)
    hidden_units = tuple(hidden_units)
    if not hidden_units or not all(is_positive_int(u) for u in hidden_units):
        raise ValueError(
            "hidden_units must be one or more positive integers, e.g. (32, 16); "
            f"got hidden_units={hidden_units!r}."
        )
    check_identity_weight(identity_weight)
    inputs = keras.Input(shape=(input_dim,), name="features")
    columns = [inputs] * len(tasks)
    for i, units in enumerate(hidden_units):
        columns = [
            layers.Dense(units, activation="relu", name=f"{task.name}_hidden_{i}")(x)
            for task, x in zip(tasks, columns, strict=True)
        ]
        if len(tasks) > 1:
            stitch = CrossStitch(identity_weight, name=f"cross_stitch_{i}")
            columns = stitch(columns)
    features = {task.name: x for task, x in zip(tasks, columns, strict=True)}
    outputs = _towers_and_heads(features, tasks, tower_units)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


@check_types
def build_mixture_of_experts(
    input_dim: int,
    tasks: Sequence[Task],
    num_experts: int = 8,
    expert_units: int = 16,
    tower_units: int = 8,
    multi_gate: bool = True,
    *,
    name: str | None = None,
) -> keras.Model:
    """Build MMoE (one gate per task) or OMoE (one gate for all tasks).

    A :class:`MixtureOfExperts` layer named ``"experts"`` reads the features
    (Ma et al., KDD 2018). With ``multi_gate=True`` it has one gate per task and
    task ``k``'s tower reads mixture ``k``; with ``multi_gate=False`` it has one
    gate and every tower reads the same mixture. Read the gates with
    ``model.get_layer("experts").gate_weights(x)``, in task order.

    Taught in the chapter 'Architectures beyond one shared trunk'.

    Args:
        input_dim: Number of input features ``d``.
        tasks: The tasks, each getting a tower and a head named ``task.name``.
        num_experts: Number of experts.
        expert_units: Width of each expert.
        tower_units: Width of each task's tower.
        multi_gate: One gate per task (MMoE) or one shared gate (OMoE).
        name: Name of the Keras model; default ``"mmoe"`` or ``"omoe"``.

    Returns:
        A functional ``keras.Model`` whose output is a dict ``{task.name: tensor}``.

    Raises:
        ValueError: if a count is not a positive integer, ``multi_gate`` is not a
            bool or ``tasks`` is invalid.
    """
    tasks = _check_common(input_dim, tasks, tower_units)
    if not isinstance(multi_gate, bool):
        raise ValueError(
            f"multi_gate must be True (MMoE) or False (OMoE); got multi_gate={multi_gate!r}."
        )
    num_gates = len(tasks) if multi_gate else 1
    experts = MixtureOfExperts(num_experts, expert_units, num_gates, name="experts")
    inputs = keras.Input(shape=(input_dim,), name="features")
    mixtures = experts(inputs)
    features = {
        task.name: mixtures[k if multi_gate else 0] for k, task in enumerate(tasks)
    }
    outputs = _towers_and_heads(features, tasks, tower_units)
    default_name = "mmoe" if multi_gate else "omoe"
    return keras.Model(inputs=inputs, outputs=outputs, name=name or default_name)


@check_types
def build_ple(
    input_dim: int,
    tasks: Sequence[Task],
    num_levels: int = 2,
    num_shared_experts: int = 4,
    num_task_experts: int = 2,
    expert_units: int = 16,
    tower_units: int = 8,
    *,
    name: str = "ple",
) -> keras.Model:
    """Build Progressive Layered Extraction: ``num_levels`` stacked CGC levels.

    Level ``i`` is a :class:`CustomizedGateControl` layer named ``"cgc_<i>"``
    (Tang et al., RecSys 2020). Every level but the last also outputs the
    shared gate's mixture, which the next level's shared experts read; the
    last level outputs one mixture per task, read by the task's tower.
    ``num_levels=1`` is CGC. With two tasks, the defaults give each level as
    many experts as the default MMoE (2 x 2 own + 4 shared = 8).

    Taught in the chapter 'Architectures beyond one shared trunk'.

    Args:
        input_dim: Number of input features ``d``.
        tasks: The tasks, each getting experts, a gate, a tower and a head.
        num_levels: Number of CGC levels.
        num_shared_experts: Shared experts per level.
        num_task_experts: Experts of each task per level.
        expert_units: Width of each expert.
        tower_units: Width of each task's tower.
        name: Name of the Keras model.

    Returns:
        A functional ``keras.Model`` whose output is a dict ``{task.name: tensor}``.

    Raises:
        ValueError: if a count is not a positive integer or ``tasks`` is invalid.
    """
    tasks = _check_common(input_dim, tasks, tower_units)
    check_positive_int(num_levels, "num_levels", 2)
    inputs = keras.Input(shape=(input_dim,), name="features")
    x = inputs
    for level in range(num_levels):
        cgc = CustomizedGateControl(
            num_tasks=len(tasks),
            num_shared_experts=num_shared_experts,
            num_task_experts=num_task_experts,
            expert_units=expert_units,
            output_shared=level < num_levels - 1,
            name=f"cgc_{level}",
        )
        x = cgc(x)
    features = {task.name: x[k] for k, task in enumerate(tasks)}
    outputs = _towers_and_heads(features, tasks, tower_units)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


def _towers_and_heads(
    features: Mapping[str, keras.KerasTensor], tasks: Sequence[Task], tower_units: int
) -> dict[str, keras.KerasTensor]:
    """Each task's tower ``Dense(tower_units, relu)`` and head, on its features."""
    outputs = {}
    for task in tasks:
        tower = layers.Dense(tower_units, activation="relu", name=f"{task.name}_tower")
        head = layers.Dense(
            task.output_units, activation=task.output_activation, name=task.name
        )
        outputs[task.name] = head(tower(features[task.name]))
    return outputs


def _check_common(
    input_dim: object, tasks: Sequence[Task], tower_units: object
) -> tuple[Task, ...]:
    """Validate the arguments every builder takes; return the tasks as a tuple."""
    tasks = check_tasks(tasks)
    check_positive_int(input_dim, "input_dim", 10)
    check_positive_int(tower_units, "tower_units", 8)
    return tasks
