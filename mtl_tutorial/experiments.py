"""Comparisons over several seeds: a long table of results, its summary, paired differences and Δm.

Taught in chapter 1 and used by every comparison in Part I. A comparison is a function ``run(seed)`` that
trains the models to compare and returns ``{model label: {task name: test metric}}``; running it over seeds
gives a long table with one row per (seed, model, task).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mtl_tutorial.metrics import delta_m
from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import check_positive_int, check_types

Scores = Mapping[str, Mapping[str, float]]
COLUMNS: tuple[str, ...] = ("seed", "model", "task", "value")


@check_types
def results_table(scores_by_seed: Mapping[int, Scores]) -> pd.DataFrame:
    """A long table with columns ``seed, model, task, value`` from ``{seed: {model: {task: value}}}``."""
    rows = [
        {"seed": seed, "model": model, "task": task, "value": float(value)}
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
def compare_over_seeds(
    run: Callable[[int], Scores], seeds: Sequence[int]
) -> pd.DataFrame:
    """Call ``run(seed)`` for every seed and collect the results in a long table (see ``results_table``)."""
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(
            f"seeds must be a non-empty sequence of distinct seeds; got {seeds!r}."
        )
    return results_table({seed: run(seed) for seed in seeds})


@check_types
def summarise(results: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``"mean ± std"`` across seeds of every model's value per task (rows: tasks, columns: models).

    Means keep ``digits`` significant digits, standard deviations two. A (task, model) pair with no
    results reads ``"not run"``.
    """
    _check_results(results)
    check_positive_int(digits, "digits", 3)
    stats = results.groupby(["task", "model"], sort=False)["value"].agg(["mean", "std"])
    cells = (
        stats["mean"].map(f"{{:.{digits}g}}".format)
        + " ± "
        + stats["std"].map("{:.2g}".format)
    )
    return cells.unstack("model").fillna("not run")


@check_types
def paired_difference(
    results: pd.DataFrame, task: Task, model: str, baseline: str
) -> dict[str, float | int | bool]:
    """Per-seed difference ``model - baseline`` on one task, summarised.

    Returns:
        ``mean`` and ``std`` of the differences across seeds, ``wins`` (seeds where ``model`` is better,
        given ``task.higher_is_better``), ``seeds`` (how many were paired), and ``clear``: whether the
        mean is more than two standard errors from zero. With five seeds that is a rough rule, not a test:
        it flags differences that the seed-to-seed spread cannot easily explain.
    """
    table = _pivot(results, task.name, [model, baseline])
    difference = table[model] - table[baseline]
    better = difference > 0 if task.higher_is_better else difference < 0
    standard_error = (
        difference.std() / np.sqrt(len(difference)) if len(difference) > 1 else np.inf
    )
    return {
        "mean": float(difference.mean()),
        "std": float(difference.std()) if len(difference) > 1 else float("nan"),
        "wins": int(better.sum()),
        "seeds": len(difference),
        "clear": bool(abs(difference.mean()) > 2 * standard_error),
    }


@check_types
def verdict(values: Sequence[float]) -> str:
    """Words for paired per-seed gains (e.g. Δm by seed, positive is better), decided by the numbers.

    Returns ``"a clear gain"`` or ``"a clear loss"`` when the mean is more than two standard errors from
    zero (the rule of :func:`paired_difference`), else ``"within the seed-to-seed noise"``. Chapters glue
    these words into their prose, so that the text cannot claim more than the runs show.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2 or not np.all(np.isfinite(values)):
        raise ValueError(
            f"values must be two or more finite numbers, one per seed; got values={values!r}."
        )
    mean, error = values.mean(), 2 * values.std(ddof=1) / np.sqrt(len(values))
    if abs(mean) <= error:
        return "within the seed-to-seed noise"
    return "a clear gain" if mean > 0 else "a clear loss"


@check_types
def delta_m_by_seed(
    results: pd.DataFrame, tasks: Sequence[Task], model: str, baseline: str
) -> pd.Series:
    """Δm (percent, positive is better) of ``model`` over ``baseline`` for each seed."""
    tasks = check_tasks(tasks)
    _check_results(results)
    per_seed = {}
    for seed, group in results.groupby("seed"):
        values = group.pivot(index="task", columns="model", values="value")
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


def _check_results(results: pd.DataFrame) -> None:
    missing = sorted(set(COLUMNS) - set(results.columns))
    if missing:
        raise ValueError(
            f"results lacks columns {missing}; it has {list(results.columns)}."
        )


def _pivot(results: pd.DataFrame, task: str, models: list[str]) -> pd.DataFrame:
    _check_results(results)
    rows = results[results["task"] == task]
    if rows.empty:
        raise ValueError(
            f"No results for task {task!r}; tasks: {sorted(results['task'].unique())}."
        )
    table = rows.pivot(index="seed", columns="model", values="value")
    missing = [m for m in models if m not in table.columns]
    if missing:
        raise ValueError(
            f"No results for models {missing} on task {task!r}; models: {list(table.columns)}."
        )
    return table[models].dropna()
