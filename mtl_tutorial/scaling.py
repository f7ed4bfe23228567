"""Measuring what a training step costs: feeds, replicas and precision, as ratios measured in one run.

Taught in :doc:`/book/part3_together/02_notebook_to_scale`. :func:`time_training` builds a model the way the
chapter does (under a distribution strategy's scope and a dtype policy), compiles it with
:func:`~mtl_tutorial.training.compile_for_tasks`, trains it once to trace its training step (not timed), then
times more epochs of training. :func:`compare_configurations` measures several configurations
**interleaved** (all of them once, then all again, ...), so that a moment when the machine is busy slows
every configuration alike, and reports each one's best round as a ratio to a reference's.

The two feeds differ less than their names say. ``"arrays"`` passes NumPy arrays straight to ``fit``; with the
TensorFlow backend, Keras 3 then builds a ``tf.data`` pipeline itself (its ``ArrayDataAdapter``): the whole
arrays become one tensor, each epoch draws a shuffled permutation of the indices, batches of indices pick
their examples with ``tf.gather`` in a parallel ``map``, and the batches are prefetched. ``"dataset"`` is
:func:`~mtl_tutorial.training.to_dataset`: ``from_tensor_slices``, a shuffle buffer over the whole split,
``batch`` and ``prefetch``. Both read from memory and both prefetch. Neither uses ``cache``, which keeps
what the steps before it produced: here that is slices of arrays already in memory, so it has nothing to
save; it pays after an expensive step, such as reading files or decoding, that these data do not have.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from mtl_tutorial.data.splits import MultiTaskData
from mtl_tutorial.validation import check_int, check_number, check_seed, check_types

__all__ = [
    "FEEDS",
    "POLICIES",
    "committed_results",
    "compare_configurations",
    "time_training",
]

#: How the training examples reach ``fit``: NumPy arrays (Keras makes the pipeline) or our ``tf.data`` one.
FEEDS: tuple[str, ...] = ("arrays", "dataset")
#: The dtype policies a measurement may use.
POLICIES: tuple[str, ...] = ("float32", "mixed_bfloat16", "mixed_float16")


class _EpochClock(keras.callbacks.Callback):
    """Wall time of every epoch, from ``on_epoch_begin`` to ``on_epoch_end``.

    At the end of an epoch Keras has waited for TensorFlow's asynchronous work and read the metrics, so
    the interval covers every step of the epoch and nothing of ``fit``'s set-up before the first epoch.
    """

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


@dataclass
class _Prepared:
    """A compiled, warmed-up model and how to feed it: what one configuration needs to be timed."""

    model: keras.Model
    policy: str
    feed: str
    batch_size: int
    steps_per_execution: int
    steps_per_epoch: int
    examples_per_epoch: int
    fit_arguments: dict = field(default_factory=dict)


def _check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(
            f"policy must be one of {list(POLICIES)}; got policy={policy!r}."
        )
    return policy


class _Policy:
    """Context manager: set Keras's global dtype policy, and put the previous one back on leaving."""

    def __init__(self, policy: str):
        self.policy = policy

    def __enter__(self):
        self.previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.policy)

    def __exit__(self, *exc):
        keras.config.set_dtype_policy(self.previous)
        return False


def _prepare(
    build: Callable,
    data: MultiTaskData,
    *,
    feed: str,
    strategy: tf.distribute.Strategy | None,
    policy: str,
    batch_size: int,
    learning_rate: float,
    steps_per_execution: int | None,
    warmup_epochs: int,
    seed: int,
) -> _Prepared:
    """Build, compile and warm up one configuration (see :func:`time_training` for the arguments)."""
    from mtl_tutorial.training import _reseed, compile_for_tasks, to_dataset

    if feed not in FEEDS:
        raise ValueError(f"feed must be one of {list(FEEDS)}; got feed={feed!r}.")
    _check_policy(policy)
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(
            f"strategy must be a tf.distribute.Strategy or None; got strategy={strategy!r}."
        )
    batch_size = check_int(batch_size, "batch_size", 64)
    check_number(learning_rate, "learning_rate", 3e-3, low=0, low_open=True)
    warmup_epochs = check_int(warmup_epochs, "warmup_epochs", 1)
    seed = check_seed(seed)
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    split = data.train
    if batch_size % replicas:
        raise ValueError(
            f"batch_size must be divisible by the {replicas} replicas, so that each gets as many "
            f"examples; got batch_size={batch_size}."
        )
    steps_per_epoch = math.ceil(len(split) / batch_size)
    if steps_per_execution is None:
        # As the chapter trains: a whole epoch per call into TensorFlow, or 1 with several replicas.
        steps_per_execution = steps_per_epoch if replicas == 1 else 1
    steps_per_execution = check_int(steps_per_execution, "steps_per_execution", 1)

    with _Policy(policy):
        _reseed(seed)
        with strategy.scope():
            model = build(data)
            if not isinstance(model, keras.Model):
                raise ValueError(f"build must return a keras.Model; got {model!r}.")
            tasks = [data.task(name) for name in model.output_names]
            compile_for_tasks(
                model,
                tasks,
                learning_rate=learning_rate,
                steps_per_execution=steps_per_execution,
            )
        if feed == "arrays":
            fit_arguments = dict(
                x=split.x,
                y={task.name: split.y[task.name] for task in tasks},
                sample_weight=split.weights,
                batch_size=batch_size,
                shuffle=True,
            )
        else:
            fit_arguments = dict(
                x=to_dataset(
                    split, tasks, batch_size=batch_size, shuffle=True, seed=seed
                ),
                shuffle=False,  # the dataset shuffles itself
            )
        # Not timed: the first fit traces the training step (and the last, partial batch's shape).
        model.fit(**fit_arguments, epochs=warmup_epochs, verbose=0)
    return _Prepared(
        model=model,
        policy=policy,
        feed=feed,
        batch_size=batch_size,
        steps_per_execution=steps_per_execution,
        steps_per_epoch=steps_per_epoch,
        examples_per_epoch=len(split),
        fit_arguments=fit_arguments,
    )


