"""``MultiTaskModel``: one training path for every weighting and gradient rule.

A :class:`MultiTaskModel` wraps a network whose outputs are named after the tasks; its training step
computes every task's loss and hands them to a rule of :mod:`mtl_tutorial.rules`, which weights them or
combines the tasks' gradients on the shared parameters. Taught in
:doc:`/book/part1_multitask/05_learned_weights` and :doc:`/book/part1_multitask/06_conflicting_gradients`;
compile one with :func:`mtl_tutorial.training.compile_for_tasks`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from mtl_tutorial.rules import Equal, Rule
from mtl_tutorial.tasks import Task, check_tasks, task_names
from mtl_tutorial.validation import check_types

__all__ = ["MultiTaskModel"]


def _task_loss(task: Task) -> keras.losses.Loss:
    # The same losses, with the same reduction, that compile(loss={name: task.loss}) uses.
    if task.kind == "classification":
        return keras.losses.SparseCategoricalCrossentropy(name=f"{task.name}_loss")
    return keras.losses.MeanSquaredError(name=f"{task.name}_loss")


def _task_config(task: Task) -> dict:
    return {
        "name": task.name,
        "kind": task.kind,
        "num_classes": task.num_classes,
        "class_names": list(task.class_names),
        "unit": task.unit,
    }


def _per_task_gradients(tape, losses, variables):
    """Each task's gradients, which variables are shared, and the tasks' gradients on the shared ones.

    Args:
        tape: A persistent ``tf.GradientTape`` that recorded ``losses``.
        losses: The ``K`` tasks' scalar losses, as a list: differentiating one task's loss must not
            reach the others' through a stacked tensor, or every variable would look shared.
        variables: The variables to differentiate with respect to.

    Returns:
        ``(per_task, shared, matrix)``: ``per_task[k][i]`` is task ``k``'s gradient on ``variables[i]``,
        ``None`` where its loss does not reach it; ``shared`` the indices of the variables two or more
        tasks reach; ``matrix`` the ``(K, P)`` tensor whose row ``k`` is task ``k``'s gradient on the
        shared variables, flattened and concatenated in order (zeros where the task does not reach one;
        ``P = 0`` without shared variables).
    """
    per_task = [tape.gradient(loss, variables) for loss in losses]
    shared = [
        i for i in range(len(variables)) if sum(g[i] is not None for g in per_task) >= 2
    ]
    if not shared:
        return per_task, shared, tf.zeros((len(losses), 0))
    matrix = tf.stack(
        [
            tf.concat(
                [
                    tf.reshape(
                        g[i] if g[i] is not None else tf.zeros_like(variables[i]),
                        [-1],
                    )
                    for i in shared
                ],
                axis=0,
            )
            for g in per_task
        ]
    )
    return per_task, shared, matrix


def _replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


class _MeanOfEach(keras.metrics.Metric):
    """The running mean of each entry of a vector, logged under one name per entry.

    One metric for all tasks rather than one per task: fewer operations in every training step.
    """

    def __init__(self, names: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.names = tuple(names)
        self.total = self.add_variable(
            shape=(len(self.names),), initializer="zeros", name="total"
        )
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values, sample_weight=None):
        weight = (
            1.0 if sample_weight is None else tf.cast(sample_weight, self.total.dtype)
        )
        self.total.assign_add(tf.cast(values, self.total.dtype) * weight)
        self.count.assign_add(weight)

    def result(self):
        means = tf.math.divide_no_nan(self.total, self.count)
        return {name: means[k] for k, name in enumerate(self.names)}

    def get_config(self) -> dict:
        return {**super().get_config(), "names": list(self.names)}


class _SpreadOfEach(keras.metrics.Metric):
    """The running standard deviation of each entry of a vector over the steps, one name per entry."""

    def __init__(self, names: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.names = tuple(names)
        shape = (len(self.names),)
        self.total = self.add_variable(shape=shape, initializer="zeros", name="total")
        self.squares = self.add_variable(
            shape=shape, initializer="zeros", name="squares"
        )
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values, sample_weight=None):
        del sample_weight
        values = tf.cast(values, self.total.dtype)
        self.total.assign_add(values)
        self.squares.assign_add(tf.square(values))
        self.count.assign_add(1.0)

    def result(self):
        mean = tf.math.divide_no_nan(self.total, self.count)
        variance = tf.math.divide_no_nan(self.squares, self.count) - tf.square(mean)
        spread = tf.sqrt(tf.maximum(variance, 0.0))
        return {name: spread[k] for k, name in enumerate(self.names)}

    def get_config(self) -> dict:
        return {**super().get_config(), "names": list(self.names)}


class _EndEpoch(keras.callbacks.Callback):
    """Hands each epoch's mean training loss per task to the model's rule (for DWA)."""

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        losses = np.array(
            [float(logs[f"{name}_loss"]) for name in model.rule.task_names]
        )
        model.rule.end_epoch(losses)


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class MultiTaskModel(keras.Model):
    """A multi-task network trained by a pluggable :mod:`~mtl_tutorial.rules` rule.

    Wraps a network whose outputs are named after the tasks. ``fit``, ``evaluate`` and ``predict`` work as
    for any Keras model (callbacks, validation data, ``tf.data`` input with per-task sample weights or
    masks, ``tf.distribute`` strategies); only the training step differs: it computes every task's loss
    and lets ``rule`` turn them into the update. Changing ``rule`` is the only change needed to switch
    from equal weights to uncertainty weighting or PCGrad. History gets, per epoch, ``loss`` (the rule's
    objective), ``<task>_loss`` (unweighted), each task's metric, ``weight_<task>`` (the rule's mean weight
    over the epoch's steps), ``weight_sd_<task>`` (the standard deviation of that weight over the epoch's
    steps: how much the rule moved it within the epoch) and whatever else the rule logs. Taught in
    :doc:`/book/part1_multitask/05_learned_weights`.

    Args:
        network: A Keras model with one output per task, named after it (e.g. from ``mtl.models``).
        tasks: The tasks, which fix each output's loss (cross-entropy or mean squared error).
        rule: A :class:`~mtl_tutorial.rules.Rule`; default :class:`~mtl_tutorial.rules.Equal`.

    Raises:
        ValueError: if the network's outputs are not the tasks or ``rule`` is not a rule.
    """

    @check_types
    def __init__(
        self,
        network: keras.Model,
        tasks: Sequence[Task],
        rule: Rule | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        tasks = check_tasks(tasks)
        names = task_names(tasks)
        if sorted(network.output_names) != sorted(names):
            raise ValueError(
                f"The network's outputs {sorted(network.output_names)} must be named after the tasks "
                f"{sorted(names)}."
            )
        rule = Equal() if rule is None else rule
        self.network = network
        self.tasks = tasks
        self.rule = rule
        self.rule.setup(names)
        self._loss_functions = [_task_loss(task) for task in tasks]
        self._task_tracker = _MeanOfEach(
            [f"{name}_loss" for name in names], name="task_losses"
        )
        log_names = [f"weight_{name}" for name in names] + list(rule.extra_log_names())
        self._rule_tracker = _MeanOfEach(log_names, name="rule_logs")
        self._spread_tracker = _SpreadOfEach(
            [f"weight_sd_{name}" for name in names], name="weight_spread"
        )

    @property
    def output_names(self) -> list[str]:
        return list(self.network.output_names)

    def call(self, inputs, training=None):
        return self.network(inputs, training=training)

    def compile(
        self, optimizer="adam", loss=None, loss_weights=None, metrics=None, **kwargs
    ) -> None:
        """Compile as usual, without ``loss`` or ``loss_weights``: the tasks and the rule give those.

        ``metrics`` default to each task's headline metric; they are computed with the sample weights,
        so rows masked with weight 0 do not count. XLA compilation (``jit_compile``) is off by default.
        """
        if loss is not None or loss_weights is not None:
            raise ValueError(
                "MultiTaskModel takes no loss or loss_weights: the tasks fix the losses and the rule "
                "weights them (mtl.rules.Static for fixed weights); got "
                f"loss={loss!r}, loss_weights={loss_weights!r}."
            )
        if metrics is None:
            metrics = {task.name: [task.metric] for task in self.tasks}
        kwargs.setdefault("jit_compile", False)
        kwargs.pop("weighted_metrics", None)
        super().compile(optimizer=optimizer, weighted_metrics=metrics, **kwargs)

    def task_losses(self, y, y_pred, sample_weight=None):
        """Every task's loss on a batch, as a tensor of shape ``(K,)`` in the order of ``tasks``."""
        return tf.stack(self._loss_list(y, y_pred, sample_weight))

    def _loss_list(self, y, y_pred, sample_weight=None):
        # A list, not a stacked tensor: differentiating one task's loss must not reach the others
        # through the stack, or every variable would look shared. Under tf.distribute, a Keras loss
        # comes back already divided by the number of replicas; multiply that back, so that the rule
        # and the logs see each replica's mean loss (train_step divides once, for the gradients).
        replicas = _replicas()
        losses = []
        for task, loss in zip(self.tasks, self._loss_functions, strict=True):
            weight = None if sample_weight is None else sample_weight.get(task.name)
            value = loss(y[task.name], y_pred[task.name], sample_weight=weight)
            losses.append(value * replicas if replicas > 1 else value)
        return losses

    def _track(self, x, total, losses, logs=None):
        batch = tf.shape(tf.nest.flatten(x)[0])[0]
        self._loss_tracker.update_state(total, sample_weight=batch)
        self._task_tracker.update_state(losses, sample_weight=batch)
        if logs is not None:
            self._rule_tracker.update_state(
                tf.stack([logs[name] for name in self._rule_tracker.names])
            )
            self._spread_tracker.update_state(self.rule.task_weights())

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        self.rule.begin_step(self.optimizer.iterations)
        with tf.GradientTape(persistent=self.rule.uses_task_gradients) as tape:
            y_pred = self(x, training=True)
            loss_list = self._loss_list(y, y_pred, sample_weight)
            losses = tf.stack(loss_list)
            total = self.rule.total(losses)
            # Under tf.distribute, each replica's gradient is summed: divide by the number of replicas.
            scaled = self.optimizer.scale_loss(total / _replicas())
            scaled_losses = [
                self.optimizer.scale_loss(loss / _replicas()) for loss in loss_list
            ]
        gradients = None
        if not self.rule.uses_task_gradients:
            grads = tape.gradient(scaled, variables)
        else:
            grads, gradients = self._combined_gradients(
                tape, scaled_losses, losses, variables
            )
        del tape
        self.optimizer.apply(grads, variables)
        if self.rule.uses_losses_after_update:
            after = self._loss_list(y, self(x, training=True), sample_weight)
            self.rule.after_update(losses, tf.stack(after))
        logs = {
            f"weight_{name}": w
            for name, w in zip(
                self.rule.task_names, tf.unstack(self.rule.task_weights()), strict=True
            )
        }
        logs.update(self.rule.extra_logs(losses, gradients))
        self._track(x, total, losses, logs)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _combined_gradients(self, tape, scaled_losses, losses, variables):
        per_task, shared, matrix = _per_task_gradients(tape, scaled_losses, variables)
        weights = tf.unstack(self.rule.task_weights())
        grads = []
        for i, variable in enumerate(variables):
            own = [
                w * g[i]
                for w, g in zip(weights, per_task, strict=True)
                if g[i] is not None
            ]
            grads.append(tf.add_n(own) if own else tf.zeros_like(variable))
        # Called without shared parameters too: a rule may keep state (GradNorm's first losses).
        update = self.rule.combine(matrix, losses, self.optimizer.iterations)
        if shared:
            sizes = [int(np.prod(variables[i].shape)) for i in shared]
            for i, piece in zip(shared, tf.split(update, sizes), strict=True):
                grads[i] = tf.reshape(piece, variables[i].shape)
        return grads, matrix

    def task_gradients(self, x, y, sample_weight=None) -> np.ndarray:
        """Every task's loss gradient on the shared parameters, on one batch: a ``(K, P)`` array.

        Row ``k`` is task ``k``'s gradient, flattened over the ``P`` shared parameters (those that two
        or more tasks' losses reach). Computed eagerly, outside training. Taught in
        :doc:`/book/part1_multitask/06_conflicting_gradients`.
        """
        with tf.GradientTape(persistent=True) as tape:
            losses = self._loss_list(y, self(x, training=False), sample_weight)
        _, _, matrix = _per_task_gradients(tape, losses, self.trainable_variables)
        del tape
        return np.asarray(matrix)

    def task_gradient_cosines(self, x, y, sample_weight=None) -> np.ndarray:
        """Cosine similarity of every pair of tasks' gradients on the shared parameters, on one batch.

        Returns a ``(K, K)`` array built from :meth:`task_gradients`; entry ``(i, j)`` below 0 means
        that a step for task ``i`` increases task ``j``'s loss, to first order.
        """
        matrix = self.task_gradients(x, y, sample_weight)
        norms = np.linalg.norm(matrix, axis=1)
        outer = np.outer(norms, norms)
        return np.divide(
            matrix @ matrix.T, outer, out=np.zeros_like(outer), where=outer > 0
        )

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        losses = self.task_losses(y, y_pred, sample_weight)
        self._track(x, self.rule.total(losses), losses)
        logs = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return {
            name: value
            for name, value in logs.items()
            if name not in self._rule_tracker.names + self._spread_tracker.names
        }

    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``, plus a callback that hands each epoch's losses to the rule."""
        return super().fit(*args, callbacks=[*(callbacks or []), _EndEpoch()], **kwargs)

    def compile_from_config(self, config: dict) -> None:
        # Called by keras.saving.load_model: compile again as the saved model was compiled.
        config = keras.saving.deserialize_keras_object(config)
        for unused in ("loss", "loss_weights", "metrics"):
            config.pop(unused, None)
        config["metrics"] = config.pop("weighted_metrics", None)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "network": keras.saving.serialize_keras_object(self.network),
            "tasks": [_task_config(task) for task in self.tasks],
            "rule": keras.saving.serialize_keras_object(self.rule),
        }

    @classmethod
    def from_config(cls, config: dict) -> MultiTaskModel:
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"))
        rule = keras.saving.deserialize_keras_object(config.pop("rule"))
        tasks = [
            Task(**{**c, "class_names": tuple(c["class_names"])})
            for c in config.pop("tasks")
        ]
        return cls(network, tasks, rule, **config)
