"""The book's experiment protocol: train over seeds, compare with intervals, say what the numbers allow.

Taught in :doc:`/book/part1_multitask/01_why_several_tasks`, and used by every chapter. The protocol has four
parts:

1. **Train over seeds.** :func:`train_over_seeds` builds, seeds, fits and evaluates every model on every
   seed and returns a long table with one row per (seed, model, task, split). Validation and test scores
   are kept apart: every choice a chapter makes from data reads ``split="val"``; the test split is read
   only for what is finally reported.
2. **Baselines first.** With ``baselines=True`` the table also holds, per seed, a constant predictor
   (majority class, training mean) and a linear model (logistic or ridge regression, its regularisation
   chosen on the validation split): :func:`baseline_scores`.
3. **Intervals, not adjectives.** :func:`compare` summarises the paired per-seed differences of two
   models as a :class:`Comparison`: the mean difference, its 95 % confidence interval from the t
   distribution with ``n - 1`` degrees of freedom, how many seeds favour the model, and ``n``. Its words
   say "better", "worse" or "no difference detected at this size", decided by the interval alone.
4. **Multiplicity said out loud.** A :class:`ComparisonLog` records every comparison a chapter makes, so
   the chapter can say how many it made and how many survive Holm's correction for all of them.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from scipy import stats
from sklearn.linear_model import LogisticRegression, Ridge
from threadpoolctl import threadpool_limits

from mtl_tutorial.data.splits import MultiTaskData, Split
from mtl_tutorial.metrics import delta_m, evaluate_tasks, task_metric
from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import (
    check_adam,
    check_int,
    check_number,
    check_positive_int,
    check_seed,
    check_types,
)

Scores = Mapping[str, Mapping[str, float]]
COLUMNS: tuple[str, ...] = ("seed", "model", "task", "split", "value")
#: The minus sign the words use (typographic, as in print).
MINUS = "\u2212"
#: Confidence level of every interval in the book.
LEVEL = 0.95
#: The regularisation strengths the linear baselines choose from, on the validation split.
LINEAR_STRENGTHS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)

__all__ = [
    "COLUMNS",
    "LEVEL",
    "MINUS",
    "Comparison",
    "ComparisonLog",
    "baseline_scores",
    "compare",
    "compare_values",
    "delta_m_by_seed",
    "holm",
    "results_table",
    "select_split",
    "sign_test_p",
    "summarise",
    "t_quantile",
    "train_over_seeds",
]


# --- The table of results -----------------------------------------------------------------------------


@check_types
def results_table(scores_by_seed: Mapping[int, Scores], *, split: str) -> pd.DataFrame:
    """A long table with columns ``seed, model, task, split, value`` from ``{seed: {model: {task: value}}}``.

    Args:
        scores_by_seed: Each seed's scores, model by model and task by task.
        split: Which split the scores were measured on (``"val"`` or ``"test"``).
    """
    _check_split_name(split)
    rows = [
        {
            "seed": seed,
            "model": model,
            "task": task,
            "split": split,
            "value": float(value),
        }
        for seed, scores in scores_by_seed.items()
        for model, per_task in scores.items()
        for task, value in per_task.items()
    ]
    if not rows:
        raise ValueError(
            "scores_by_seed holds no results; give at least one seed with one score."
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


@check_types
def select_split(results: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of ``results`` measured on ``split``; an error if there are none."""
    _check_results(results)
    _check_split_name(split)
    rows = results[results["split"] == split]
    if rows.empty:
        raise ValueError(
            f"results has no rows for split {split!r}; it has splits "
            f"{sorted(results['split'].unique())}."
        )
    return rows


@check_types
def summarise(results: pd.DataFrame, *, split: str, digits: int = 3) -> pd.DataFrame:
    """``"mean ± sd"`` across seeds of every model's value per task on one split (rows: tasks).

    Means keep ``digits`` significant digits, standard deviations two. A (task, model) pair with no
    results reads ``"not run"``. The split is a required argument so that every table says which one it
    shows.
    """
    rows = select_split(results, split)
    check_positive_int(digits, "digits", 3)
    table = rows.groupby(["task", "model"], sort=False)["value"].agg(["mean", "std"])
    cells = (
        table["mean"].map(f"{{:.{digits}g}}".format)
        + " ± "
        + table["std"].map("{:.2g}".format)
    )
    return cells.unstack("model").fillna("not run")


