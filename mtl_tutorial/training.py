"""Seeding, compiling, feeding and training multi-task models.

Taught in chapter 1: ``set_seed`` makes a run repeatable; ``compile_for_tasks`` gives every task its own
loss and metric; ``to_dataset`` turns a :class:`~mtl_tutorial.data.Split` into a shuffled ``tf.data``
pipeline, which trains small models about twice as fast as NumPy arrays passed straight to ``fit``.
``Restart`` refits a compiled model from its starting point without tracing its training step again
(chapter 4). ``MultiTaskModel`` is the one training path for every weighting and gradient rule of
:mod:`mtl_tutorial.rules` (chapters 5 and 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from mtl_tutorial.data.splits import Split
from mtl_tutorial.tasks import Task, check_keys, check_tasks, task_names
from mtl_tutorial.validation import check_number, check_positive_int, check_types


@check_types
def set_seed(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's ``random``, NumPy's global generator, Keras and TensorFlow.

    With ``deterministic=True`` it also asks TensorFlow for deterministic kernels
    (``tf.config.experimental.enable_op_determinism``), so the same seed gives the same numbers run to
    run on the same machine and versions. Code that takes its own ``seed=`` argument (the data loaders)
    does not depend on this global state.
    """
    keras.utils.set_random_seed(
        int(seed)
    )  # check_types has refused non-integers and negatives
    if deterministic:
        tf.config.experimental.enable_op_determinism()


@check_types
def compile_for_tasks(
    model: keras.Model,
    tasks: Sequence[Task],
    *,
    learning_rate: float = 1e-3,
    loss_weights: Mapping[str, float] | None = None,
    steps_per_execution: int = 1,
) -> keras.Model:
    """Compile ``model`` with Adam and, for every task, its loss and headline metric.

    The total loss that Adam minimises is ``sum_k loss_weights[k] * L_k`` (all weights 1 by default). A
    :class:`MultiTaskModel` is compiled with Adam and its tasks' metrics; its rule weights the losses.

    Args:
        model: A model whose outputs are named after the tasks (e.g. from ``build_shared_trunk``).
        tasks: The model's tasks.
        learning_rate: Adam's step size.
        loss_weights: Optional weight per task name.
        steps_per_execution: Training steps run per call into TensorFlow. Values above 1 change no
            numbers but save Python overhead, which dominates the training time of a small model. Must
            be 1 under a distribution strategy with several replicas (a limit of Keras 3).

    Returns:
        The same model, compiled.

    Raises:
        ValueError: if the model's outputs are not the tasks, or ``loss_weights`` names other tasks.
    """
    tasks = check_tasks(tasks)
    names = task_names(tasks)
    if sorted(model.output_names) != sorted(names):
        raise ValueError(
            f"The model's outputs {sorted(model.output_names)} must be named after the tasks {sorted(names)}."
        )
    check_positive_int(steps_per_execution, "steps_per_execution", 10)
    check_number(learning_rate, "learning_rate", 1e-3, low=0, low_open=True)
    replicas = model.distribute_strategy.num_replicas_in_sync
    if steps_per_execution > 1 and replicas > 1:
        # Keras 3 fails inside fit with "You must feed a value for placeholder tensor" here
        # (keras-team/keras#19246): its multi-step loop does not work across replicas.
        raise ValueError(
            "steps_per_execution above 1 does not work under a distribution strategy with several "
            f"replicas in Keras 3; got steps_per_execution={steps_per_execution} with {replicas} "
            "replicas. Use steps_per_execution=1."
        )
    if isinstance(model, MultiTaskModel):
        if loss_weights is not None:
            raise ValueError(
                "A MultiTaskModel's rule weights the losses: give it rule=mtl.rules.Static(weights) "
                f"instead of loss_weights; got loss_weights={loss_weights!r}."
            )
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            steps_per_execution=steps_per_execution,
        )
        model.optimizer.build(model.trainable_variables)
        return model
    if loss_weights is not None:
        check_keys(dict(loss_weights), tasks, "loss_weights")
        loss_weights = {name: float(loss_weights[name]) for name in names}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss={task.name: task.loss for task in tasks},
        loss_weights=loss_weights,
        metrics={task.name: [task.metric] for task in tasks},
        steps_per_execution=steps_per_execution,
    )
    # Create Adam's moment variables now: created inside fit's first traced step instead, they make
    # TensorFlow trace that step again, which costs a small model about a fifth of its training time.
    model.optimizer.build(model.trainable_variables)
    return model


