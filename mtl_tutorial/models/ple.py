"""Customized gate control (CGC), the level that Progressive Layered Extraction (PLE) stacks.

Taught in :doc:`/book/part1_multitask/04_architectures`. Unlike a mixture of experts, where every
gate may use every expert, CGC gives each task experts of its own beside experts shared by all tasks;
a task's gate mixes only its own and the shared experts (Tang et al., "Progressive layered extraction
(PLE): a novel multi-task learning (MTL) model for personalized recommendations", RecSys 2020).
:func:`build_ple` stacks levels into PLE.
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
class CustomizedGateControl(layers.Layer):
    """One CGC level: task-specific and shared experts, a gate per task.

    Inputs are either one tensor ``(batch, d)`` that every expert reads (the
    first level), or a list of ``num_tasks + 1`` tensors ``(batch, d_k)``: the
    tasks' inputs, then the shared input (the outputs of a level below with
    ``output_shared=True``). Task ``k``'s experts read input ``k``; the shared
    experts read the shared input. With ``E_k`` task ``k``'s expert outputs
    and ``E_s`` the shared ones, each ``(batch, n, expert_units)``,

        y_k = sum_e softmax(x_k W_k)[:, e] * concat(E_k, E_s)[:, e]

    (Tang et al., RecSys 2020). With ``output_shared=True`` a shared gate,
    computed from the shared input, also mixes all experts,
    ``concat(E_1, ..., E_K, E_s)``, and its mixture is appended, so that
    another level can be stacked on top: that stack is PLE. The last (or only)
    level has ``output_shared=False``.

    Taught in :doc:`/book/part1_multitask/04_architectures`.

    Args:
        num_tasks: Number of tasks ``K``.
        num_shared_experts: Experts shared by all tasks.
        num_task_experts: Experts of each task.
        expert_units: Width of each expert's output.
        output_shared: Whether to append the shared gate's mixture.
        expert_activation: Activation of the experts, a Keras activation name.
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Raises:
        ValueError: if a count is not a positive integer or ``output_shared`` is
            not True or False; when built, if the inputs are neither one tensor
            ``(batch, d)`` nor a list of ``num_tasks + 1`` of them.
    """

    @check_types
    def __init__(
        self,
        num_tasks: int,
        num_shared_experts: int,
        num_task_experts: int,
        expert_units: int,
        output_shared: bool = False,
        expert_activation: str = "relu",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.num_tasks = check_positive_int(num_tasks, "num_tasks", 2)
        self.num_shared_experts = check_positive_int(
            num_shared_experts, "num_shared_experts", 2
        )
        self.num_task_experts = check_positive_int(
            num_task_experts, "num_task_experts", 2
        )
        self.expert_units = check_positive_int(expert_units, "expert_units", 16)
        # check_types accepts NumPy's bools too; the config keeps a Python bool.
        self.output_shared = bool(output_shared)
        self.expert_activation = expert_activation
        self._activation = keras.activations.get(expert_activation)

    def build(self, input_shape: Sequence) -> None:
        widths = self._input_widths(input_shape)  # tasks' widths, then shared
        n_task, n_shared = self.num_task_experts, self.num_shared_experts
        units, k = self.expert_units, self.num_tasks
        self.task_experts = [
            add_experts(self, widths[t], n_task, units, f"task_{t}_expert")
            for t in range(k)
        ]
        self.shared_experts = add_experts(
            self, widths[-1], n_shared, units, "shared_expert"
        )
        self.task_gates = [
            self._add_gate(widths[t], n_task + n_shared, f"task_{t}_gate_kernel")
            for t in range(k)
        ]
        if self.output_shared:
            self.shared_gate = self._add_gate(
                widths[-1], k * n_task + n_shared, "shared_gate_kernel"
            )

    def _add_gate(self, d: int, num_experts: int, name: str) -> keras.Variable:
        return self.add_weight(
            shape=(d, num_experts),
            initializer=glorot_uniform(d, num_experts),
            name=name,
        )

    def _input_widths(self, input_shape: Sequence) -> list[int]:
        name = type(self).__name__
        is_list = isinstance(input_shape, list | tuple) and any(
            isinstance(shape, list | tuple) for shape in input_shape
        )
        if not is_list:
            return [input_width(input_shape, name)] * (self.num_tasks + 1)
        if len(input_shape) != self.num_tasks + 1:
            raise ValueError(
                f"{name} with num_tasks={self.num_tasks} takes one tensor or a list "
                f"of {self.num_tasks + 1} (the tasks' inputs, then the shared one); "
                f"got {len(input_shape)} inputs."
            )
        return [input_width(shape, name) for shape in input_shape]

    def call(self, inputs: Tensor | Sequence[Tensor]) -> list[Tensor]:
        """Return ``num_tasks`` tensors ``(batch, expert_units)``, then the shared one.

        The shared mixture comes last and only if ``output_shared``.
        """
        xs = self._split(inputs)
        task_experts, shared_experts = self._experts(xs)
        gates = self._gates(xs)
        pools = [ops.concatenate([e, shared_experts], axis=1) for e in task_experts]
        if self.output_shared:
            pools.append(ops.concatenate([*task_experts, shared_experts], axis=1))
        return [
            ops.einsum("be,beu->bu", gate, pool)
            for gate, pool in zip(gates, pools, strict=True)
        ]

    def gate_weights(self, x: Tensor | Sequence[Tensor]) -> list[Tensor]:
        """The gates' distributions over the experts they mix, for the inputs ``x``.

        Args:
            x: The layer's input: one tensor ``(batch, d)`` or a list of
                ``num_tasks + 1``.

        Returns:
            One tensor per gate. For task ``k`` it has shape ``(batch, num_task_experts +
            num_shared_experts)`` (its own experts first, then the shared ones);
            last, if ``output_shared``, ``(batch, num_tasks * num_task_experts +
            num_shared_experts)`` (task 0's experts, ..., then the shared ones).
            Each row is non-negative and sums to 1.
        """
        if isinstance(x, list | tuple):
            x = [ops.convert_to_tensor(t, dtype=self.compute_dtype) for t in x]
            shape = [tuple(t.shape) for t in x]
        else:
            x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
            shape = tuple(x.shape)
        if not self.built:
            self.build(shape)
        return self._gates(self._split(x))

    def _split(self, inputs: Tensor | Sequence[Tensor]) -> list[Tensor]:
        """The tasks' inputs then the shared input, ``num_tasks + 1`` tensors."""
        if isinstance(inputs, list | tuple):
            return list(inputs)
        return [inputs] * (self.num_tasks + 1)

    def _experts(self, xs: Sequence[Tensor]) -> tuple[list[Tensor], Tensor]:
        act = self._activation
        k = self.num_tasks
        task = [
            run_experts(x, *w, act)
            for x, w in zip(xs[:k], self.task_experts, strict=True)
        ]
        return task, run_experts(xs[-1], *self.shared_experts, act)

    def _gates(self, xs: Sequence[Tensor]) -> list[Tensor]:
        k = self.num_tasks
        pairs = list(zip(xs[:k], self.task_gates, strict=True))
        if self.output_shared:
            pairs.append((xs[-1], self.shared_gate))
        return [
            ops.softmax(ops.matmul(x, ops.cast(w, x.dtype)), axis=-1) for x, w in pairs
        ]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_tasks": self.num_tasks,
            "num_shared_experts": self.num_shared_experts,
            "num_task_experts": self.num_task_experts,
            "expert_units": self.expert_units,
            "output_shared": self.output_shared,
            "expert_activation": self.expert_activation,
        }


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

    Taught in :doc:`/book/part1_multitask/04_architectures`.

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
    tasks, input_dim, tower_units = check_builder_arguments(
        input_dim, tasks, tower_units
    )
    num_levels = check_positive_int(num_levels, "num_levels", 2)
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
    outputs = towers_and_heads(features, tasks, tower_units)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)
