"""Multi-modal models: one encoder per modality, a fusion strategy, a tower and head per task.

Taught in :doc:`/book/part2_multimodal/02_fusion`. ``build_fusion_model`` builds every fusion strategy the
chapters compare from the same parts, so that a comparison changes only the way the modalities meet. Each
strategy is one small function of the table ``_STRATEGIES``, from the parts (``_Parts``: the inputs, the
encoders' features, the settings) to the tasks' outputs; :data:`~mtl_tutorial.models.FUSIONS` lists the
table's names:

- ``"early"``: the modalities' raw inputs are flattened and concatenated, then one shared network reads
  them (input-level fusion);
- ``"intermediate"``: each modality has its own encoder; their features are concatenated (feature-level);
- ``"late"``: each modality has its own encoder *and its own heads*; the tasks' predictions are combined
  over modalities (decision-level: the modalities never see each other). A classification task either
  sums the modalities' logits before one softmax (``late_combine="logits"``, the default, a product of
  experts) or averages their probabilities (``late_combine="probabilities"``, a mixture of experts);
- ``"gmu"``: encoders, then a :class:`~mtl_tutorial.models.GatedMultimodalUnit` (two modalities);
- ``"tensor"``: encoders, then :class:`~mtl_tutorial.models.TensorFusion` and a ``Dense`` layer;
- ``"attention"``: encoders whose features are cut into tokens, each modality attending to the other with
  :class:`~mtl_tutorial.models.CrossModalAttention`, then pooled and concatenated.

With one modality in ``input_shapes`` every strategy but early fusion reduces to that modality's encoder and
the tasks' heads: the single-modality baseline. With ``allow_missing=True`` a modality given as all zeros
counts as missing (Part II, "Missing and noisy modalities"). With ``auxiliary_heads`` above 0 each modality's
encoder also gets its own towers and heads, trained beside the fused outputs
(:class:`~mtl_tutorial.models.AuxiliaryHeadsModel`, the remedy for modality imbalance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import keras
from keras import layers

from mtl_tutorial.models.auxiliary import AuxiliaryHeadsModel, auxiliary_name
from mtl_tutorial.models.fusion import (
    CrossModalAttention,
    GatedMultimodalUnit,
    ModalityDropout,
    ModalityPresence,
    PresentAverage,
    PresentSum,
    TensorFusion,
)
from mtl_tutorial.models.heads import towers_and_heads
from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import check_number, check_positive_int, check_types

Outputs = dict[str, keras.KerasTensor]


@dataclass(frozen=True)
class _Parts:
    """What a fusion strategy builds on: :func:`build_fusion_model`'s inputs, features and settings.

    Attributes:
        names: The modalities, in the order of ``input_shapes``.
        input_shapes: Shape of one example of each modality.
        inputs: The model's inputs, keyed by modality.
        features: Each modality's encoded features, in the order of ``names``: zeroed where the modality is
            missing (with ``allow_missing``, unless the strategy handles missing modalities itself), then
            through modality dropout if asked for. Empty for a strategy that reads the raw inputs.
        presence: With ``allow_missing`` and several modalities, each modality's presence mask
            ``(batch, 1)`` (:class:`~mtl_tutorial.models.ModalityPresence`). For a strategy that handles
            missing modalities built with modality dropout, the masks of the modalities each example has
            *and*, in training, modality dropout kept (all ones at inference without ``allow_missing``),
            so that a blanked modality is left out like a missing one. Otherwise empty.
        tasks: The tasks.
        units, tower_units, tokens, modality_dropout, late_combine: :func:`build_fusion_model`'s arguments.
    """

    names: list[str]
    input_shapes: Mapping[str, Sequence[int]]
    inputs: dict[str, keras.KerasTensor]
    features: list[keras.KerasTensor]
    presence: list[keras.KerasTensor]
    tasks: tuple[Task, ...]
    units: int
    tower_units: int
    tokens: int
    modality_dropout: float
    late_combine: str

    def heads(
        self, x: keras.KerasTensor, suffix: str = "", logits: bool = False
    ) -> Outputs:
        """Each task's tower and float32 head on ``x`` (:func:`towers_and_heads`)."""
        return towers_and_heads(
            x, self.tasks, self.tower_units, suffix=suffix, logits=logits
        )