@check_types
def to_dataset(
    split: Split,
    tasks: Sequence[Task] | None = None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of ``(x, y)`` batches from ``split``.

    Args:
        split: The examples.
        tasks: Keep only these tasks' targets (for a single-task model); default all of them.
        batch_size: Examples per batch.
        shuffle: Reshuffle the examples every epoch (for training data); needs ``seed``.
        seed: Seed of the shuffle.

    Returns:
        A dataset of ``(x, y)`` with ``x`` of shape ``(batch, d)`` and ``y`` a dict keyed by task
        name; of ``(x, y, weights)`` when the split has per-task sample weights (missing labels).
        Pass it to ``fit`` with ``shuffle=False``: the dataset shuffles itself.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer; got batch_size={batch_size!r}."
        )
    if shuffle and seed is None:
        raise ValueError(
            "shuffle=True needs a seed so that runs repeat; got seed=None."
        )
    wanted = list(split.y) if tasks is None else task_names(check_tasks(tasks))
    unknown = sorted(set(wanted) - set(split.y))
    if unknown:
        raise ValueError(
            f"Unknown tasks {unknown}; the split has targets for {sorted(split.y)}."
        )
    y = {name: split.y[name] for name in wanted}
    if split.weights is None:
        dataset = tf.data.Dataset.from_tensor_slices((split.x, y))
    else:
        ones = np.ones(len(split), np.float32)
        weights = {name: split.weights.get(name, ones) for name in wanted}
        dataset = tf.data.Dataset.from_tensor_slices((split.x, y, weights))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class Restart:
    """Put a compiled model back to the weights and optimizer state it had when this object was made.

    ``fit`` on a new model makes TensorFlow trace the training step first, about 0.8 s for the book's small
    models; refitting the same model after a restart reuses the traced step. Restarted, the model trains
    exactly as a freshly built and compiled copy with the same weights would.

    Args:
        model: A compiled model, usually just after ``compile_for_tasks``.

    Example:
        >>> restart = Restart(model)  # doctest: +SKIP
        >>> model.fit(...)  # doctest: +SKIP
        >>> restart()  # back to the starting weights, Adam at step 0
    """

    @check_types
    def __init__(self, model: keras.Model) -> None:
        if (
            not isinstance(model, keras.Model)
            or getattr(model, "optimizer", None) is None
        ):
            raise ValueError(
                f"model must be a compiled keras.Model; got model={model!r}."
            )
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        self.model = model
        self._weights = model.get_weights()
        self._optimizer_state = [
            variable.numpy() for variable in model.optimizer.variables
        ]

    def __call__(self) -> keras.Model:
        """Restore the starting weights and optimizer state; returns the model."""
        self.model.set_weights(self._weights)
        for variable, value in zip(
            self.model.optimizer.variables, self._optimizer_state, strict=True
        ):
            variable.assign(value)
        return self.model


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
    over the epoch) and whatever else the rule logs. Taught in the chapter "Letting the model choose the
    weights".

    Args:
        network: A Keras model with one output per task, named after it (e.g. from ``mtl.models``).
        tasks: The tasks, which fix each output's loss (cross-entropy or mean squared error).
        rule: A :class:`~mtl_tutorial.rules.Rule`; default :class:`~mtl_tutorial.rules.Equal`.

    Raises:
        ValueError: if the network's outputs are not the tasks or ``rule`` is not a rule.
    """

    @check_types
    def __init__(
        self, network: keras.Model, tasks: Sequence[Task], rule=None, **kwargs
    ) -> None:
        from mtl_tutorial.rules import Equal, Rule

        super().__init__(**kwargs)
        tasks = check_tasks(tasks)
        if not isinstance(network, keras.Model):
            raise ValueError(f"network must be a keras.Model; got network={network!r}.")
        names = task_names(tasks)
        if sorted(network.output_names) != sorted(names):
            raise ValueError(
                f"The network's outputs {sorted(network.output_names)} must be named after the tasks "
                f"{sorted(names)}."
            )
        rule = Equal() if rule is None else rule
        if not isinstance(rule, Rule):
            raise ValueError(
                f"rule must be an mtl_tutorial.rules.Rule, e.g. Equal(); got rule={rule!r}."
            )
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
        # through the stack, or every variable would look shared.
        losses = []
        for task, loss in zip(self.tasks, self._loss_functions, strict=True):
            weight = None if sample_weight is None else sample_weight.get(task.name)
            losses.append(loss(y[task.name], y_pred[task.name], sample_weight=weight))
        return losses

    def _track(self, x, total, losses, logs=None):
        batch = tf.shape(tf.nest.flatten(x)[0])[0]
        self._loss_tracker.update_state(total, sample_weight=batch)
        self._task_tracker.update_state(losses, sample_weight=batch)
        if logs is not None:
            self._rule_tracker.update_state(
                tf.stack([logs[name] for name in self._rule_tracker.names])
            )

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
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
        # Per-task gradients; a variable no task reaches gets None, one that two or more reach is shared.
        per_task = [
            tape.gradient(scaled_losses[k], variables) for k in range(len(self.tasks))
        ]
        reached = [
            sum(g[i] is not None for g in per_task) for i in range(len(variables))
        ]
        shared = [i for i, count in enumerate(reached) if count >= 2]
        weights = tf.unstack(self.rule.task_weights())
        grads = []
        for i, variable in enumerate(variables):
            own = [
                w * g[i]
                for w, g in zip(weights, per_task, strict=True)
                if g[i] is not None
            ]
            grads.append(tf.add_n(own) if own else tf.zeros_like(variable))
        if not shared:
            matrix = tf.zeros((len(self.tasks), 0))
            self.rule.combine(matrix, losses, self.optimizer.iterations)
            return grads, matrix
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
        update = self.rule.combine(matrix, losses, self.optimizer.iterations)
        sizes = [int(np.prod(variables[i].shape)) for i in shared]
        for i, piece in zip(shared, tf.split(update, sizes), strict=True):
            grads[i] = tf.reshape(piece, variables[i].shape)
        return grads, matrix

    def task_gradients(self, x, y, sample_weight=None) -> np.ndarray:
        """Every task's loss gradient on the shared parameters, on one batch: a ``(K, P)`` array.

        Row ``k`` is task ``k``'s gradient, flattened over the ``P`` shared parameters (those that two
        or more tasks' losses reach). Computed eagerly, outside training. Taught in the chapter
        "Conflicting gradients".
        """
        variables = self.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            losses = self._loss_list(y, self(x, training=False), sample_weight)
        per_task = [tape.gradient(loss, variables) for loss in losses]
        del tape
        shared = [
            i
            for i in range(len(variables))
            if sum(g[i] is not None for g in per_task) >= 2
        ]
        return np.stack(
            [
                np.concatenate([np.ravel(g[i]) for i in shared])
                if shared
                else np.zeros(0)
                for g in per_task
            ]
        )

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
            if name not in self._rule_tracker.names
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
