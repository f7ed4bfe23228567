"""Seeding, compiling and feeding multi-task models.

Taught in :doc:`/book/part1_multitask/01_why_several_tasks`: ``set_seed`` makes a run repeatable;
``compile_for_tasks`` gives every task its own loss and metric; ``to_dataset`` turns a
:class:`~mtl_tutorial.data.Split` into a shuffled ``tf.data`` pipeline, which trained the book's small models
faster per epoch than NumPy arrays passed straight to ``fit`` (1.3 to 1.6 times, measured on a 2-core CPU
with :mod:`mtl_tutorial.scaling`; Keras also builds a ``tf.data`` pipeline from arrays, of its own).
``Restart`` refits a compiled model from its starting point without tracing its training step again
(:doc:`/book/part1_multitask/04_architectures`). The training path for the weighting and gradient rules
of :mod:`mtl_tutorial.rules` (:doc:`/book/part1_multitask/05_learned_weights` and
:doc:`/book/part1_multitask/06_conflicting_gradients`) is
:class:`~mtl_tutorial.multitask_model.MultiTaskModel`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from mtl_tutorial.data.splits import Split
from mtl_tutorial.multitask_model import MultiTaskModel
from mtl_tutorial.tasks import Task, check_keys, check_tasks, task_names
from mtl_tutorial.validation import (
    check_adam,
    check_int,
    check_number,
    check_positive_int,
    check_seed,
    check_types,
)


@check_types
def set_seed(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's ``random``, NumPy's global generator, Keras and TensorFlow.

    With ``deterministic=True`` it also asks TensorFlow for deterministic kernels
    (``tf.config.experimental.enable_op_determinism``), so the same seed gives the same numbers run to
    run on the same machine and versions. Code that takes its own ``seed=`` argument (the data loaders)
    does not depend on this global state.
    """
    keras.utils.set_random_seed(check_seed(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _reseed(seed: int) -> None:
    """Leave the random state :func:`set_seed` leaves, without clearing TensorFlow's kernel caches.

    ``tf.random.set_seed`` (inside ``keras.utils.set_random_seed``) also clears the caches of TensorFlow's
    kernels, so that *stateful* random kernels restart their sequences; re-warming them costs about 0.4 s of
    CPU before the next ``fit``, paid twice per training by
    :func:`~mtl_tutorial.experiments.train_over_seeds`. Keras 3 draws every random number from seeds
    (stateless kernels), and so does this package, so nothing they train depends on those caches: this sets
    the same seeds (Python, NumPy, Keras's global seed, TensorFlow's global seed and its generator of op
    seeds) and leaves the caches. A model with TensorFlow's own stateful random ops would not have them
    restarted; use :func:`set_seed` for that. It reads private attributes of Keras and TensorFlow and falls
    back to :func:`set_seed` where they are missing. Tested to give results identical to ``set_seed``.
    """
    seed = check_seed(seed)
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils
        from tensorflow.python.eager import context

        eager = context.context()
        seed_names = rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR
        if not (hasattr(eager, "_seed") and hasattr(eager, "_rng")):
            raise AttributeError("TensorFlow's eager context keeps its seed elsewhere")
    except (ImportError, AttributeError):
        set_seed(seed)
        return
    global_state.set_global_attribute(seed_names[0], seed)
    global_state.set_global_attribute(seed_names[1], None)  # remade from the seed
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the global generator is what set_seed seeds)
    eager._seed, eager._rng = seed, random.Random(seed)
    tf.config.experimental.enable_op_determinism()


@check_types
def compile_for_tasks(
    model: keras.Model,
    tasks: Sequence[Task],
    *,
    learning_rate: float = 1e-3,
    loss_weights: Mapping[str, float] | None = None,
    steps_per_execution: int = 1,
    adam: Mapping[str, float] | None = None,
) -> keras.Model:
    """Compile ``model`` with Adam and, for every task, its loss and headline metric.

    The total loss that Adam minimises is ``sum_k loss_weights[k] * L_k`` (all weights 1 by default). A
    :class:`~mtl_tutorial.multitask_model.MultiTaskModel` is compiled with Adam and its tasks' metrics;
    its rule weights the losses.

    Args:
        model: A model whose outputs are named after the tasks (e.g. from ``build_shared_trunk``).
        tasks: The model's tasks.
        learning_rate: Adam's step size.
        loss_weights: Optional weight per task name.
        steps_per_execution: Training steps run per call into TensorFlow. Values above 1 change no
            numbers but save Python overhead, which dominates the training time of a small model. Must
            be 1 under a distribution strategy with several replicas (a limit of Keras 3).
        adam: Adam's other settings, any of ``beta_1``, ``beta_2`` and ``epsilon`` (default: Keras's,
            0.9, 0.999 and 1e-7), e.g. to scale them with the batch size as the square-root rule does.

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
    adam = check_adam(adam)
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
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate, **adam),
            steps_per_execution=steps_per_execution,
        )
        model.optimizer.build(model.trainable_variables)
        return model
    if loss_weights is not None:
        check_keys(dict(loss_weights), tasks, "loss_weights")
        loss_weights = {name: float(loss_weights[name]) for name in names}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, **adam),
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
    if seed is not None:
        seed = check_seed(seed)
    batch_size = check_int(batch_size, "batch_size", low=1)
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
        if getattr(model, "optimizer", None) is None:
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