def _time(prepared: _Prepared, epochs: int) -> dict:
    """Train ``prepared`` for ``epochs`` more epochs and return what was measured."""
    clock = _EpochClock()
    model = prepared.model
    before = int(model.optimizer.iterations.numpy())
    with _Policy(prepared.policy):
        model.fit(**prepared.fit_arguments, epochs=epochs, verbose=0, callbacks=[clock])
    steps = int(model.optimizer.iterations.numpy()) - before
    seconds = float(sum(clock.seconds))
    examples = prepared.examples_per_epoch * epochs
    return {
        "feed": prepared.feed,
        "replicas": model.distribute_strategy.num_replicas_in_sync,
        "policy": prepared.policy,
        "batch_size": prepared.batch_size,
        "steps_per_execution": prepared.steps_per_execution,
        "epochs": epochs,
        "steps": steps,
        "examples": examples,
        "seconds": seconds,
        "seconds_per_step": seconds / steps,
        "examples_per_second": examples / seconds,
        "epoch_seconds": list(clock.seconds),
    }


@check_types
def time_training(
    build: Callable,
    data: MultiTaskData,
    *,
    feed: str = "dataset",
    strategy: tf.distribute.Strategy | None = None,
    policy: str = "float32",
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    steps_per_execution: int | None = None,
    epochs: int = 2,
    warmup_epochs: int = 1,
    seed: int = 0,
) -> dict:
    """Time the training of ``build(data)`` on ``data.train``, after a warm-up that is not timed.

    The model is built by ``build`` inside ``strategy.scope()`` and under the dtype ``policy`` (Keras's
    global policy, put back as it was afterwards, also after an error), compiled with
    :func:`~mtl_tutorial.training.compile_for_tasks` (Adam) and fitted for ``warmup_epochs`` epochs, which
    traces its training step. Then it is fitted for ``epochs`` more epochs, and each epoch is timed by a
    Keras callback from its start to its end (``on_epoch_begin`` to ``on_epoch_end``): the time covers the
    steps and the per-epoch work of the input pipeline, and leaves out ``fit``'s one-off set-up before the
    first epoch. The number of steps is read from the optimizer's step counter, not computed.

    Args:
        build: A function from the data set to a model whose outputs are named after its tasks (e.g. a
            :func:`~mtl_tutorial.models.build_capstone` builder).
        data: The data set; the model trains on ``data.train``.
        feed: ``"arrays"``: NumPy arrays straight to ``fit`` (Keras 3 makes its own ``tf.data`` pipeline
            from them, see the module's docstring); ``"dataset"``:
            :func:`~mtl_tutorial.training.to_dataset`.
        strategy: A ``tf.distribute`` strategy, e.g. ``MirroredStrategy`` over two logical CPUs; default
            the current one (one replica).
        policy: ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``.
        batch_size: The global batch (over all replicas); divisible by the number of replicas.
        learning_rate: Adam's step size.
        steps_per_execution: Training steps per call into TensorFlow; default as the chapter trains: a
            whole epoch with one replica, 1 with several (a limit of Keras 3, keras-team/keras#19246).
        epochs: Epochs timed.
        warmup_epochs: Epochs trained first, not timed.
        seed: Seeds the model's initial weights and the shuffle.

    Returns:
        A dict with ``feed``, ``replicas``, ``policy``, ``batch_size``, ``steps_per_execution``, ``epochs``,
        ``steps`` and ``examples`` (trained while timed), ``seconds`` (their total), ``seconds_per_step``,
        ``examples_per_second`` and ``epoch_seconds`` (each timed epoch's).

    Raises:
        ValueError: for a bad argument, or a batch size the replicas cannot share.
    """
    epochs = check_int(epochs, "epochs", 2)
    prepared = _prepare(
        build,
        data,
        feed=feed,
        strategy=strategy,
        policy=policy,
        batch_size=batch_size,
        learning_rate=learning_rate,
        steps_per_execution=steps_per_execution,
        warmup_epochs=warmup_epochs,
        seed=seed,
    )
    return _time(prepared, epochs)