@dataclass(frozen=True)
class _Strategy:
    """A fusion strategy: the function that builds the tasks' outputs, and what it reads.

    Attributes:
        build: From the parts to ``{task.name: output}``; it refuses settings it cannot build.
        reads_inputs: The strategy reads the raw inputs (``parts.inputs``): no encoders, no presence masks
            and no modality dropout are built for it, and one modality is not reduced to the baseline.
        handles_missing: The strategy gets the encoders' features as they are and the presence masks, and
            leaves a missing modality out itself, instead of features zeroed where a modality is missing.
    """

    build: Callable[[_Parts], Outputs]
    reads_inputs: bool = False
    handles_missing: bool = False


def _early(parts: _Parts) -> Outputs:
    """Input-level: the raw inputs, flattened and concatenated, read by one shared network."""
    if parts.modality_dropout > 0:
        raise ValueError(
            "modality_dropout needs per-modality features; it is not available for fusion='early'."
        )
    flat = [
        layers.Flatten()(parts.inputs[m])
        if len(parts.input_shapes[m]) > 1
        else parts.inputs[m]
        for m in parts.names
    ]
    joined = layers.Concatenate(name="early_concat")(flat) if len(flat) > 1 else flat[0]
    x = layers.Dense(parts.units, activation="relu", name="early_dense_1")(joined)
    x = layers.Dense(parts.units, activation="relu", name="early_dense_2")(x)
    return parts.heads(x)


def _intermediate(parts: _Parts) -> Outputs:
    """Feature-level: the encoders' features, concatenated."""
    return parts.heads(layers.Concatenate(name="feature_concat")(parts.features))


def _late(parts: _Parts) -> Outputs:
    """Decision-level: each modality's own towers and heads; each task's predictions combined.

    The per-modality layers are named ``"<task>_tower_from_<modality>"`` and ``"<task>_from_<modality>"``.
    With ``late_combine="probabilities"`` each task's predictions are averaged; with ``"logits"`` the heads
    are linear and a classification task's logits are summed (``"<task>_logits"``), then go through the
    task's activation (``"<task>"``), while a regression task's predictions are averaged as before. With
    presence masks (``allow_missing``, or modality dropout) the sum or average is over the modalities each
    example has and, in training, modality dropout kept (:class:`~mtl_tutorial.models.PresentSum`,
    :class:`~mtl_tutorial.models.PresentAverage`). Everything after the heads is float32, like the heads.
    """
    logits = parts.late_combine == "logits"
    per_modality = [
        parts.heads(f, suffix=f"_from_{m}", logits=logits)
        for f, m in zip(parts.features, parts.names, strict=True)
    ]
    average = PresentAverage if parts.presence else layers.Average
    total = PresentSum if parts.presence else layers.Add
    outputs = {}
    for task in parts.tasks:
        predictions = [p[task.name] for p in per_modality] + parts.presence
        if logits and task.kind == "classification":
            summed = total(name=f"{task.name}_logits", dtype="float32")(predictions)
            outputs[task.name] = layers.Activation(
                task.output_activation, name=task.name, dtype="float32"
            )(summed)
        else:
            outputs[task.name] = average(name=task.name, dtype="float32")(predictions)
    return outputs


def _gmu(parts: _Parts) -> Outputs:
    """A gated multimodal unit of ``units`` between exactly two modalities' features."""
    if len(parts.names) > 2:
        raise ValueError(
            f"fusion='gmu' fuses exactly two modalities; got {parts.names}."
        )
    return parts.heads(GatedMultimodalUnit(parts.units, name="gmu")(parts.features))


def _tensor(parts: _Parts) -> Outputs:
    """Each modality narrowed to 8 features, their tensor fusion, then ``Dense(units, relu)``."""
    narrow = [
        layers.Dense(8, activation="relu", name=f"{m}_narrow")(f)
        for f, m in zip(parts.features, parts.names, strict=True)
    ]
    fused = layers.Dense(parts.units, activation="relu", name="tensor_dense")(
        TensorFusion(name="tensor_fusion")(narrow)
    )
    return parts.heads(fused)


