"""Figures used across the book, in one style.

Taught in :doc:`/book/part1_multitask/01_why_several_tasks`. Every chapter calls :func:`use_book_style` once
in its setup cell, which sets Matplotlib's defaults for all of its figures, the helpers here and the chapter's
own:

- colours from the Okabe-Ito palette (:data:`PALETTE`), which stays distinguishable for readers with the
  common forms of colour blindness, and ``viridis`` for colour scales;
- figures at most :data:`BOOK_WIDTH` inches wide at 100 dots per inch, so that the book's column (about
  690 pixels) shows them at full size and 9-10 point text stays legible;
- white backgrounds (legible in the theme's dark mode too), light grids, no top and right spines.

Axis labels name the quantity and its unit or scale, e.g. ``"MAE (g)"`` or ``"accuracy (higher is
better)"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mtl_tutorial.experiments import select_split
from mtl_tutorial.metrics import pareto_front
from mtl_tutorial.tasks import Task, check_tasks
from mtl_tutorial.validation import check_types

#: Okabe-Ito colours, in the order figures use them.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#CC79A7",  # purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermilion
    "#F0E442",  # yellow
    "#000000",  # black
)

#: Widest figure in inches, which at 100 dpi is the width of the book's text column.
BOOK_WIDTH: float = 6.8

#: Matplotlib settings of the book's style, applied by :func:`use_book_style`.
STYLE: dict[str, object] = {
    "axes.prop_cycle": cycler(color=PALETTE),
    "image.cmap": "viridis",
    "figure.figsize": (BOOK_WIDTH, 3.4),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
}


def use_book_style() -> None:
    """Make the book's figure style (:data:`STYLE`) Matplotlib's default for the rest of the session.

    Call it after importing Matplotlib; in a notebook, Jupyter's inline backend sets its own defaults
    when ``matplotlib.pyplot`` is first imported, which this overrides.
    """
    plt.rcParams.update(STYLE)


def _row_width(panels: int, each: float, *, extra: float = 0.0) -> float:
    """Width of a row of ``panels`` panels of ``each`` inches (plus ``extra``), at most the book's."""
    return min(BOOK_WIDTH, panels * each + extra)


History = keras.callbacks.History | Mapping[str, Sequence[float]]


@check_types
def task_curve(
    history: History, task: str, metric: str = "loss"
) -> dict[str, list[float]]:
    """One task's training and validation curves from a Keras history.

    Multi-output models log ``"{task}_{metric}"``; a model with a single output logs plain
    ``"{metric}"``, which is used only when no task-prefixed key exists.

    Returns:
        ``{"train": [...]}``, plus ``"val"`` when validation was logged.

    Raises:
        ValueError: if the history has no curve for that task and metric.
    """
    logs = history.history if isinstance(history, keras.callbacks.History) else history
    for key in (f"{task}_{metric}", metric):
        if key in logs:
            curves = {"train": list(logs[key])}
            if f"val_{key}" in logs:
                curves["val"] = list(logs[f"val_{key}"])
            return curves
    raise ValueError(
        f"No {metric!r} curve for task {task!r}; the history has keys {sorted(logs)}."
    )


@check_types
def plot_task_curves(
    histories: Mapping[str, History | Mapping[str, History]],
    tasks: Sequence[Task],
    *,
    metric: str = "loss",
) -> Figure:
    """Per-task learning curves, one panel per task, one colour per model.

    Args:
        histories: ``{label: history}`` for a multi-task model, or ``{label: {task name: history}}``
            for a set of single-task models, one per task.
        tasks: The tasks to draw, one panel each.
        metric: The logged quantity, e.g. ``"loss"`` or ``"accuracy"``.

    Returns:
        The figure, with training curves solid and validation curves dashed.
    """
    tasks = check_tasks(tasks)
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(_row_width(len(tasks), 3.4), 3.2), squeeze=False
    )
    for ax, task in zip(axes[0], tasks, strict=True):
        for colour, (label, history) in zip(PALETTE, histories.items(), strict=False):
            if isinstance(history, Mapping) and task.name in history:
                history = history[task.name]
            curves = task_curve(history, task.name, metric)
            epochs = np.arange(1, len(curves["train"]) + 1)
            ax.plot(epochs, curves["train"], color=colour, label=f"{label}, training")
            if "val" in curves:
                ax.plot(
                    epochs,
                    curves["val"],
                    color=colour,
                    ls="--",
                    label=f"{label}, validation",
                )
        ax.set(title=task.name, xlabel="epoch", ylabel=_metric_label(task, metric))
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


