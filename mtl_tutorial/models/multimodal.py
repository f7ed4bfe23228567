"""Multi-modal models: one encoder per modality, a fusion strategy, a tower and head per task.

Taught in Part II. ``build_fusion_model`` builds every fusion strategy the chapters compare from the same
parts, so that a comparison changes only the way the modalities meet:

- ``"early"``: the modalities' raw inputs are flattened and concatenated, then one shared network reads
  them (input-level fusion);
- ``"intermediate"``: each modality has its own encoder; their features are concatenated (feature-level);
- ``"late"``: each modality has its own encoder *and its own heads*; the tasks' predictions are averaged
  over modalities (decision-level: the modalities never see each other);
- ``"gmu"``: encoders, then a :class:`~mtl_tutorial.models.GatedMultimodalUnit` (two modalities);
- ``"tensor"``: encoders, then :class:`~mtl_tutorial.models.TensorFusion` and a ``Dense`` layer;
- ``"attention"``: encoders whose features are cut into tokens, each modality attending to the other with
  :class:`~mtl_tutorial.models.CrossModalAttention`, then pooled and concatenated.

With one modality in ``input_shapes`` every strategy reduces to that modality's encoder and the tasks'
heads: the single-modality baseline. With ``allow_missing=True`` a modality given as all zeros counts as
missing (Part II, "Missing and noisy modalities").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import layers

from mtl_tutorial.models.fusion import (
    CrossModalAttention,
    GatedMultimodalUnit,
    ModalityDropout,
    ModalityPresence,
    PresentAverage,
    TensorFusion,
)
from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import check_number, check_positive_int, check_types

#: The fusion strategies :func:`build_fusion_model` knows, from earliest to latest.
FUSIONS: tuple[str, ...] = (
    "early",
    "intermediate",
    "late",
    "gmu",
    "tensor",
    "attention",
)


@check_types
def modality_encoder(shape: Sequence[int], units: int, name: str) -> keras.Model:
    """A small encoder for one modality: flatten, then ``Dense(units, relu)`` twice."""
    check_positive_int(units, "units", 32)
    inputs = keras.Input(tuple(shape), name=f"{name}_input")
    x = layers.Flatten()(inputs) if len(shape) > 1 else inputs
    x = layers.Dense(units, activation="relu", name=f"{name}_dense_1")(x)
    x = layers.Dense(units, activation="relu", name=f"{name}_dense_2")(x)
    return keras.Model(inputs, x, name=f"{name}_encoder")


def _heads(features, tasks: Sequence[Task], tower_units: int, suffix: str = "") -> dict:
    outputs = {}
    for task in tasks:
        tower = layers.Dense(
            tower_units, activation="relu", name=f"{task.name}_tower{suffix}"
        )
        head = layers.Dense(
            task.output_units,
            activation=task.output_activation,
            name=f"{task.name}{suffix}",
            dtype="float32",  # outputs stay float32 under mixed precision (Part III)
        )
        outputs[task.name] = head(tower(features))
    return outputs


@check_types
def build_fusion_model(
    input_shapes: Mapping[str, Sequence[int]],
    tasks: Sequence[Task],
    fusion: str = "intermediate",
    *,
    units: int = 32,
    tower_units: int = 16,
    modality_dropout: float = 0.0,
    allow_missing: bool = False,
    tokens: int = 4,
    name: str | None = None,
) -> keras.Model:
    """Build a multi-modal, multi-task model with the chosen fusion strategy.

    Args:
        input_shapes: Shape of one example of each modality, keyed by modality name (e.g.
            ``data.input_shapes``); the model's inputs carry these names.
        tasks: The tasks; each gets a tower ``Dense(tower_units, relu)`` and a head named after it.
        fusion: One of :data:`~mtl_tutorial.models.FUSIONS` (see the module's docstring).
        units: Width of each modality encoder (and of the fused representation).
        tower_units: Width of each task's tower.
        modality_dropout: If above 0, a :class:`~mtl_tutorial.models.ModalityDropout` layer with this rate
            blanks whole modalities' features in training (not available for ``"early"``).
        allow_missing: If true, an example whose input of a modality is all zeros lacks that modality:
            its features are set to zeros (as modality dropout does in training) or, for ``"late"``,
            its predictions are left out of the average (:class:`~mtl_tutorial.models.PresentAverage`).
            Early fusion and single-modality models see the zeros as they are.
        tokens: For ``"attention"``: number of tokens each encoder's features are cut into (must divide
            ``units``).
        name: The model's name; default ``"<fusion>_fusion"``.

    Returns:
        A functional ``keras.Model`` taking a dict of modality inputs and returning a dict of task outputs.

    Raises:
        ValueError: for an unknown fusion, no modality, ``"gmu"`` with more than two modalities,
            modality dropout with early fusion, or sizes that are not positive integers.
    """
    tasks = check_tasks(tasks)
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}; got fusion={fusion!r}.")
    if not isinstance(input_shapes, Mapping) or not input_shapes:
        raise ValueError(
            f"input_shapes must map each modality's name to its shape, e.g. {{'audio': (65,)}}; "
            f"got input_shapes={input_shapes!r}."
        )
    check_positive_int(units, "units", 32)
    check_positive_int(tower_units, "tower_units", 16)
    check_positive_int(tokens, "tokens", 4)
    check_number(
        modality_dropout, "modality_dropout", 0.25, low=0, high=1, high_open=True
    )
    if not isinstance(allow_missing, bool):
        raise ValueError(
            f"allow_missing must be True or False; got allow_missing={allow_missing!r}."
        )
    names = list(input_shapes)
    if fusion == "gmu" and len(names) > 2:
        raise ValueError(f"fusion='gmu' fuses exactly two modalities; got {names}.")
    if fusion == "early" and modality_dropout > 0:
        raise ValueError(
            "modality_dropout needs per-modality features; it is not available for fusion='early'."
        )
    if fusion == "attention" and units % tokens:
        raise ValueError(
            f"tokens must divide units for fusion='attention'; got units={units}, tokens={tokens}."
        )

    inputs = {m: keras.Input(tuple(input_shapes[m]), name=m) for m in names}
    if fusion == "early":
        flat = [
            layers.Flatten()(inputs[m]) if len(input_shapes[m]) > 1 else inputs[m]
            for m in names
        ]
        joined = (
            layers.Concatenate(name="early_concat")(flat) if len(flat) > 1 else flat[0]
        )
        x = layers.Dense(units, activation="relu", name="early_dense_1")(joined)
        x = layers.Dense(units, activation="relu", name="early_dense_2")(x)
        outputs = _heads(x, tasks, tower_units)
        return keras.Model(inputs, outputs, name=name or "early_fusion")

    features = [modality_encoder(input_shapes[m], units, m)(inputs[m]) for m in names]
    presence = []
    if allow_missing and len(names) > 1:
        presence = [ModalityPresence(name=f"{m}_present")(inputs[m]) for m in names]
        if fusion != "late":
            features = [
                layers.Multiply(name=f"{m}_if_present")([f, p])
                for f, m, p in zip(features, names, presence, strict=True)
            ]
    if modality_dropout > 0:
        features = ModalityDropout(modality_dropout, name="modality_dropout")(features)
    if len(features) == 1:
        outputs = _heads(features[0], tasks, tower_units)
        return keras.Model(inputs, outputs, name=name or f"{names[0]}_only")

    if fusion == "late":
        per_modality = [
            _heads(f, tasks, tower_units, suffix=f"_from_{m}")
            for f, m in zip(features, names, strict=True)
        ]
        average = PresentAverage if presence else layers.Average
        outputs = {
            task.name: average(name=task.name)(
                [p[task.name] for p in per_modality] + presence
            )
            for task in tasks
        }
        return keras.Model(inputs, outputs, name=name or "late_fusion")
    if fusion == "intermediate":
        fused = layers.Concatenate(name="feature_concat")(features)
    elif fusion == "gmu":
        fused = GatedMultimodalUnit(units, name="gmu")(features)
    elif fusion == "tensor":
        narrow = [
            layers.Dense(8, activation="relu", name=f"{m}_narrow")(f)
            for f, m in zip(features, names, strict=True)
        ]
        fused = layers.Dense(units, activation="relu", name="tensor_dense")(
            TensorFusion(name="tensor_fusion")(narrow)
        )
    else:  # attention
        sequences = [
            layers.Reshape((tokens, units // tokens), name=f"{m}_tokens")(f)
            for f, m in zip(features, names, strict=True)
        ]
        pooled = []
        for i, m in enumerate(names):
            others = [s for j, s in enumerate(sequences) if j != i]
            context = (
                others[0] if len(others) == 1 else layers.Concatenate(axis=1)(others)
            )
            attended = CrossModalAttention(num_heads=2, key_dim=8, name=f"{m}_attends")(
                [sequences[i], context]
            )
            pooled.append(layers.GlobalAveragePooling1D(name=f"{m}_pool")(attended))
        fused = layers.Concatenate(name="attention_concat")(pooled)
    outputs = _heads(fused, tasks, tower_units)
    return keras.Model(inputs, outputs, name=name or f"{fusion}_fusion")
