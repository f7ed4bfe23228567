"""The expert networks that mixtures of experts (MMoE) and CGC/PLE layers share.

Taught in :doc:`/book/part1_multitask/04_architectures`. ``E`` dense experts ``d -> units`` are
stored as one ``(d, E, units)`` kernel and computed with one einsum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
from keras import layers, ops

# A backend tensor (a tf.Tensor under TensorFlow), a symbolic KerasTensor or a NumPy array.
Tensor = Any


def add_experts(
    layer: layers.Layer, d: int, num_experts: int, units: int, prefix: str
) -> tuple[keras.Variable, keras.Variable]:
    """Create the weights of ``num_experts`` dense experts ``d -> units`` on ``layer``.

    Returns:
        A kernel ``(d, num_experts, units)``, each expert's slice initialised
        like a ``Dense`` layer's (Glorot uniform), and a zero bias
        ``(num_experts, units)``.
    """
    kernel = layer.add_weight(
        shape=(d, num_experts, units),
        initializer=glorot_uniform(d, units),
        name=f"{prefix}_kernel",
    )
    bias = layer.add_weight(
        shape=(num_experts, units), initializer="zeros", name=f"{prefix}_bias"
    )
    return kernel, bias


def run_experts(
    x: Tensor, kernel: Tensor, bias: Tensor, activation: Callable[[Tensor], Tensor]
) -> Tensor:
    """All experts at once: ``activation(x W_e + b_e)`` for every ``e``.

    Args:
        x: Inputs ``(batch, d)``.
        kernel: ``(d, num_experts, units)``.
        bias: ``(num_experts, units)``.
        activation: A Keras activation function.

    Returns:
        A tensor ``(batch, num_experts, units)``.
    """
    kernel = ops.cast(kernel, x.dtype)
    return activation(ops.einsum("bd,deu->beu", x, kernel) + ops.cast(bias, x.dtype))


def glorot_uniform(fan_in: int, fan_out: int) -> keras.initializers.Initializer:
    """Glorot uniform for one ``fan_in -> fan_out`` map, whatever the kernel's rank.

    Keras's ``GlorotUniform`` would read the fans of a 3-D kernel as a
    convolution's; each expert (or gate) slice should start like a ``Dense``.
    """
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return keras.initializers.RandomUniform(minval=-limit, maxval=limit)


def input_width(input_shape: object, layer_name: str) -> int:
    """The width ``d`` of an input shape ``(batch, d)``; ``ValueError`` otherwise."""
    is_shape = isinstance(input_shape, list | tuple) and not any(
        isinstance(size, list | tuple) for size in input_shape
    )
    if not is_shape or len(input_shape) != 2 or input_shape[-1] is None:
        raise ValueError(
            f"{layer_name} takes one tensor of shape (batch, d) with d known; "
            f"got input shape {input_shape!r}."
        )
    return int(input_shape[-1])
