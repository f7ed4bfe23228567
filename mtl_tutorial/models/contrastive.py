"""Aligning two modalities: the symmetric InfoNCE loss and a dual encoder trained with it.

Taught in :doc:`/book/part2_multimodal/05_alignment`. Two encoders map paired examples of two modalities into
one embedding space; the loss pulls each pair together and pushes the other examples of the batch apart, as in
CLIP (Radford et al., "Learning transferable visual models from natural language supervision", ICML 2021).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from mtl_tutorial.validation import check_number, check_types


def symmetric_info_nce(embeddings_a, embeddings_b, temperature):
    """The symmetric InfoNCE loss of a batch of ``n`` pairs.

    With unit-length embeddings ``A`` and ``B`` (rows are examples; row ``i`` of each is a pair), the
    logits are ``A B^T / temperature``, and the loss is the mean of the cross-entropy of picking, for each
    row of ``A``, its partner among the rows of ``B``, and the same from ``B`` to ``A``:
    ``0.5 * (CE(logits, I) + CE(logits^T, I))``. The embeddings are normalised here, in float32 whatever
    their dtype: under mixed precision the logits and the softmax stay in full precision.
    """
    a = ops.normalize(ops.cast(embeddings_a, "float32"), axis=-1)
    b = ops.normalize(ops.cast(embeddings_b, "float32"), axis=-1)
    logits = ops.matmul(a, ops.transpose(b)) / temperature
    labels = ops.arange(ops.shape(logits)[0])
    a_to_b = keras.losses.sparse_categorical_crossentropy(
        labels, logits, from_logits=True
    )
    b_to_a = keras.losses.sparse_categorical_crossentropy(
        labels, ops.transpose(logits), from_logits=True
    )
    return 0.5 * (ops.mean(a_to_b) + ops.mean(b_to_a))


def gathered_info_nce(embeddings_a, embeddings_b, temperature):
    """This replica's share of the symmetric InfoNCE loss of the *global* batch (call in ``strategy.run``).

    Under a strategy, :func:`~mtl_tutorial.models.symmetric_info_nce` on a replica's batch
    of ``n`` pairs sees ``n - 1`` negatives per example; with ``R`` replicas the global batch has
    ``R n - 1``. Here every replica gathers all replicas' embeddings
    (``tf.distribute.ReplicaContext.all_gather``) and scores its own rows against all of them. It
    returns the sum of its rows' terms divided by the global batch size, so that the shares of all
    replicas add up (``strategy.reduce(SUM, ...)``, or the optimizer's sum of gradients) to the
    single-device loss of the global batch. ``all_gather`` has a gradient in TensorFlow (it all-reduces
    the incoming gradients and keeps this replica's slice), so the gradient is exact too: each example's
    embedding also gets the gradient of its role as a negative on the other replicas. Outside any
    strategy it is :func:`~mtl_tutorial.models.symmetric_info_nce`. :class:`~mtl_tutorial.models.DualEncoder`
    uses it under a strategy with several replicas unless ``gather_negatives=False``.

    Raises:
        ValueError: if called in a cross-replica context (outside ``strategy.run``).
    """
    context = tf.distribute.get_replica_context()
    if context is None:
        raise ValueError(
            "gathered_info_nce must be called in a replica context: inside strategy.run(...)."
        )
    # In float32 whatever the embeddings' dtype, as in symmetric_info_nce.
    a = tf.math.l2_normalize(tf.cast(embeddings_a, tf.float32), axis=-1)
    b = tf.math.l2_normalize(tf.cast(embeddings_b, tf.float32), axis=-1)
    all_a = context.all_gather(a, axis=0)
    all_b = context.all_gather(b, axis=0)
    n = tf.shape(a)[0]
    sizes = context.all_gather(tf.reshape(n, [1]), axis=0)
    offset = tf.reduce_sum(sizes[: context.replica_id_in_sync_group])
    labels = offset + tf.range(n)
    temperature = tf.cast(temperature, a.dtype)
    a_to_b = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels, tf.matmul(a, all_b, transpose_b=True) / temperature
    )
    b_to_a = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels, tf.matmul(b, all_a, transpose_b=True) / temperature
    )
    global_size = tf.cast(tf.reduce_sum(sizes), a.dtype)
    return 0.5 * (tf.reduce_sum(a_to_b) + tf.reduce_sum(b_to_a)) / global_size


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class DualEncoder(keras.Model):
    """Two encoders trained with :func:`symmetric_info_nce` so that paired inputs land close together.

    ``call({name_a: x_a, name_b: x_b})`` returns ``{name_a: e_a, name_b: e_b}``, unit-length embeddings,
    in float32 also under a mixed-precision policy (the encoders then compute in 16 bits). Under
    ``"mixed_float16"`` the loss is scaled by the optimizer Keras wraps in a ``LossScaleOptimizer``.
    The temperature is learned as ``log(1 / temperature)``, as in CLIP, unless ``learn_temperature`` is
    false; ``fit`` takes the paired inputs alone (no targets) and logs ``loss`` and ``temperature``.

    Args:
        encoder_a, encoder_b: Keras models from each modality to embeddings of one common width.
        names: The two input keys, e.g. ``("image", "audio")``.
        temperature: Initial temperature, above 0.
        learn_temperature: Whether the temperature is trained.
        gather_negatives: Under a distribution strategy with several replicas, whether each replica's
            loss scores its pairs against the whole global batch (:func:`gathered_info_nce`: the same loss
            and gradient as on one device) rather than against its own share of the batch only (fewer
            negatives: with ``R`` replicas of ``n`` pairs, ``n - 1`` instead of ``R n - 1``). No effect on
            one device.
    """

    @check_types
    def __init__(
        self,
        encoder_a: keras.Model,
        encoder_b: keras.Model,
        names: tuple[str, str] = ("a", "b"),
        temperature: float = 0.1,
        learn_temperature: bool = True,
        gather_negatives: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        names = tuple(names)
        if len(names) != 2 or len(set(names)) != 2:
            raise ValueError(
                f"names must be two different strings, e.g. ('image', 'audio'); got names={names!r}."
            )
        check_number(temperature, "temperature", 0.1, low=0, low_open=True)
        self.encoder_a, self.encoder_b = encoder_a, encoder_b
        self.names = names
        self.initial_temperature = float(temperature)
        self.learn_temperature = bool(learn_temperature)
        self.gather_negatives = bool(gather_negatives)
        self.log_inverse_temperature = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(
                math.log(1.0 / self.initial_temperature)
            ),
            trainable=self.learn_temperature,
            name="log_inverse_temperature",
        )
        self.temperature_tracker = keras.metrics.Mean(name="temperature")

    @property
    def temperature(self):
        return ops.exp(-self.log_inverse_temperature)

    def call(self, inputs, training=None):
        a = self.encoder_a(inputs[self.names[0]], training=training)
        b = self.encoder_b(inputs[self.names[1]], training=training)
        return {
            self.names[0]: ops.normalize(ops.cast(a, "float32"), axis=-1),
            self.names[1]: ops.normalize(ops.cast(b, "float32"), axis=-1),
        }

    def _loss(self, inputs, training):
        embeddings = self(inputs, training=training)
        return symmetric_info_nce(
            embeddings[self.names[0]], embeddings[self.names[1]], self.temperature
        )

    def train_step(self, data):
        inputs, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            if replicas > 1 and self.gather_negatives:
                embeddings = self(inputs, training=True)
                # This replica's share of the global batch's loss, already divided by its size.
                share = gathered_info_nce(
                    embeddings[self.names[0]],
                    embeddings[self.names[1]],
                    self.temperature,
                )
                loss = tf.distribute.get_replica_context().all_reduce("sum", share)
            else:
                loss = self._loss(inputs, training=True)
                # Each replica's gradient is summed: divide by the replicas.
                share = loss / replicas
            # Under "mixed_float16", scale_loss multiplies by the loss scale (a no-op otherwise).
            scaled = self.optimizer.scale_loss(share)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        self._loss_tracker.update_state(loss)
        self.temperature_tracker.update_state(self.temperature)
        return {
            "loss": self._loss_tracker.result(),
            "temperature": self.temperature_tracker.result(),
        }

    def test_step(self, data):
        inputs, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        self._loss_tracker.update_state(self._loss(inputs, training=False))
        return {"loss": self._loss_tracker.result()}

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "encoder_a": keras.saving.serialize_keras_object(self.encoder_a),
            "encoder_b": keras.saving.serialize_keras_object(self.encoder_b),
            "names": list(self.names),
            "temperature": self.initial_temperature,
            "learn_temperature": self.learn_temperature,
            "gather_negatives": self.gather_negatives,
        }

    @classmethod
    def from_config(cls, config: dict) -> DualEncoder:
        config = dict(config)
        encoder_a = keras.saving.deserialize_keras_object(config.pop("encoder_a"))
        encoder_b = keras.saving.deserialize_keras_object(config.pop("encoder_b"))
        config["names"] = tuple(config["names"])
        return cls(encoder_a, encoder_b, **config)