@check_types
def compare_configurations(
    build: Callable,
    data: MultiTaskData,
    configurations: Mapping[str, Mapping],
    *,
    reference: str,
    repeats: int = 3,
    epochs: int = 1,
    **common,
) -> pd.DataFrame:
    """Time several configurations interleaved and give each one's speed as a ratio to ``reference``.

    Every configuration is built and warmed up first (see :func:`time_training`); then ``repeats`` rounds
    each time every configuration for ``epochs`` epochs, one after another (in an order rotated every
    round, so that none always runs first), so that a change in the machine's load falls on all of them
    alike. Each configuration's time per step is its best (fastest)
    round: other work on the machine can only slow a round down, so the fastest is the one least
    disturbed (the reasoning of Python's ``timeit``). Its ratio is that best time over the reference's
    best; the ratios of the same round, configuration over reference, give its smallest and largest
    value, which show the measurement's noise.

    Args:
        build, data: As for :func:`time_training`.
        configurations: ``{label: keyword arguments of time_training}``, e.g.
            ``{"arrays": {"feed": "arrays"}, "2 replicas": {"strategy": mirrored}}``.
        reference: The label whose time the ratios divide by.
        repeats: Rounds over all configurations.
        epochs: Epochs timed per configuration and round.
        **common: Keyword arguments of :func:`time_training` shared by every configuration (e.g.
            ``batch_size``); a configuration's own take precedence.

    Returns:
        A table indexed by label, with ``feed``, ``replicas``, ``policy``, ``steps_per_execution``,
        ``ms_per_step`` and ``examples_per_second`` (of the best round), ``time_ratio`` (best time per
        step over the reference's; above 1 is slower), and ``ratio_low``, ``ratio_high`` (the smallest
        and largest ratio within one round).

    Raises:
        ValueError: for a bad argument.
    """
    if not configurations:
        raise ValueError(
            "configurations is empty; give at least {label: {...}} for two set-ups."
        )
    if reference not in configurations:
        raise ValueError(
            f"reference must be one of the configurations' labels {list(configurations)}; "
            f"got reference={reference!r}."
        )
    repeats = check_int(repeats, "repeats", 3)
    epochs = check_int(epochs, "epochs", 1)
    allowed = {
        "feed", "strategy", "policy", "batch_size", "learning_rate",
        "steps_per_execution", "warmup_epochs", "seed",
    }  # fmt: skip
    for label, settings in {"common": common, **configurations}.items():
        unknown = sorted(set(settings) - allowed)
        if unknown:
            raise ValueError(
                f"Unknown settings {unknown} in {label!r}; time_training takes {sorted(allowed)}."
            )
    prepared = {
        label: _prepare(build, data, **_defaults({**common, **settings}))
        for label, settings in configurations.items()
    }
    rounds = {label: [] for label in prepared}
    labels = list(prepared)
    for r in range(repeats):
        # Rotated every round, so that no configuration always runs first (or right after another).
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            rounds[label].append(_time(prepared[label], epochs))
    reference_times = np.array([r["seconds_per_step"] for r in rounds[reference]])
    rows = {}
    for label, measured in rounds.items():
        per_step = np.array([r["seconds_per_step"] for r in measured])
        ratios = per_step / reference_times
        first = measured[0]
        rows[label] = {
            "feed": first["feed"],
            "replicas": first["replicas"],
            "policy": first["policy"],
            "steps_per_execution": first["steps_per_execution"],
            "ms_per_step": 1000 * float(per_step.min()),
            "examples_per_second": float(
                max(r["examples_per_second"] for r in measured)
            ),
            "time_ratio": float(per_step.min() / reference_times.min()),
            "ratio_low": float(ratios.min()),
            "ratio_high": float(ratios.max()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _defaults(settings: Mapping) -> dict:
    """``time_training``'s defaults, overridden by ``settings`` (for :func:`_prepare`)."""
    return {
        "feed": "dataset",
        "strategy": None,
        "policy": "float32",
        "batch_size": 64,
        "learning_rate": 3e-3,
        "steps_per_execution": None,
        "warmup_epochs": 1,
        "seed": 0,
        **settings,
    }


#: The committed measurements :func:`committed_results` can read, by name.
RESULTS: tuple[str, ...] = ("scale",)


@check_types
def committed_results(name: str = "scale") -> dict:
    """Measurements committed with the package, too long to repeat on every page: ``tools/benchmark.py``'s.

    ``"scale"`` is what ``python tools/benchmark.py --scale`` measured: the timing grid at length, and the
    sweep of Adam's step size against the batch size, with ``"machine"`` (the CPU, its 16-bit instructions,
    the versions, the date and the load). A page that glues these numbers says they are committed results,
    measured there and then, not recomputed by the page. They ship inside the package, so they are there
    wherever it is installed.

    Raises:
        ValueError: for a name other than those in ``RESULTS``.
    """
    if name not in RESULTS:
        raise ValueError(f"name must be one of {list(RESULTS)}; got name={name!r}.")
    return json.loads(
        (resources.files("mtl_tutorial") / "results" / f"{name}.json").read_text()
    )
