"""Cross-stitch units: soft parameter sharing between one network per task.

Taught in :doc:`/book/part1_multitask/04_architectures`. Each task keeps its own column of
layers; after a level of the columns, a :class:`CrossStitch` layer lets every column read a learned
mix of all the columns' activations (Misra et al., "Cross-stitch networks for multi-task learning",
CVPR 2016). :func:`build_cross_stitch` stacks them into a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops

from mtl_tutorial.models.heads import check_builder_arguments, towers_and_heads
from mtl_tutorial.tasks import Task
from mtl_tutorial.validation import check_number, check_types, is_positive_int


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class CrossStitch(layers.Layer):
    """Mix K same-shaped activations with one learned K x K matrix.

    With inputs ``x_1, ..., x_K`` of shape ``(batch, units)`` the layer returns
    ``K`` tensors of the same shape,

        y_i = sum_j alpha[i, j] * x_j,

    where ``alpha`` is a trainable ``(K, K)`` matrix (Misra et al., CVPR 2016).
    This implementation learns one matrix shared by all units (channels); the
    paper also describes one matrix per channel. ``alpha`` starts with
    ``identity_weight`` on the diagonal and ``(1 - identity_weight) / (K - 1)``
    off it, so each row sums to 1: ``identity_weight=1.0`` starts the columns
    as separate networks (the layer returns its inputs exactly), smaller values
    start them sharing. Training may move ``alpha`` anywhere.

    Taught in :doc:`/book/part1_multitask/04_architectures`.

    Args:
        identity_weight: Initial diagonal of ``alpha``, a number in ``[0, 1]``.
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Raises:
        ValueError: if ``identity_weight`` is not in ``[0, 1]``; when built, if
            the inputs are not a list of at least two tensors of one shape
            ``(batch, units)``.
    """

    @check_types
    def __init__(self, identity_weight: float = 0.9, **kwargs) -> None:
        super().__init__(**kwargs)
        self.identity_weight = check_number(
            identity_weight, "identity_weight", 0.9, low=0, high=1
        )

    def build(self, input_shape: Sequence[Sequence[int | None]]) -> None:
        num_inputs = _check_input_shapes(input_shape)
        self.alpha = self.add_weight(
            shape=(num_inputs, num_inputs),
            initializer=self._initial_alpha,
            trainable=True,
            name="alpha",
        )

    def _initial_alpha(self, shape: tuple[int, int], dtype: str | None = None):
        """``identity_weight`` on the diagonal, the rest of each row spread evenly."""
        k = shape[0]
        eye = ops.eye(k, dtype=dtype)
        off_diagonal = (1.0 - self.identity_weight) / (k - 1)
        return self.identity_weight * eye + off_diagonal * (1.0 - eye)

    def call(self, inputs: Sequence) -> list:
        """Return ``[y_1, ..., y_K]``, each ``(batch, units)``."""
        stacked = ops.stack(list(inputs), axis=0)  # (K, batch, units)
        alpha = ops.cast(self.alpha, stacked.dtype)
        # Broadcast multiply and sum rather than a matmul: with alpha = I the
        # result is exactly the input, even where a GPU would round a matmul
        # to TensorFloat-32.
        weighted = alpha[:, :, None, None] * stacked[None]  # (K, K, batch, units)
        mixed = ops.sum(weighted, axis=1)  # (K, batch, units)
        return [mixed[i] for i in range(len(inputs))]

    def get_config(self) -> dict:
        return {**super().get_config(), "identity_weight": self.identity_weight}


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

    Taught in :doc:`/book/part1_multitask/04_architectures`.

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
    tasks, input_dim, tower_units = check_builder_arguments(
        input_dim, tasks, tower_units
    )
    hidden_units = tuple(hidden_units)
    if not hidden_units or not all(is_positive_int(u) for u in hidden_units):
        raise ValueError(
            "hidden_units must be one or more positive integers, e.g. (32, 16); "
            f"got hidden_units={hidden_units!r}."
        )
    hidden_units = tuple(int(u) for u in hidden_units)
    identity_weight = check_number(
        identity_weight, "identity_weight", 0.9, low=0, high=1
    )
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
    outputs = towers_and_heads(features, tasks, tower_units)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


def _check_input_shapes(input_shape: object) -> int:
    """Check for a list of >= 2 equal shapes ``(batch, units)``; return its length."""
    is_list = isinstance(input_shape, list | tuple) and all(
        isinstance(shape, list | tuple) for shape in input_shape
    )
    if not is_list or len(input_shape) < 2:
        raise ValueError(
            "CrossStitch takes a list of at least 2 tensors (one per task); "
            f"got input shape {input_shape!r}."
        )
    shapes = [tuple(shape) for shape in input_shape]
    if len(shapes[0]) != 2 or any(shape[1:] != shapes[0][1:] for shape in shapes):
        raise ValueError(
            "CrossStitch inputs must all have one shape (batch, units); "
            f"got shapes {shapes}."
        )
    return len(shapes)
