"""Layers that fuse modalities, and modality dropout.

Taught in :doc:`/book/part2_multimodal/02_fusion` and :doc:`/book/part2_multimodal/04_missing_modalities`.
Each layer takes a list of per-modality tensors and is a serializable Keras layer, so models built from them
save to ``.keras`` and load with the default ``safe_mode``:

- :class:`GatedMultimodalUnit`: a learned, input-dependent gate between two modalities (Arevalo et al.,
  "Gated multimodal units for information fusion", ICLR workshop 2017).
- :class:`TensorFusion`: the outer product of the modalities' features, each with a 1 appended, so that it
  holds every single-modality feature and every cross-modal product (Zadeh et al., "Tensor fusion network
  for multimodal sentiment analysis", EMNLP 2017).
- :class:`CrossModalAttention`: one modality's tokens attend to another's (multi-head attention with a
  residual connection and layer normalisation).
- :class:`ModalityDropout`: in training, blanks whole modalities at random so that a model learns to cope
  without any one of them (Neverova et al., "ModDrop: adaptive multi-modal gesture recognition", 2016),
  and can say which modalities each example kept.
- :class:`ModalityPresence`, :class:`PresentAverage` and :class:`PresentSum`: how a model tells, and
  handles, a modality that is missing at prediction time (given as all zeros).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from mtl_tutorial.validation import (
    check_number,
    check_positive_int,
    check_seed,
    check_types,
)


def _as_list(inputs, layer: str, at_least: int = 2, exactly: int | None = None) -> list:
    if not isinstance(inputs, list | tuple) or len(inputs) < at_least:
        raise ValueError(
            f"{layer} takes a list of at least {at_least} tensors, one per modality; "
            f"got {type(inputs).__name__}."
        )
    if exactly is not None and len(inputs) != exactly:
        raise ValueError(
            f"{layer} takes exactly {exactly} tensors, one per modality; got {len(inputs)}."
        )
    return list(inputs)


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class GatedMultimodalUnit(layers.Layer):
    """Fuse two modalities with a learned gate (Arevalo et al., 2017).

    With inputs ``x_1`` and ``x_2`` (shapes ``(batch, d_1)`` and ``(batch, d_2)``)::

        h_1 = tanh(W_1 x_1),  h_2 = tanh(W_2 x_2),  z = sigmoid(W_z [x_1; x_2] + b_z),
        h = z * h_1 + (1 - z) * h_2

    One deviation from the paper: the gate has a bias ``b_z``; the paper's equations have none (``h_1``
    and ``h_2`` have no bias, here as there). With it, the gate can start from a learned preference for
    one modality, whatever the inputs.

    ``z`` has one value per output unit and per example, so the layer can trust modality 1 for some
    features and inputs and modality 2 for others. ``gate(inputs)`` returns ``z``.

    Args:
        units: Width of ``h``.
    """

    @check_types
    def __init__(self, units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units", 16)
        self.first = layers.Dense(
            self.units, activation="tanh", use_bias=False, name="first"
        )
        self.second = layers.Dense(
            self.units, activation="tanh", use_bias=False, name="second"
        )
        self.gate_layer = layers.Dense(self.units, activation="sigmoid", name="gate")

    def build(self, input_shape) -> None:
        first, second = _as_list(input_shape, "GatedMultimodalUnit", exactly=2)
        self.first.build(first)
        self.second.build(second)
        self.gate_layer.build((first[0], first[-1] + second[-1]))

    def gate(self, inputs):
        """The gate ``z``, shape ``(batch, units)``: the weight of modality 1 in each output unit."""
        first, second = _as_list(inputs, "GatedMultimodalUnit", exactly=2)
        return self.gate_layer(ops.concatenate([first, second], axis=-1))

    def call(self, inputs):
        first, second = _as_list(inputs, "GatedMultimodalUnit", exactly=2)
        z = self.gate([first, second])
        return z * self.first(first) + (1.0 - z) * self.second(second)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class TensorFusion(layers.Layer):
    """The flattened outer product of the modalities' features, each with a 1 appended (Zadeh et al., 2017).

    For two modalities, ``[z_a; 1] (x) [z_b; 1]`` holds ``z_a`` itself, ``z_b`` itself, every product
    ``z_a[i] * z_b[j]`` and the constant 1: shape ``(batch, (d_a + 1) (d_b + 1))``. A linear layer on top
    can therefore model the interaction between the modalities, which a sum of per-modality terms cannot.
    More modalities multiply in turn. Keep the inputs narrow: the width is the product of theirs.
    """

    def call(self, inputs):
        parts = _as_list(inputs, "TensorFusion")
        fused = None
        for part in parts:
            ones = ops.ones_like(part[:, :1])
            part = ops.concatenate([part, ones], axis=-1)
            if fused is None:
                fused = part
            else:
                outer = ops.expand_dims(fused, 2) * ops.expand_dims(part, 1)
                fused = ops.reshape(outer, (-1, outer.shape[1] * outer.shape[2]))
        return fused

    def compute_output_shape(self, input_shape):
        width = 1
        for shape in _as_list(input_shape, "TensorFusion"):
            width *= shape[-1] + 1
        return (input_shape[0][0], width)


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class CrossModalAttention(layers.Layer):
    """Tokens of one modality attend to the tokens of another.

    ``call([query, context])`` with ``query`` of shape ``(batch, T_q, d)`` and ``context`` of shape
    ``(batch, T_c, d_c)`` returns ``LayerNorm(query + MultiHeadAttention(query, context, context))``,
    shape ``(batch, T_q, d)``: each query token is updated with what it finds in the other modality.
    ``last_attention`` holds the attention weights of the latest call, ``(batch, heads, T_q, T_c)``.

    Args:
        num_heads: Number of attention heads.
        key_dim: Width of each head's queries and keys.
    """

    @check_types
    def __init__(self, num_heads: int = 2, key_dim: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_heads = check_positive_int(num_heads, "num_heads", 2)
        self.key_dim = check_positive_int(key_dim, "key_dim", 16)
        self.attention = layers.MultiHeadAttention(
            num_heads=self.num_heads, key_dim=self.key_dim, name="attention"
        )
        self.norm = layers.LayerNormalization(name="norm")
        self.last_attention = None

    def build(self, input_shape) -> None:
        query, context = _as_list(input_shape, "CrossModalAttention", exactly=2)
        if len(query) != 3 or len(context) != 3:
            raise ValueError(
                "CrossModalAttention takes token sequences of shape (batch, tokens, features); "
                f"got shapes {query} and {context}."
            )
        self.attention.build(query, context, context)
        self.norm.build(query)

    def call(self, inputs, training=None):
        query, context = _as_list(inputs, "CrossModalAttention", exactly=2)
        attended, scores = self.attention(
            query, context, context, return_attention_scores=True, training=training
        )
        self.last_attention = scores
        return self.norm(query + attended)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
        }


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class ModalityDropout(layers.Layer):
    """In training, blank each modality of each example with probability ``rate`` (Neverova et al., 2016).

    Takes and returns a list of per-modality tensors (each ``(batch, ...)``). For every example, each
    modality is independently replaced by zeros with probability ``rate``; if that would blank all of
    them, one modality, chosen at random, is kept. Unlike ordinary dropout, nothing is rescaled: the model
    should learn to work with a modality absent, as it will be at test time when a sensor fails. At
    inference (``training=False``) the layer returns its inputs unchanged.

    A model that leaves a missing modality out of a combination (late fusion, with
    :class:`PresentAverage` or :class:`PresentSum`) must leave a blanked one out too: otherwise the heads
    of a blanked modality, reading zeros, still add their bias-driven predictions. For it, the layer also
    says which modalities each example keeps: with ``return_masks=True`` a call returns
    ``(features, masks)``, where ``masks`` are ``M`` float masks of shape ``(batch, 1)``, 1 where the
    example has the modality and the layer kept it. ``call(inputs, presence=...)`` takes the examples'
    presence masks (from :class:`ModalityPresence`; without them every modality counts as present): a
    modality an example lacks is never counted as kept, and the modality kept when all would be blanked
    is one the example has, if it has any. At inference the masks are the presence masks (all ones
    without them).

    Args:
        rate: Probability of blanking each modality, in ``[0, 1)``.
        seed: Seed of the layer's random draws.
        return_masks: Whether a call also returns the masks of the modalities each example keeps.
    """

    @check_types
    def __init__(
        self,
        rate: float = 0.25,
        seed: int | None = None,
        return_masks: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.seed = None if seed is None else check_seed(seed)
        self.rate = check_number(rate, "rate", 0.25, low=0, high=1, high_open=True)
        self.return_masks = return_masks
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def keep_mask(self, batch_size, num_modalities: int, present=None):
        """A ``(batch, M)`` float mask of kept modalities, with at least one 1 per row.

        ``present``, a ``(batch, M)`` float mask of the modalities each example has, or ``None`` (all),
        decides which modality is kept where every one the example has was drawn out: the one with the
        largest draw among those it has.
        """
        draws = keras.random.uniform(
            (batch_size, num_modalities), seed=self.seed_generator
        )
        keep = ops.cast(draws >= self.rate, "float32")
        if present is None:
            present = ops.ones_like(keep)
        # Where every modality the example has was dropped, keep the one of them with the largest draw
        # (draws lie in [0, 1), so adding the presence ranks the modalities it has first).
        rescue = ops.one_hot(ops.argmax(draws + present, axis=1), num_modalities)
        nothing_kept = ops.cast(
            ops.sum(keep * present, axis=1, keepdims=True) == 0, "float32"
        )
        return ops.maximum(keep, nothing_kept * rescue)

    def call(self, inputs, presence=None, training=None):
        parts = _as_list(inputs, "ModalityDropout", at_least=1)
        batch = ops.shape(parts[0])[0]
        if presence is not None:
            presence = _as_list(presence, "ModalityDropout", at_least=1)
            if len(presence) != len(parts):
                raise ValueError(
                    f"ModalityDropout takes one presence mask per modality; got {len(parts)} "
                    f"modalities and {len(presence)} masks."
                )
            present = ops.concatenate(
                [ops.cast(p, "float32") for p in presence], axis=1
            )
        else:
            present = None
        if not training or self.rate == 0.0:
            out = parts
            mask = ops.ones((batch, len(parts))) if present is None else present
        else:
            kept = self.keep_mask(batch, len(parts), present)
            out = []
            for m, part in enumerate(parts):
                shape = (-1,) + (1,) * (len(part.shape) - 1)
                out.append(part * ops.cast(ops.reshape(kept[:, m], shape), part.dtype))
            mask = kept if present is None else kept * present
        if not self.return_masks:
            return out
        masks = [
            ops.cast(mask[:, m : m + 1], self.compute_dtype) for m in range(len(parts))
        ]
        return out, masks

    def compute_output_shape(self, inputs_shape, presence_shape=None):
        shapes = [tuple(shape) for shape in inputs_shape]
        if not self.return_masks:
            return shapes
        return shapes, [(shape[0], 1) for shape in shapes]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "return_masks": self.return_masks,
        }


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class ModalityPresence(layers.Layer):
    """Whether each example has this modality: 1 where its input has a non-zero entry, 0 where all zeros.

    Takes one modality's input, shape ``(batch, ...)``, and returns a float mask of shape ``(batch, 1)``.
    All zeros is the book's mark of a missing modality (see ``Split.with_missing_modality``): multiplied
    into that modality's features, the mask makes a missing modality look, to the rest of the model,
    exactly as modality dropout made it look in training.
    """

    def call(self, inputs):
        flat = ops.reshape(inputs, (ops.shape(inputs)[0], -1))
        present = ops.any(ops.not_equal(flat, 0), axis=1, keepdims=True)
        return ops.cast(present, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


def _predictions_and_masks(inputs, layer: str, what: str) -> tuple[list, list]:
    """Split ``[x_1, ..., x_M, m_1, ..., m_M]`` into the ``M`` per-modality tensors and their ``M`` masks."""
    parts = _as_list(inputs, layer, at_least=2)
    if len(parts) % 2:
        raise ValueError(
            f"{layer} takes M {what} and then their M presence masks; got {len(parts)} tensors."
        )
    half = len(parts) // 2
    return parts[:half], parts[half:]


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class PresentAverage(layers.Layer):
    """Average per-modality predictions over the modalities each example has (late fusion, Part II).

    Takes a list ``[p_1, ..., p_M, m_1, ..., m_M]``: ``M`` predictions of one shape ``(batch, k)`` and
    then ``M`` presence masks of shape ``(batch, 1)`` (from :class:`ModalityPresence`, or the masks
    :class:`ModalityDropout` returns, which in training also mark the modalities it blanked as absent),
    and returns ``sum_m m_m p_m / sum_m m_m``: the plain average when every modality is present, the
    average of the others when one is missing (and zeros if all are).
    """

    def call(self, inputs):
        predictions, masks = _predictions_and_masks(
            inputs, "PresentAverage", "predictions"
        )
        total = sum(p * m for p, m in zip(predictions, masks, strict=True))
        return total / ops.maximum(sum(masks), 1.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class PresentSum(layers.Layer):
    """Sum per-modality logits over the modalities each example has (late fusion by logits, Part II).

    Takes a list ``[z_1, ..., z_M, m_1, ..., m_M]``: ``M`` logits of one shape ``(batch, k)`` and then
    ``M`` presence masks of shape ``(batch, 1)`` (from :class:`ModalityPresence`, or the masks
    :class:`ModalityDropout` returns, which in training also mark the modalities it blanked as absent),
    and returns ``sum_m m_m z_m``. A missing modality adds nothing: its expert is uniform over the
    classes, which is what a product of experts should do with a modality it has not seen (zeros if all
    are missing, so a softmax on top gives the uniform distribution).
    """

    def call(self, inputs):
        logits, masks = _predictions_and_masks(inputs, "PresentSum", "logits")
        return sum(z * m for z, m in zip(logits, masks, strict=True))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