@check_types
def plot_paired_seeds(
    results: pd.DataFrame,
    tasks: Sequence[Task],
    *,
    split: str,
    models: Sequence[str] | None = None,
) -> Figure:
    """Each seed's metric for each model on one split, with lines pairing runs of the same seed.

    Args:
        results: Long table with columns ``seed``, ``model``, ``task``, ``split``, ``value``.
        tasks: One panel per task; the axis label says whether higher or lower is better.
        split: The split whose scores are drawn (``"val"`` or ``"test"``), named in the axis label.
        models: Order of the models on the x axis; default their order of appearance.

    Returns:
        The figure. Means are drawn as black bars.
    """
    tasks = check_tasks(tasks)
    results = select_split(results, split)
    models = list(dict.fromkeys(results["model"])) if models is None else list(models)
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(_row_width(len(tasks), 3.4), 3.2), squeeze=False
    )
    for ax, task in zip(axes[0], tasks, strict=True):
        table = results[results["task"] == task.name].pivot(
            index="seed", columns="model", values="value"
        )
        table = table[models]
        positions = np.arange(len(models))
        for seed_values in table.to_numpy():
            ax.plot(positions, seed_values, color="0.75", lw=1, zorder=1)
        for position, colour, model in zip(positions, PALETTE, models, strict=False):
            ax.scatter(
                np.full(len(table), position), table[model], color=colour, zorder=2
            )
            ax.hlines(
                table[model].mean(),
                position - 0.2,
                position + 0.2,
                color="black",
                lw=2,
                zorder=3,
            )
        better = "higher" if task.higher_is_better else "lower"
        ax.set(
            title=task.name,
            xticks=positions,
            xlim=(-0.5, len(models) - 0.5),
            xlabel="model",
        )
        ax.set_xticklabels(models)
        ax.set_ylabel(
            f"{split} {_metric_label(task, task.metric)} ({better} is better)"
        )
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def _metric_label(task: Task, metric: str) -> str:
    if metric == "loss":
        return (
            "cross-entropy"
            if task.kind == "classification"
            else "MSE (standardised units)"
        )
    if metric == "mae":
        return f"MAE ({task.unit})" if task.unit else "MAE"
    return metric