def _attention(parts: _Parts) -> Outputs:
    """Each modality's features cut into ``tokens`` tokens attend to the others'; pooled, concatenated."""
    units, tokens = parts.units, parts.tokens
    if units % tokens:
        raise ValueError(
            f"tokens must divide units for fusion='attention'; got units={units}, tokens={tokens}."
        )
    sequences = [
        layers.Reshape((tokens, units // tokens), name=f"{m}_tokens")(f)
        for f, m in zip(parts.features, parts.names, strict=True)
    ]
    pooled = []
    for i, m in enumerate(parts.names):
        others = [s for j, s in enumerate(sequences) if j != i]
        context = others[0] if len(others) == 1 else layers.Concatenate(axis=1)(others)
        attended = CrossModalAttention(num_heads=2, key_dim=8, name=f"{m}_attends")(
            [sequences[i], context]
        )
        pooled.append(layers.GlobalAveragePooling1D(name=f"{m}_pool")(attended))
    return parts.heads(layers.Concatenate(name="attention_concat")(pooled))


_STRATEGIES: dict[str, _Strategy] = {
    "early": _Strategy(_early, reads_inputs=True),
    "intermediate": _Strategy(_intermediate),
    "late": _Strategy(_late, handles_missing=True),
    "gmu": _Strategy(_gmu),
    "tensor": _Strategy(_tensor),
    "attention": _Strategy(_attention),
}

#: The fusion strategies :func:`build_fusion_model` knows, from earliest to latest.
FUSIONS: tuple[str, ...] = tuple(_STRATEGIES)

# How late fusion combines a classification task's per-modality predictions (``late_combine``).
_LATE_COMBINES: tuple[str, ...] = ("probabilities", "logits")


def _auxiliary_weights(
    auxiliary_heads: float | Mapping[str, float], names: list[str], fusion: str
) -> dict[str, float]:
    """``{modality: weight}`` of the modalities that get auxiliary heads; empty when they are off."""
    if isinstance(auxiliary_heads, Mapping):
        if not auxiliary_heads:
            raise ValueError(
                "auxiliary_heads must be a number or give at least one modality its weight, e.g. "
                f"{{{names[0]!r}: 1.0}}; got auxiliary_heads={dict(auxiliary_heads)!r}."
            )
        unknown = [m for m in auxiliary_heads if m not in names]
        if unknown:
            raise ValueError(
                f"auxiliary_heads must be keyed by the model's modalities {names}; got "
                f"{unknown[0]!r} in auxiliary_heads={dict(auxiliary_heads)!r}."
            )
        weights = {
            m: check_number(w, f"auxiliary_heads[{m!r}]", 1.0, low=0)
            for m, w in auxiliary_heads.items()
        }
        # In the order of the modalities, whatever the mapping's.
        weights = {m: weights[m] for m in names if m in weights}
    else:
        weight = check_number(auxiliary_heads, "auxiliary_heads", 1.0, low=0)
        if weight == 0:
            return {}
        weights = dict.fromkeys(names, weight)
    if fusion == "early":
        raise ValueError(
            "auxiliary_heads needs each modality's own encoder features; fusion='early' has none, so "
            f"auxiliary_heads must be 0 with it; got auxiliary_heads={auxiliary_heads!r}."
        )
    if len(names) == 1:
        raise ValueError(
            f"auxiliary_heads must be 0 with one modality: the model is already {names[0]!r}'s encoder "
            f"and heads, so a second head on the same features adds nothing; got "
            f"auxiliary_heads={auxiliary_heads!r}."
        )
    return weights


@check_types
def modality_encoder(shape: Sequence[int], units: int, name: str) -> keras.Model:
    """A small encoder for one modality: flatten, then ``Dense(units, relu)`` twice."""
    units = check_positive_int(units, "units", 32)
    inputs = keras.Input(tuple(shape), name=f"{name}_input")
    x = layers.Flatten()(inputs) if len(shape) > 1 else inputs
    x = layers.Dense(units, activation="relu", name=f"{name}_dense_1")(x)
    x = layers.Dense(units, activation="relu", name=f"{name}_dense_2")(x)
    return keras.Model(inputs, x, name=f"{name}_encoder")


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
    late_combine: str = "logits",
    tokens: int = 4,
    auxiliary_heads: float | Mapping[str, float] = 0.0,
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
            blanks whole modalities' features in training (not available for ``"early"``). With
            ``"late"``, a blanked modality is left out of the combination, as a missing one is (below):
            its heads, reading zeros, would otherwise still add their bias-driven predictions. At inference
            nothing is blanked and the model computes what it would without modality dropout.
        allow_missing: If true, an example whose input of a modality is all zeros lacks that modality:
            its features are set to zeros (as modality dropout does in training) or, for ``"late"``,
            its predictions are left out of the average (:class:`~mtl_tutorial.models.PresentAverage`)
            or its logits out of the sum (:class:`~mtl_tutorial.models.PresentSum`). Early fusion and
            single-modality models see the zeros as they are.
        late_combine: For ``"late"``: how a classification task's per-modality predictions are combined
            into its output, which is class probabilities either way (the losses and metrics are the same).

            - ``"logits"`` (the default): each modality's head gives logits; their sum goes through one
              softmax, a product of experts. If the modalities are conditionally independent given the
              label, Bayes' rule makes ``p(y | a, b)`` proportional to ``p(y | a) p(y | b) / p(y)``: a
              sum of log-probabilities, less a per-class constant that the heads' biases absorb. Each
              modality's evidence then adds up, where an average dilutes it. A missing modality adds
              nothing: a uniform expert. The default because it is the Bayes combination for data built
              that way, such as :func:`~mtl_tutorial.data.load_av_digits`'s digit.
            - ``"probabilities"``: the average of the modalities' probabilities, a mixture of experts with
              equal weights. A mixture hedges: if one modality is sometimes pure noise, or the modalities'
              reliability differs from example to example, a confidently wrong expert only pulls the
              average halfway.

            Regression tasks average the modalities' predictions with either: a product of Gaussian
            experts with equal variances is the average of their means, so the two coincide. Another
            value than the default needs ``fusion="late"``; with one modality it changes nothing.
        tokens: For ``"attention"``: number of tokens each encoder's features are cut into (must divide
            ``units``).
        auxiliary_heads: The weight ``w_m`` of each modality's auxiliary heads (Wang et al., "What makes
            training multi-modal classification networks hard?", 2020); 0, the default, for none. Above
            0, each modality ``m`` gets, for each task, a tower and head of its own on its encoder's
            features (layers ``"<task>_tower_aux_<m>"`` and ``"<task>_aux_<m>"``, created after all
            the others, so that the rest of the model starts from the same weights as without them), and
            training minimises the fused outputs' loss plus ``sum_m w_m`` times the loss of ``m``'s
            auxiliary heads: every encoder then learns from its own modality's labels too, even when the
            fused output leans on the other modality. A number gives every modality that weight; a
            mapping ``{modality: w_m}`` gives auxiliary heads to the modalities it names, each with its
            weight (0 builds frozen heads, which are not trained). The heads read the encoder's
            features *before* modality dropout and the zeroing of a missing modality: an encoder learns
            from its own modality whatever the fusion sees. With ``allow_missing``, an example whose
            modality ``m`` is all zeros adds nothing to ``m``'s auxiliary loss. Not available with
            ``"early"`` fusion (no per-modality features) nor with one modality (the model is already
            that modality's heads). The model is then an
            :class:`~mtl_tutorial.models.AuxiliaryHeadsModel`, whose outputs are still the tasks' only.
        name: The model's name; default ``"<fusion>_fusion"`` (``"<modality>_only"`` for the
            single-modality baseline).

    Returns:
        A functional ``keras.Model`` taking a dict of modality inputs and returning a dict of task outputs;
        with ``auxiliary_heads``, an :class:`~mtl_tutorial.models.AuxiliaryHeadsModel` that takes and
        returns the same.

    Raises:
        ValueError: for an unknown fusion, no modality, ``"gmu"`` with more than two modalities,
            modality dropout with early fusion, ``"attention"`` with ``tokens`` that do not divide
            ``units``, an unknown ``late_combine`` or one other than the default ``"logits"`` with a
            fusion other than ``"late"``, sizes that are not positive integers, or ``auxiliary_heads`` that is
            negative, names other modalities than ``input_shapes``' or goes with ``"early"`` fusion or
            one modality.
    """
    tasks = check_tasks(tasks)
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}; got fusion={fusion!r}.")
    if late_combine not in _LATE_COMBINES:
        raise ValueError(
            f"late_combine must be one of {_LATE_COMBINES}; got late_combine={late_combine!r}."
        )
    if late_combine != "logits" and fusion != "late":
        raise ValueError(
            f"late_combine={late_combine!r} combines late fusion's per-modality predictions; it must "
            f"go with fusion='late', got fusion={fusion!r}."
        )
    if len(input_shapes) == 0:
        raise ValueError(
            f"input_shapes must map each modality's name to its shape, e.g. {{'audio': (65,)}}; "
            f"got input_shapes={input_shapes!r}."
        )
    units = check_positive_int(units, "units", 32)
    tower_units = check_positive_int(tower_units, "tower_units", 16)
    tokens = check_positive_int(tokens, "tokens", 4)
    modality_dropout = check_number(
        modality_dropout, "modality_dropout", 0.25, low=0, high=1, high_open=True
    )
    strategy = _STRATEGIES[fusion]
    names = list(input_shapes)
    auxiliary_weights = _auxiliary_weights(auxiliary_heads, names, fusion)
    inputs = {m: keras.Input(tuple(input_shapes[m]), name=m) for m in names}
    features, presence = [], []
    if not strategy.reads_inputs:
        encoded = [
            modality_encoder(input_shapes[m], units, m)(inputs[m]) for m in names
        ]
        features = encoded
        if allow_missing and len(names) > 1:
            presence = [ModalityPresence(name=f"{m}_present")(inputs[m]) for m in names]
            if not strategy.handles_missing:
                features = [
                    layers.Multiply(name=f"{m}_if_present")([f, p])
                    for f, m, p in zip(features, names, presence, strict=True)
                ]
        if modality_dropout > 0:
            dropout = ModalityDropout(
                modality_dropout,
                return_masks=strategy.handles_missing,
                name="modality_dropout",
            )
            if strategy.handles_missing:
                # A modality blanked in training is left out like a missing one: its masks are
                # "present and kept" (at inference, the presence masks or, without them, all ones).
                features, presence = dropout(features, presence=presence or None)
                features, presence = list(features), list(presence)
            else:
                features = dropout(features)
    parts = _Parts(
        names=names,
        input_shapes=input_shapes,
        inputs=inputs,
        features=features,
        presence=presence,
        tasks=tasks,
        units=units,
        tower_units=tower_units,
        tokens=tokens,
        modality_dropout=modality_dropout,
        late_combine=late_combine,
    )
    if len(features) == 1:
        outputs = parts.heads(features[0])
        return keras.Model(inputs, outputs, name=name or f"{names[0]}_only")
    outputs = strategy.build(parts)
    name = name or f"{fusion}_fusion"
    if not auxiliary_weights:
        return keras.Model(inputs, outputs, name=name)
    for f, m in zip(encoded, names, strict=True):
        if m in auxiliary_weights:
            heads = parts.heads(f, suffix=auxiliary_name("", m))
            outputs.update({auxiliary_name(t, m): p for t, p in heads.items()})
    graph = keras.Model(inputs, outputs, name=f"{name}_graph")
    # Heads whose loss counts for nothing are frozen, so that none is trained.
    frozen = [m for m, weight in auxiliary_weights.items() if weight == 0]
    for m in frozen:
        suffix = auxiliary_name("", m)
        for task in tasks:
            graph.get_layer(f"{task.name}_tower{suffix}").trainable = False
            graph.get_layer(f"{task.name}{suffix}").trainable = False
    return AuxiliaryHeadsModel(
        graph,
        [task.name for task in tasks],
        auxiliary_weights,
        mask_missing=allow_missing,
        name=name,
    )