# --- Training over seeds -------------------------------------------------------------------------------


@check_types
def train_over_seeds(
    models: Mapping[str, object],
    data: Callable | MultiTaskData,
    seeds: Sequence[int],
    *,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    adam: Mapping[str, float] | None = None,
    train_split: Callable | None = None,
    baselines: bool = False,
    validation_curves: bool = False,
    after_fit: Callable | None = None,
    score: Callable | None = None,
    targets: bool = True,
) -> pd.DataFrame:
    """Train every model on every seed and score it on the validation and the test split.

    For each seed: the data are ``data(seed)`` (or ``data`` itself), the model is built by its builder
    right after ``mtl.set_seed(seed)``, compiled with Adam (:func:`~mtl_tutorial.training.compile_for_tasks`),
    fitted for ``epochs`` epochs on the training split shuffled with ``seed``, and scored with
    :func:`~mtl_tutorial.metrics.evaluate_tasks` on ``"val"`` and on ``"test"``, in the tasks' own units.

    A builder's training step is traced once, the first time it is trained; later seeds (and later calls
    with the same builder) put the compiled model back to the new seed's freshly built initial weights
    and to Adam's initial state (with :class:`~mtl_tutorial.training.Restart`). The numbers are those of a
    fresh build, about a second faster per run.

    Args:
        models: ``{label: builder}``. A builder takes the seed's data and returns a Keras model whose
            outputs are named after tasks (a :class:`~mtl_tutorial.multitask_model.MultiTaskModel` brings
            its rule). A label may instead map to a list of builders, whose scores are merged under one label:
            e.g. one single-task model per task, reported together as ``"single-task"``. Build the model
            under a distribution strategy's scope to train it with that strategy.
        data: A data set, or a function from a seed to that seed's data set (its split and draw).
        seeds: The seeds, distinct.
        epochs: Passes over the training split; 0 scores the initial weights (an untrained baseline).
        batch_size: Examples per training batch.
        learning_rate: Adam's step size.
        adam: Adam's other settings, any of ``beta_1``, ``beta_2`` and ``epsilon`` (default: Keras's);
            see :func:`~mtl_tutorial.training.compile_for_tasks`.
        train_split: Optional function ``(data, seed) -> Split`` giving the examples to train on, e.g.
            ``lambda data, seed: data.train.sample(30, seed=seed)``; default ``data.train``.
        baselines: Also score, per seed, a constant predictor (``"constant"``) and a linear model
            (``"linear"``) on every task (see :func:`baseline_scores`).
        validation_curves: Also compute the validation losses after every epoch (for learning curves;
            costs time).
        after_fit: Optional function called after each fit with keyword arguments ``label``, ``seed``,
            ``model``, ``data`` and ``history`` (a dict of per-epoch lists), to keep anything else a
            chapter needs (gate weights, learned variances, curves).
        score: Optional function ``(model, data, split) -> {name: value}`` that replaces
            :func:`~mtl_tutorial.metrics.evaluate_tasks`, for metrics other than the tasks' own (recall
            at k, accuracy under noise). Compare its values with ``compare(..., higher_is_better=...)``.
        targets: ``False`` for a model that computes its own loss from the inputs alone (a contrastive
            dual encoder): it is compiled with Adam only, trained on the inputs without targets, and
            needs ``score``.

    Returns:
        A long table with columns ``seed, model, task, split, value``, splits ``"val"`` and ``"test"``.
    """
    seeds = [check_seed(seed, f"seeds[{i}]") for i, seed in enumerate(seeds)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(
            f"seeds must be a non-empty sequence of distinct non-negative integers; got {seeds!r}."
        )
    epochs = check_int(epochs, "epochs", 50, low=0)
    batch_size = check_positive_int(batch_size, "batch_size", 32)
    check_number(learning_rate, "learning_rate", 1e-3, low=0, low_open=True)
    adam = check_adam(adam)
    if not targets and score is None:
        raise ValueError(
            "targets=False trains on the inputs alone, so the tasks' metrics do not apply: give score."
        )
    plan = _plan(models, baselines)
    data_by_seed = {seed: data(seed) if callable(data) else data for seed in seeds}
    for seed, seed_data in data_by_seed.items():
        if not isinstance(seed_data, MultiTaskData):
            raise ValueError(
                f"data({seed}) must return an mtl_tutorial.data.MultiTaskData; got {seed_data!r}."
            )
    score = evaluate_tasks if score is None else score
    scores = {split: {seed: {} for seed in seeds} for split in ("val", "test")}
    for label, builders in plan.items():
        for builder in builders:
            for seed in seeds:
                seed_data = data_by_seed[seed]
                split = (
                    seed_data.train
                    if train_split is None
                    else train_split(seed_data, seed)
                )
                model, tasks = _start(
                    builder,
                    label,
                    seed,
                    seed_data,
                    split,
                    batch_size,
                    learning_rate,
                    adam,
                    targets,
                )
                history = {}
                if epochs > 0:
                    history = model.fit(
                        _dataset(split, tasks, batch_size, seed, targets),
                        validation_data=_dataset(
                            seed_data.val, tasks, 1024, None, targets
                        )
                        if validation_curves
                        else None,
                        epochs=epochs,
                        shuffle=False,  # the dataset shuffles itself
                        verbose=0,
                    ).history
                for name in ("val", "test"):
                    values = score(model, seed_data, name)
                    scores[name][seed].setdefault(label, {}).update(
                        {key: float(value) for key, value in values.items()}
                    )
                if after_fit is not None:
                    after_fit(
                        label=label,
                        seed=seed,
                        model=model,
                        data=seed_data,
                        history=dict(history),
                    )
    if baselines:
        for seed, seed_data in data_by_seed.items():
            split = (
                seed_data.train if train_split is None else train_split(seed_data, seed)
            )
            fitted = _baselines(seed_data, ("val", "test"), split)
            for name in ("val", "test"):
                scores[name][seed].update(fitted[name])
    return pd.concat(
        [results_table(scores[name], split=name) for name in ("val", "test")],
        ignore_index=True,
    )


def _plan(models, baselines: bool) -> dict[str, list]:
    if not models:
        raise ValueError("models is empty; give at least one {label: builder}.")
    plan = {}
    for label, builders in models.items():
        builders = list(builders) if isinstance(builders, Sequence) else [builders]
        if not builders or not all(callable(b) for b in builders):
            raise ValueError(
                f"models[{label!r}] must be a builder (a function of the data that returns a model) "
                f"or a list of builders; got {models[label]!r}."
            )
        plan[label] = builders
    reserved = {"constant", "linear"} & set(plan) if baselines else set()
    if reserved:
        raise ValueError(
            f"With baselines=True the labels {sorted(reserved)} are the baselines'; rename your models."
        )
    return plan


#: A compiled model per builder (and setting), so that a builder's training step is traced only once.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _start(builder, label, seed, data, split, batch_size, learning_rate, adam, targets):
    """The builder's model at this seed's initial weights, compiled, with Adam at step 0."""
    from mtl_tutorial.training import Restart, _reseed, compile_for_tasks

    _reseed(seed)  # as mtl.set_seed(seed), but cheaper (see _reseed)
    fresh = builder(data)
    if not isinstance(fresh, keras.Model):
        raise ValueError(
            f"The builder of {label!r} must return a keras.Model; got {fresh!r}."
        )
    tasks = [data.task(name) for name in fresh.output_names] if targets else None
    strategy = fresh.distribute_strategy
    steps = (
        math.ceil(len(split) / batch_size) if strategy.num_replicas_in_sync == 1 else 1
    )
    key = (
        steps,
        learning_rate,
        tuple(sorted(adam.items())),
        targets,
        tuple(fresh.output_names) if targets else (),
    )
    cached = _COMPILED.get(builder)
    if cached is not None and cached[0] == key and _same_shapes(cached[1], fresh):
        _, model, restart = cached
        restart()
        _copy_state(fresh, model)
    else:
        with strategy.scope():
            if targets:
                model = compile_for_tasks(
                    fresh,
                    tasks,
                    learning_rate=learning_rate,
                    steps_per_execution=steps,
                    adam=adam,
                )
            else:
                fresh.compile(
                    optimizer=keras.optimizers.Adam(learning_rate, **adam),
                    steps_per_execution=steps,
                )
                fresh.optimizer.build(fresh.trainable_variables)
                model = fresh
            restart = Restart(model)
        _COMPILED[builder] = (key, model, restart)
    _reseed(seed)  # the same random state for what follows, however the model was built
    return model, tasks


def _dataset(split, tasks, batch_size, seed, targets):
    from mtl_tutorial.training import to_dataset

    if targets:
        return to_dataset(
            split, tasks, batch_size=batch_size, shuffle=seed is not None, seed=seed
        )
    dataset = tf.data.Dataset.from_tensor_slices(split.x)
    if seed is not None:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _same_shapes(a: keras.Model, b: keras.Model) -> bool:
    shapes = [tuple(v.shape) for v in a.variables]
    return a.__class__ is b.__class__ and shapes == [
        tuple(v.shape) for v in b.variables
    ]


def _copy_state(source: keras.Model, target: keras.Model) -> None:
    # Every variable: weights, a rule's state, and the random state of dropout-like layers.
    for old, new in zip(source.variables, target.variables, strict=True):
        new.assign(old)


# --- Baselines -----------------------------------------------------------------------------------------


@check_types
def baseline_scores(
    data: MultiTaskData, split: str, *, train: Split | None = None
) -> dict[str, dict[str, float]]:
    """The two baselines every task is reported with, scored on ``split`` in the task's own units.

    - ``"constant"``: the majority class of the training labels (classification) or their mean
      (regression), whatever the input.
    - ``"linear"``: logistic regression (classification) or ridge regression (regression) on the inputs,
      every modality flattened and put side by side; its regularisation strength is chosen from
      ``LINEAR_STRENGTHS`` by the validation score, never the test score.

    Examples without a label for a task (sample weight 0) are left out of that task's fit.

    Args:
        data: The data set.
        split: Where to score (``"val"`` or ``"test"``).
        train: The training examples; default ``data.train``.

    Returns:
        ``{"constant": {task: metric}, "linear": {task: metric}}``.
    """
    _check_split_name(split)
    return _baselines(data, (split,), data.train if train is None else train)[split]


def _baselines(data: MultiTaskData, splits, train: Split) -> dict:
    """``{split: {"constant": {...}, "linear": {...}}}``, each linear model fitted once for all splits."""
    out = {split: {"constant": {}, "linear": {}} for split in splits}
    # One BLAS thread: the fits are small, and threads competing for two cores make them far slower.
    with threadpool_limits(limits=1):
        for task in data.tasks:
            own = train.labelled(task.name)
            x_train, y_train = _flat(own.x), np.asarray(own.y[task.name]).ravel()
            model = _best_linear(task, x_train, y_train, data)
            for split in splits:
                out[split]["constant"][task.name], out[split]["linear"][task.name] = (
                    _baseline_pair(task, model, y_train, data, data.split(split))
                )
    return out


def _baseline_pair(task: Task, model, y_train, data: MultiTaskData, scored: Split):
    truth = data.to_original_units(task.name, np.asarray(scored.y[task.name]).ravel())
    if task.kind == "classification":
        counts = np.bincount(y_train.astype(int), minlength=task.num_classes)
        constant = np.tile(np.eye(task.num_classes)[counts.argmax()], (len(scored), 1))
    else:
        constant = np.full(len(scored), y_train.mean())
    return (
        task_metric(task, truth, data.to_original_units(task.name, constant)),
        task_metric(
            task, truth, _linear_predictions(task, model, _flat(scored.x), data)
        ),
    )


def _flat(x) -> np.ndarray:
    parts = [x[name] for name in sorted(x)] if isinstance(x, dict) else [x]
    return np.concatenate([np.reshape(p, (len(p), -1)) for p in parts], axis=1)


def _linear(task: Task, strength: float):
    if task.kind == "classification":
        return LogisticRegression(C=1.0 / strength, max_iter=2000)
    return Ridge(alpha=strength)


def _linear_predictions(
    task: Task, model, x: np.ndarray, data: MultiTaskData
) -> np.ndarray:
    if task.kind == "classification":
        probabilities = np.zeros((len(x), task.num_classes))
        probabilities[:, model.classes_.astype(int)] = model.predict_proba(x)
        return probabilities
    return data.to_original_units(task.name, model.predict(x))


def _best_linear(task: Task, x: np.ndarray, y: np.ndarray, data: MultiTaskData):
    val = data.val.labelled(task.name)
    x_val = _flat(val.x)
    truth = data.to_original_units(task.name, np.asarray(val.y[task.name]).ravel())
    best, best_score = None, None
    for strength in LINEAR_STRENGTHS:
        model = _linear(task, strength).fit(x, y)
        score = task_metric(task, truth, _linear_predictions(task, model, x_val, data))
        score = score if task.higher_is_better else -score
        if best_score is None or score > best_score:
            best, best_score = model, score
    return best


# --- Comparisons ---------------------------------------------------------------------------------------


@check_types
def t_quantile(n: int, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t with ``n - 1`` degrees of freedom (``n >= 2``).

    A 95 % interval for a mean of ``n`` paired differences is ``mean ± t_quantile(n) * sd / sqrt(n)``:
    2.78 for five seeds, 2.26 for ten, 1.96 in the limit.
    """
    if n < 2:
        raise ValueError(
            f"n must be an integer of at least 2 (paired seeds); got n={n!r}."
        )
    check_number(level, "level", LEVEL, low=0, high=1, low_open=True, high_open=True)
    return float(stats.t.ppf(0.5 + level / 2, n - 1))


@check_types
def sign_test_p(wins: int, n: int) -> float:
    """Two-sided p-value of the exact sign test: ``wins`` of ``n`` seeds favour one model.

    With ``n`` seeds it cannot go below ``2 / 2**n``: 1/16 for five seeds, whatever the differences.
    """
    check_positive_int(n, "n", 5)
    if not 0 <= wins <= n:
        raise ValueError(
            f"wins must be an integer between 0 and n={n}; got wins={wins!r}."
        )
    return float(stats.binomtest(int(wins), int(n)).pvalue)


@dataclass(frozen=True)
class Comparison:
    """Paired per-seed differences of a model over a baseline, summarised for a sentence.

    Attributes:
        mean: Mean difference ``model - baseline`` (in ``unit``, after ``scale``).
        low, high: Its 95 % confidence interval (t distribution, ``n - 1`` degrees of freedom).
        n: Number of paired seeds.
        wins: Seeds on which the model is better.
        ties: Seeds on which the two are equal.
        higher_is_better: Whether a positive difference favours the model.
        p_value: Two-sided p-value of the one-sample t test of the differences.
        unit: Unit written after the mean, e.g. ``" g"``, ``" points"``, ``" %"``.
        decimals: Decimals shown; default two significant digits of the interval's half-width.
    """

    mean: float
    low: float
    high: float
    n: int
    wins: int
    higher_is_better: bool
    p_value: float
    unit: str = ""
    decimals: int | None = None
    ties: int = 0

    @property
    def half_width(self) -> float:
        """Half the interval's width, the smallest observed mean difference this spread calls detected."""
        return (self.high - self.low) / 2

    @property
    def detected(self) -> bool:
        """Whether the 95 % interval excludes zero."""
        return self.low > 0 or self.high < 0

    @property
    def outcome(self) -> str:
        """``"better"``, ``"worse"`` (the interval excludes zero) or ``"none"`` (it does not)."""
        if not self.detected:
            return "none"
        return "better" if (self.mean > 0) == self.higher_is_better else "worse"

    def choose(self, *, better: str, worse: str, none: str) -> str:
        """The text for this outcome: chapters pick their explanations with it, never by a raw mean."""
        return {"better": better, "worse": worse, "none": none}[self.outcome]

    def _number(self, value: float, sign: bool = True) -> str:
        decimals = self.decimals
        if decimals is None:
            width = self.half_width if self.half_width > 0 else abs(self.mean)
            decimals = max(0, 1 - math.floor(math.log10(width))) if width > 0 else 1
        text = f"{value:{'+' if sign else ''}.{decimals}f}"
        if float(text) == 0:
            text = f"{0:.{decimals}f}"
        return text.replace("-", MINUS)

    def interval(self) -> str:
        """``"+2.5 % [95 % CI +0.4, +4.6]"``."""
        return (
            f"{self._number(self.mean)}{self.unit} "
            f"[95 % CI {self._number(self.low)}, {self._number(self.high)}]"
        )

    def seeds(self) -> str:
        """``"better on 4 of 5 seeds"`` (and ``", 1 tied"`` when some seeds tie)."""
        tied = f", {self.ties} tied" if self.ties else ""
        return f"better on {self.wins} of {self.n} seeds{tied}"

    def words(self) -> str:
        """The comparison in words, e.g. ``"better: +2.5 % [95 % CI +0.4, +4.6], better on 5 of 5 seeds"``
        or ``"no difference detected at this size: -0.3 % [95 % CI -2.1, +1.5], better on 2 of 5 seeds"``
        (with typographic minus signs, :data:`MINUS`).
        """
        lead = self.choose(
            better="better", worse="worse", none="no difference detected at this size"
        )
        return f"{lead}: {self.interval()}, {self.seeds()}"

    def row(self) -> dict[str, object]:
        """A row for a table of comparisons."""
        return {
            "difference": self._number(self.mean) + self.unit,
            "95 % CI": f"[{self._number(self.low)}, {self._number(self.high)}]",
            "seeds better": f"{self.wins} of {self.n}"
            + (f" ({self.ties} tied)" if self.ties else ""),
            "outcome": self.choose(better="better", worse="worse", none="not detected"),
        }


@check_types
def compare_values(
    differences: Sequence[float],
    *,
    higher_is_better: bool = True,
    unit: str = "",
    decimals: int | None = None,
) -> Comparison:
    """A :class:`Comparison` from paired per-seed differences (e.g. Δm by seed, model minus baseline).

    Raises:
        ValueError: if there are fewer than two differences or one is not a finite number.
    """
    if decimals is not None and decimals < 0:
        raise ValueError(
            f"decimals must be None or a count of decimals, e.g. 1; got decimals={decimals!r}."
        )
    values = np.asarray(differences, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(
            "differences must hold at least two paired per-seed differences (an interval needs two); "
            f"got {len(np.atleast_1d(values))}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"differences must all be finite numbers; got {values.tolist()}."
        )
    n, mean, sd = len(values), float(values.mean()), float(values.std(ddof=1))
    half = t_quantile(n) * sd / math.sqrt(n)
    if sd > 0:
        p_value = float(stats.ttest_1samp(values, 0.0).pvalue)
    else:
        p_value = 1.0 if mean == 0 else 0.0
    better = values > 0 if higher_is_better else values < 0
    return Comparison(
        mean=mean,
        low=mean - half,
        high=mean + half,
        n=n,
        wins=int(better.sum()),
        ties=int((values == 0).sum()),
        higher_is_better=higher_is_better,
        p_value=p_value,
        unit=unit,
        decimals=decimals,
    )


@check_types
def compare(
    results: pd.DataFrame,
    task: Task | str,
    model: str,
    baseline: str,
    *,
    split: str,
    higher_is_better: bool | None = None,
    unit: str | None = None,
    decimals: int | None = None,
) -> Comparison:
    """Paired per-seed comparison of ``model`` with ``baseline`` on one task's metric, on one split.

    Args:
        results: The long table of :func:`train_over_seeds` or :func:`results_table`.
        task: A :class:`~mtl_tutorial.Task`, whose metric fixes the direction and the unit: accuracy
            differences are reported in percentage points (``" points"``), errors in the task's unit. Or
            the name in the table's ``task`` column of another metric (e.g. one a ``score`` function
            computed), with ``higher_is_better`` given.
        model, baseline: The two models' labels.
        split: ``"val"`` for a comparison that makes a choice, ``"test"`` for one that is reported.
        higher_is_better: For a metric given by name: whether larger values are better.
        unit: Unit written after the difference; default from the task (none for a named metric).
        decimals: Decimals shown; default from the interval's width.

    Raises:
        ValueError: if either model lacks the task, the two were not run on the same seeds, or there are
            fewer than two seeds.
    """
    if isinstance(task, Task):
        name, direction = task.name, task.higher_is_better
        scale, default_unit = (
            (100.0, " points") if task.kind == "classification" else (1.0, "")
        )
        if task.kind == "regression" and task.unit and task.unit != "standardised":
            default_unit = f" {task.unit}"
    else:
        if higher_is_better is None:
            raise ValueError(
                f"task={task!r} is a metric's name, so say which way is better: higher_is_better must "
                "be True or False."
            )
        name, direction, scale, default_unit = task, higher_is_better, 1.0, ""
    if model == baseline:
        raise ValueError(
            f"model and baseline must be two different models; got {model!r} twice."
        )
    rows = select_split(results, split)
    rows = rows[rows["task"] == name]
    if rows.empty:
        raise ValueError(
            f"No results for task {name!r} on split {split!r}; tasks: "
            f"{sorted(results['task'].unique())}."
        )
    table = rows.pivot_table(
        index="seed", columns="model", values="value", aggfunc="first"
    )
    missing = [m for m in (model, baseline) if m not in table.columns]
    if missing:
        raise ValueError(
            f"No results for models {missing} on task {name!r}; models: {list(table.columns)}."
        )
    pair = table[[model, baseline]]
    unpaired = pair.index[pair.isna().any(axis=1)].tolist()
    if unpaired:
        raise ValueError(
            f"{model!r} and {baseline!r} must be run on the same seeds to be paired; seeds "
            f"{unpaired} have only one of them."
        )
    return compare_values(
        scale * (pair[model] - pair[baseline]).to_numpy(),
        higher_is_better=direction,
        unit=default_unit if unit is None else unit,
        decimals=decimals,
    )


@check_types
def delta_m_by_seed(
    results: pd.DataFrame,
    tasks: Sequence[Task],
    model: str,
    baseline: str,
    *,
    split: str,
) -> pd.Series:
    """Δm (percent, positive is better) of ``model`` over ``baseline`` on each seed, on one split."""
    tasks = check_tasks(tasks)
    rows = select_split(results, split)
    per_seed = {}
    for seed, group in rows.groupby("seed"):
        values = group.pivot_table(
            index="task", columns="model", values="value", aggfunc="first"
        )
        for name in (model, baseline):
            if name not in values.columns:
                raise ValueError(
                    f"No results for model {name!r} at seed {seed}; models: {list(values.columns)}."
                )
        per_seed[seed] = delta_m(
            values[model].dropna(), values[baseline].dropna(), tasks
        )
    return pd.Series(per_seed, name=f"Δm of {model} over {baseline} (%)").rename_axis(
        "seed"
    )


@check_types
def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of ``p_values`` for the number of comparisons made.

    A comparison stays detected at 5 % across all of them when its adjusted p-value is below 0.05. Holm's
    method controls the chance of any false detection among the comparisons, whatever their dependence.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"p_values must be numbers in [0, 1]; got {p.tolist()}.")
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


class ComparisonLog:
    """Every comparison a chapter makes, so that it can say how many it made.

    Example:
        >>> log = ComparisonLog()  # doctest: +SKIP
        >>> c = log.add("MTL vs STL, body mass", mtl.experiments.compare(...))  # doctest: +SKIP
        >>> log.summary()  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.entries: dict[str, Comparison] = {}

    @check_types
    def add(self, label: str, comparison: Comparison) -> Comparison:
        """Record ``comparison`` under ``label`` (each label once) and return it."""
        if not label:
            raise ValueError(f"label must be a non-empty string; got label={label!r}.")
        if not isinstance(comparison, Comparison):
            raise ValueError(
                f"comparison must be a Comparison; got comparison={comparison!r}."
            )
        if label in self.entries:
            raise ValueError(f"A comparison labelled {label!r} is already in the log.")
        self.entries[label] = comparison
        return comparison

    def __len__(self) -> int:
        return len(self.entries)

    def table(self) -> pd.DataFrame:
        """One row per comparison: difference, interval, seeds, outcome, and whether Holm keeps it."""
        if not self.entries:
            raise ValueError("The log holds no comparisons yet.")
        adjusted = holm([c.p_value for c in self.entries.values()])
        rows = {
            label: {
                **c.row(),
                "detected after Holm": bool(c.detected and p < 1 - LEVEL),
            }
            for (label, c), p in zip(self.entries.items(), adjusted, strict=True)
        }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("comparison")

    def after_holm(self, comparison: Comparison) -> bool:
        """Whether ``comparison`` (one in the log) stays detected after Holm's correction for the whole log.

        Holm's correction depends on every comparison in the log: ask once all of them are in.
        """
        labels = [label for label, c in self.entries.items() if c is comparison]
        if not labels:
            raise ValueError(
                "comparison is not in the log; add it with log.add(label, comparison) first."
            )
        return bool(self.table().loc[labels[0], "detected after Holm"])

    def choose(
        self, comparison: Comparison, *, better: str, worse: str, none: str
    ) -> str:
        """A sentence for a logged comparison, worded by its outcome and by whether Holm keeps it.

        ``better`` and ``worse`` are clauses without a capital or a full stop ("the fused model beats the
        linear one"); ``none`` is a whole sentence. A detected outcome that survives Holm's correction gives
        ``"The fused model beats the linear one."``; one that does not gives ``"Before Holm's correction,
        the fused model beats the linear one; after it, the difference is not detected."``. Ask once every
        comparison is in the log.
        """
        if comparison.outcome == "none":
            return none
        clause = comparison.choose(better=better, worse=worse, none=none)
        if self.after_holm(comparison):
            return clause[0].upper() + clause[1:] + "."
        return f"Before Holm's correction, {clause}; after it, the difference is not detected."

    def summary(self) -> str:
        """One sentence: how many comparisons, how many detected, how many after Holm's correction."""
        table = self.table()
        made, detected = len(table), int((table["outcome"] != "not detected").sum())
        kept = int(table["detected after Holm"].sum())
        expected = made * (1 - LEVEL)
        return (
            f"{made} comparison{'s' if made != 1 else ''} at the 95 % level, "
            f"{detected} of which detect{'s' if detected == 1 else ''} a difference; "
            f"{kept} remain{'s' if kept == 1 else ''} detected after Holm's correction for all {made} "
            f"(with no real differences at all, about {expected:.1f} would be detected by chance)"
        )


# --- Checks --------------------------------------------------------------------------------------------


def _check_split_name(split: str) -> None:
    if split not in ("train", "val", "test"):
        raise ValueError(
            f"split must be 'val' or 'test' (or 'train'); got split={split!r}."
        )


def _check_results(results: pd.DataFrame) -> None:
    missing = sorted(set(COLUMNS) - set(results.columns))
    if missing:
        raise ValueError(
            f"results lacks columns {missing}; it has {list(results.columns)} "
            "(make it with train_over_seeds or results_table)."
        )
