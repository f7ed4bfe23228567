"""The blog post's combined model, and the capstone that Part III grows from it.

Taught in :doc:`/book/part3_together/01_many_tasks_many_modalities`. :func:`build_post_model` reproduces the
last code sample of the post the book grew from: two inputs, a small encoder each, one ``Dense`` layer applied
to both branches (tied weights), a branch-specific layer each, a regression head on the first branch and a
softmax classification head on the second. :func:`build_capstone` is where the chapter ends: every task
reads both modalities, fused, with modality dropout and a loss-weighting rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import layers

from mtl_tutorial.models.heads import towers_and_heads
from mtl_tutorial.models.multimodal import build_fusion_model
from mtl_tutorial.multitask_model import MultiTaskModel
from mtl_tutorial.rules import Rule
from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import check_types


def _two_modalities(input_shapes) -> list[str]:
    if len(input_shapes) != 2:
        raise ValueError(
            "input_shapes must map exactly two modalities' names to their shapes, e.g. "
            f"{{'image': (8, 8, 1), 'audio': (65,)}}; got input_shapes={input_shapes!r}."
        )
    return list(input_shapes)


@check_types
def build_post_model(
    input_shapes: Mapping[str, Sequence[int]],
    regression: Task,
    classification: Task,
    *,
    fuse: bool = False,
    name: str = "post_model",
) -> keras.Model:
    """The blog post's two-input, two-task model, with its layer names and sizes.

    The first modality of ``input_shapes`` is the seed's ``input1`` and feeds the regression head; the
    second is ``input2`` and feeds the classification head. Inputs with more than one axis are flattened
    first (the seed's inputs are vectors of 10 features). Layers: ``Dense(5, relu)`` per input
    (``data1_encoder``, ``data2_encoder``); ``Dense(32, relu)`` named ``shared_encoder``, applied to both
    branches (one set of weights); ``Dense(10, relu)`` per branch (``feature1_encoder``,
    ``feature2_encoder``); the heads, named after the tasks.

    Args:
        input_shapes: Shapes of the two modalities, in the order input1, input2.
        regression: The regression task (the seed's ``regression_output``).
        classification: The classification task (the seed's ``classification_output``).
        fuse: The first improvement of Part III: if true, both heads read the concatenation of the two
            branches' ``Dense(10)`` outputs instead of one branch each.
        name: The model's name.

    Returns:
        A functional model from a dict of the two inputs to a dict of the two tasks' outputs.

    Raises:
        ValueError: for other than two modalities, or tasks of the wrong kinds.
    """
    first, second = _two_modalities(input_shapes)
    regression, classification = check_tasks([regression, classification])
    if regression.kind != "regression" or classification.kind != "classification":
        raise ValueError(
            "regression must be a regression task and classification a classification task; got "
            f"{regression.name!r} ({regression.kind}) and {classification.name!r} ({classification.kind})."
        )
    shared_layer = layers.Dense(32, activation="relu", name="shared_encoder")
    inputs = {m: keras.Input(tuple(input_shapes[m]), name=m) for m in (first, second)}
    flat = [
        layers.Flatten(name=f"{m}_flat")(inputs[m])
        if len(input_shapes[m]) > 1
        else inputs[m]
        for m in (first, second)
    ]
    feature1 = layers.Dense(5, activation="relu", name="data1_encoder")(flat[0])
    feature2 = layers.Dense(5, activation="relu", name="data2_encoder")(flat[1])
    x1 = shared_layer(feature1)
    x2 = shared_layer(feature2)
    x1_output = layers.Dense(10, activation="relu", name="feature1_encoder")(x1)
    x2_output = layers.Dense(10, activation="relu", name="feature2_encoder")(x2)
    if fuse:
        x1_output = x2_output = layers.Concatenate(name="fused")([x1_output, x2_output])
    # No towers: the regression head reads branch 1, the classifier branch 2 (both fused if fuse).
    branches = {regression.name: x1_output, classification.name: x2_output}
    outputs = towers_and_heads(branches, (regression, classification), tower_units=None)
    return keras.Model(inputs, outputs, name=name)


@check_types
def build_capstone(
    input_shapes: Mapping[str, Sequence[int]],
    tasks: Sequence[Task],
    *,
    fusion: str = "intermediate",
    modality_dropout: float = 0.5,
    rule: Rule | None = None,
    units: int = 32,
    tower_units: int = 16,
) -> MultiTaskModel:
    """Part III's capstone: every task reads every modality, fused, robust to a missing modality.

    A :func:`~mtl_tutorial.models.build_fusion_model` network (an encoder per modality, the chosen
    fusion, a tower and head per task) built with ``allow_missing=True``, so a modality given as all zeros
    counts as missing, and with modality dropout, wrapped in a
    :class:`~mtl_tutorial.multitask_model.MultiTaskModel` whose ``rule`` weights the tasks' losses. The
    defaults are the chapter's choices: concatenation (Part II, "Fusion"), modality dropout at 0.5 (Part II,
    "Missing and noisy modalities") and, unless given, equal weights (see the chapter for why).

    Args:
        input_shapes: Shape of one example of each modality, keyed by name (``data.input_shapes``).
        tasks: The tasks.
        fusion: A fusion strategy of :data:`~mtl_tutorial.models.FUSIONS` other than ``"early"``.
        modality_dropout: Rate of modality dropout in training, in ``[0, 1)``.
        rule: A :mod:`~mtl_tutorial.rules` rule; default ``Equal()``.
        units, tower_units: Widths of the encoders and of the task towers.

    Returns:
        A ``MultiTaskModel``, not yet compiled (use ``mtl.training.compile_for_tasks``).
    """
    network = build_fusion_model(
        input_shapes,
        tasks,
        fusion,
        units=units,
        tower_units=tower_units,
        modality_dropout=modality_dropout,
        allow_missing=True,
        name="capstone_network",
    )
    return MultiTaskModel(network, tasks, rule=rule, name="capstone")
