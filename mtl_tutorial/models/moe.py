"""Mixtures of experts: one gate for all tasks (OMoE) or one gate per task (MMoE).

Taught in :doc:`/book/part1_multitask/04_architectures`. Several small expert networks read the
same input; a softmax gate decides, example by example, how much of each expert's output to pass on
(Ma et al., "Modeling task relationships in multi-task learning with multi-gate mixture-of-experts",
KDD 2018). The experts themselves live in :mod:`mtl_tutorial.models.experts`;
:func:`build_mixture_of_experts` builds OMoE and MMoE models.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops

from mtl_tutorial.models.experts import (
    Tensor,
    add_experts,
    glorot_uniform,
    input_width,
    run_experts,
)
from mtl_tutorial.models.heads import check_builder_arguments, towers_and_heads
from mtl_tutorial.tasks import Task
from mtl_tutorial.validation import check_positive_int, check_types


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class MixtureOfExperts(layers.Layer):
    """Experts shared by all tasks, mixed by one or several softmax gates.

    For an input ``x`` of shape ``(batch, d)``, expert ``e`` is a dense layer
    ``f_e(x) = activation(x W_e + b_e)`` with ``expert_units`` outputs, and gate
    ``g`` is a distribution over the experts, ``gate_g(x) = softmax(x W_g)``
    (no bias, as in the paper). The layer returns ``num_gates`` mixtures,

        y_g = sum_e gate_g(x)[:, e] * f_e(x),    each (batch, expert_units).

    ``num_gates=1`` is the one-gate mixture of experts (OMoE) whose single
    mixture every task reads; ``num_gates=K`` is the multi-gate mixture of
    experts (MMoE), one mixture per task (Ma et al., KDD 2018). All experts
    are computed at once from one ``(d, num_experts, expert_units)`` kernel.

    Taught in :doc:`/book/part1_multitask/04_architectures`.

    Args:
        num_experts: Number of experts ``E``.
        expert_units: Width of each expert's output.
        num_gates: Number of gates (mixtures returned): 1 for OMoE, one per task
            for MMoE.
        expert_activation: Activation of the experts, a Keras activation name.
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Raises:
        ValueError: if a count is not a positive integer; when built, if the
            input is not a single tensor ``(batch, d)``.
    """

    @check_types
    def __init__(
        self,
        num_experts: int,
        expert_units: int,
        num_gates: int = 1,
        expert_activation: str = "relu",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.num_experts = check_positive_int(num_experts, "num_experts", 8)
        self.expert_units = check_positive_int(expert_units, "expert_units", 16)
        self.num_gates = check_positive_int(num_gates, "num_gates", 2)
        self.expert_activation = expert_activation
        self._activation = keras.activations.get(expert_activation)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        d = input_width(input_shape, type(self).__name__)
        self.expert_kernel, self.expert_bias = add_experts(
            self, d, self.num_experts, self.expert_units, "expert"
        )
        self.gate_kernel = self.add_weight(
            shape=(d, self.num_gates, self.num_experts),
            initializer=glorot_uniform(d, self.num_experts),
            name="gate_kernel",
        )

    def call(self, inputs: Tensor) -> list[Tensor]:
        """Return ``num_gates`` tensors ``(batch, expert_units)``."""
        experts = run_experts(
            inputs, self.expert_kernel, self.expert_bias, self._activation
        )  # (batch, E, units)
        gates = self._gates(inputs)  # (batch, G, E)
        mixtures = ops.einsum("bge,beu->bgu", gates, experts)
        return [mixtures[:, g] for g in range(self.num_gates)]

    def gate_weights(self, x: Tensor) -> Tensor:
        """The gates' distributions over the experts for the inputs ``x``.

        Args:
            x: Inputs of shape ``(batch, d)``.

        Returns:
            A tensor ``(batch, num_gates, num_experts)``; each row is
            non-negative and sums to 1.
        """
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        if not self.built:
            self.build(tuple(x.shape))
        return self._gates(x)

    def _gates(self, x: Tensor) -> Tensor:
        logits = ops.einsum("bd,dge->bge", x, ops.cast(self.gate_kernel, x.dtype))
        return ops.softmax(logits, axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "expert_units": self.expert_units,
            "num_gates": self.num_gates,
            "expert_activation": self.expert_activation,
        }


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

    Taught in :doc:`/book/part1_multitask/04_architectures`.

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
        ValueError: if a count is not a positive integer, ``multi_gate`` is not
            True or False or ``tasks`` is invalid.
    """
    tasks, input_dim, tower_units = check_builder_arguments(
        input_dim, tasks, tower_units
    )
    num_gates = len(tasks) if multi_gate else 1
    experts = MixtureOfExperts(num_experts, expert_units, num_gates, name="experts")
    inputs = keras.Input(shape=(input_dim,), name="features")
    mixtures = experts(inputs)
    features = {
        task.name: mixtures[k if multi_gate else 0] for k, task in enumerate(tasks)
    }
    outputs = towers_and_heads(features, tasks, tower_units)
    default_name = "mmoe" if multi_gate else "omoe"
    return keras.Model(inputs=inputs, outputs=outputs, name=name or default_name)