@check_types
def plot_tradeoff(
    results: pd.DataFrame, tasks: Sequence[Task], *, split: str, label: str = ""
) -> Figure:
    """Mean metrics of several models on two tasks on one split, with the Pareto front joined up.

    Args:
        results: Long table with columns ``seed``, ``model``, ``task``, ``split``, ``value``; each model
            is one point, at its mean over seeds, with error bars of one standard deviation.
        split: The split whose scores are drawn (``"val"`` or ``"test"``), named in the axis labels.
        tasks: The two tasks: the first on the x axis, the second on the y axis.
        label: Text put before each model's name in the point labels, e.g. ``"w = "``.

    Returns:
        The figure. Points that no other point beats on both tasks are joined by a line.
    """
    tasks = check_tasks(tasks)
    if len(tasks) != 2:
        raise ValueError(f"plot_tradeoff draws two tasks; got {len(tasks)}.")
    results = select_split(results, split)
    stats = results.groupby(["model", "task"], sort=False)["value"].agg(["mean", "std"])
    models = list(dict.fromkeys(results["model"]))
    means = np.array([[stats.loc[(m, t.name), "mean"] for t in tasks] for m in models])
    stds = np.array([[stats.loc[(m, t.name), "std"] for t in tasks] for m in models])
    front = pareto_front(means, [t.higher_is_better for t in tasks])
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    ax.errorbar(
        means[:, 0],
        means[:, 1],
        xerr=stds[:, 0],
        yerr=stds[:, 1],
        fmt="o",
        color=PALETTE[0],
        ecolor="0.7",
        capsize=2,
        label="mean ± 1 sd over seeds",
    )
    order = np.argsort(means[front, 0])
    ax.plot(
        means[front, 0][order],
        means[front, 1][order],
        color=PALETTE[1],
        label="Pareto front",
    )
    for model, (x, y) in zip(models, means, strict=True):
        ax.annotate(
            f"{label}{model}",
            (x, y),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    labels = [
        f"{t.name}: {split} {_metric_label(t, t.metric)}, "
        f"{'higher' if t.higher_is_better else 'lower'} is better"
        for t in tasks
    ]
    ax.set(xlabel=labels[0], ylabel=labels[1])
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


@check_types
def plot_against(
    table: pd.DataFrame,
    x: str,
    y: str = "value",
    *,
    group: str | None = None,
    reference: str | None = None,
    colours: Mapping[object, str] | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Mean ± one standard deviation of ``y`` at each value of ``x``, one line per group.

    Every row of ``table`` (typically one seed) is also drawn as a faint dot, so the spread behind
    each mean stays visible. Taught in :doc:`/book/part1_multitask/03_task_relatedness`,
    where ``x`` is the task relatedness ``p``.

    Args:
        table: Long table with numeric columns ``x`` and ``y`` (and ``group`` if given).
        x: Column for the horizontal axis.
        y: Column for the vertical axis.
        group: Column whose values get one line each (e.g. ``"model"``); default one line.
        reference: ``"diagonal"`` draws ``y = x`` and ``"zero"`` draws ``y = 0``, dotted.
        colours: Colour of each group, so that several panels agree; default the palette in order.
        xlabel, ylabel: Axis labels; default the column names.
        ax: Axes to draw on; default a new figure.

    Returns:
        The figure that holds the axes.

    Raises:
        ValueError: if a column is missing or ``reference`` is not one of the choices.
    """
    needed = [x, y] + ([group] if group is not None else [])
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(
            f"table lacks columns {missing}; it has {list(table.columns)}."
        )
    if reference not in (None, "diagonal", "zero"):
        raise ValueError(
            f"reference must be None, 'diagonal' or 'zero'; got reference={reference!r}."
        )
    groups = (
        [(None, table)] if group is None else list(table.groupby(group, sort=False))
    )
    if colours is None:
        colours = dict(zip([label for label, _ in groups], PALETTE, strict=False))
    uncoloured = [label for label, _ in groups if label not in colours]
    if uncoloured:
        raise ValueError(
            f"colours lacks the groups {uncoloured}; it has {list(colours)}."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.6))
    for label, rows in groups:
        colour = colours[label]
        stats = rows.groupby(x)[y].agg(["mean", "std"]).sort_index()
        ax.scatter(rows[x], rows[y], color=colour, alpha=0.25, s=12, lw=0)
        ax.errorbar(
            stats.index,
            stats["mean"],
            yerr=stats["std"].fillna(0.0),
            color=colour,
            marker="o",
            capsize=3,
            label=None if label is None else str(label),
        )
    if reference == "diagonal":
        low, high = table[x].min(), table[x].max()
        ax.plot([low, high], [low, high], color="0.5", ls=":", label="y = x")
    elif reference == "zero":
        ax.axhline(0.0, color="0.5", ls=":")
    ax.set(xlabel=xlabel or x, ylabel=ylabel or y)
    ax.grid(alpha=0.3)
    if group is not None or reference == "diagonal":
        ax.legend(fontsize="small", frameon=False)
    ax.figure.tight_layout()
    return ax.figure


@check_types
def plot_gate_weights(
    gates: Mapping[str, np.ndarray],
    task_names: Sequence[str],
    *,
    expert_labels: Sequence[str] | None = None,
) -> Figure:
    """Heat maps of mixture-of-experts gate weights, one panel per setting, one row per task.

    Taught in :doc:`/book/part1_multitask/04_architectures`, where each panel is an MMoE
    trained at one relatedness ``p`` and each row the average, over the test set, of one task's
    gate (``model.get_layer("experts").gate_weights(x)`` averaged over the batch axis).

    Args:
        gates: ``{panel title: array of shape (num_tasks, num_experts)}``; each row is one gate's
            average weight per expert.
        task_names: Row labels, one per task.
        expert_labels: Column labels; default ``"1"``, ``"2"``, ...

    Returns:
        The figure, with each cell's weight written in it and one shared colour scale from 0 to 1.

    Raises:
        ValueError: if ``gates`` is empty or an array is not ``(len(task_names), num_experts)``.
    """
    if not gates:
        raise ValueError(
            "gates holds no arrays; give {title: (num_tasks, num_experts) array}."
        )
    arrays = {title: np.asarray(value, dtype=float) for title, value in gates.items()}
    for title, array in arrays.items():
        if array.ndim != 2 or array.shape[0] != len(task_names):
            raise ValueError(
                f"gates[{title!r}] must have shape ({len(task_names)}, num_experts), one row "
                f"per task; got shape {array.shape}."
            )
    fig, axes = plt.subplots(
        1,
        len(arrays),
        figsize=(_row_width(len(arrays), 2.8, extra=0.8), 0.6 * len(task_names) + 1.4),
    )
    axes = np.atleast_1d(axes)
    for ax, (title, array) in zip(axes, arrays.items(), strict=True):
        image = ax.imshow(array, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
        for (row, column), value in np.ndenumerate(array):
            colour = "white" if value > 0.6 else "black"
            ax.text(column, row, f"{value:.2f}", ha="center", va="center", color=colour)
        labels = expert_labels or [str(e + 1) for e in range(array.shape[1])]
        ax.set_xticks(range(array.shape[1]), labels)
        ax.set_yticks(range(len(task_names)), list(task_names))
        ax.set(title=title, xlabel="expert", ylabel="task" if ax is axes[0] else "")
        ax.grid(False)
        if ax is not axes[0]:
            ax.tick_params(
                labelleft=False
            )  # the rows are the same tasks in every panel
    fig.colorbar(image, ax=list(axes), label="mean gate weight", shrink=0.9)
    return fig
