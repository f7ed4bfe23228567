import matplotlib.text
import numpy as np
import pandas as pd
import pytest

import mtl_tutorial as mtl
from mtl_tutorial.plots import task_curve

SPECIES = mtl.Task("species", "classification", num_classes=3)
MASS = mtl.Task("body_mass_g", "regression", unit="g")


def test_task_curve_reads_prefixed_and_plain_histories():
    multi = {
        "species_loss": [3, 2],
        "val_species_loss": [4, 3],
        "body_mass_g_loss": [1, 0.5],
        "loss": [4, 2.5],
    }
    assert task_curve(multi, "species") == {"train": [3, 2], "val": [4, 3]}
    single = {"loss": [1.0, 0.5], "mae": [0.8, 0.6]}
    assert task_curve(single, "body_mass_g", "mae") == {"train": [0.8, 0.6]}
    with pytest.raises(
        ValueError, match="No 'accuracy' curve for task 'species'; the history has keys"
    ):
        task_curve(multi, "species", "accuracy")


def test_plot_task_curves_draws_one_panel_per_task_and_two_lines_per_model():
    multi = {
        "species_loss": [3, 2],
        "val_species_loss": [4, 3],
        "body_mass_g_loss": [1, 0.5],
        "val_body_mass_g_loss": [2, 1],
    }
    single = {
        "species": {"loss": [3, 1], "val_loss": [3, 2]},
        "body_mass_g": {"loss": [1, 1], "val_loss": [2, 2]},
    }
    fig = mtl.plots.plot_task_curves(
        {"multi": multi, "single": single}, [SPECIES, MASS]
    )
    assert [ax.get_title() for ax in fig.axes] == ["species", "body_mass_g"]
    assert all(len(ax.get_lines()) == 4 for ax in fig.axes)
    assert fig.axes[1].get_ylabel() == "MSE (standardised units)"


def test_plot_paired_seeds():
    results = pd.DataFrame(
        [
            {"seed": s, "model": m, "task": t.name, "split": "val", "value": v}
            for s in range(3)
            for m, v in (("a", 1.0 + s), ("b", 2.0 + s))
            for t in (SPECIES, MASS)
        ]
    )
    fig = mtl.plots.plot_paired_seeds(
        results, [SPECIES, MASS], split="val", models=["b", "a"]
    )
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["b", "a"]
    assert "higher is better" in fig.axes[0].get_ylabel()
    assert fig.axes[1].get_ylabel() == "val MAE (g) (lower is better)"
    with pytest.raises(ValueError, match=r"results lacks columns \['value'\]"):
        mtl.plots.plot_paired_seeds(
            results.drop(columns="value"), [SPECIES], split="val"
        )
    with pytest.raises(ValueError, match="no rows for split 'test'"):
        mtl.plots.plot_paired_seeds(results, [SPECIES], split="test")


def test_pareto_front_marks_non_dominated_points():
    from mtl_tutorial.metrics import pareto_front

    # (accuracy, MAE): higher accuracy and lower MAE are better.
    points = [(0.9, 300), (0.95, 320), (0.85, 310), (0.95, 300), (0.99, 400)]
    front = pareto_front(points, [True, False])
    assert front.tolist() == [False, False, False, True, True]
    with pytest.raises(ValueError, match=r"points must have shape \(n, 2\)"):
        pareto_front([1.0, 2.0], [True, False])


def test_plot_tradeoff_joins_the_front():
    rows = [
        {"seed": s, "model": m, "task": t, "split": "test", "value": v + 0.01 * s}
        for s in range(3)
        for m, acc, mae in (
            ("0.1", 0.8, 200),
            ("0.5", 0.9, 250),
            ("0.9", 0.95, 400),
            ("bad", 0.7, 500),
        )
        for t, v in (("species", acc), ("body_mass_g", mae))
    ]
    fig = mtl.plots.plot_tradeoff(
        pd.DataFrame(rows), [SPECIES, MASS], split="test", label="w = "
    )
    ax = fig.axes[0]
    front_line = ax.get_lines()[-1]
    assert list(front_line.get_xdata()) == pytest.approx([0.81, 0.91, 0.96])
    assert (
        "higher is better" in ax.get_xlabel() and "lower is better" in ax.get_ylabel()
    )
    assert {t.get_text() for t in ax.texts} == {
        "w = 0.1",
        "w = 0.5",
        "w = 0.9",
        "w = bad",
    }


def test_plot_against_draws_means_with_spread_per_group():
    rows = [
        {"seed": s, "p": p, "model": m, "value": base + p + 0.1 * s}
        for s in range(3)
        for p in (0.0, 0.5, 1.0)
        for m, base in (("shared", 1.0), ("single-task", 2.0))
    ]
    table = pd.DataFrame(rows)
    fig = mtl.plots.plot_against(
        table, "p", group="model", reference="zero", ylabel="MAE"
    )
    ax = fig.axes[0]
    means = [line.get_ydata() for line in ax.get_lines() if line.get_marker() == "o"]
    assert [list(m) for m in means] == [
        pytest.approx([1.1, 1.6, 2.1]),
        pytest.approx([2.1, 2.6, 3.1]),
    ]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "shared",
        "single-task",
    ]
    assert len(ax.collections) >= 2  # the faint per-seed dots, one set per group
    assert ax.get_xlabel() == "p" and ax.get_ylabel() == "MAE"

    one = mtl.plots.plot_against(
        table[table["model"] == "shared"], "p", reference="diagonal"
    )
    assert "y = x" in [t.get_text() for t in one.axes[0].get_legend().get_texts()]


def test_plot_against_refuses_bad_input():
    table = pd.DataFrame({"p": [0.0, 1.0], "value": [0.1, 0.9]})
    with pytest.raises(ValueError, match=r"table lacks columns \['model'\]"):
        mtl.plots.plot_against(table, "p", group="model")
    with pytest.raises(
        ValueError, match="reference must be None, 'diagonal' or 'zero'"
    ):
        mtl.plots.plot_against(table, "p", reference="identity")
    grouped = table.assign(model=["a", "b"])
    with pytest.raises(ValueError, match=r"colours lacks the groups \['b'\]"):
        mtl.plots.plot_against(grouped, "p", group="model", colours={"a": "red"})


def test_plot_against_keeps_a_colour_per_group_across_panels():
    table = pd.DataFrame(
        {"p": [0.0, 1.0, 0.0, 1.0], "value": [1, 2, 3, 4], "model": list("aabb")}
    )
    colours = {"a": mtl.plots.PALETTE[0], "b": mtl.plots.PALETTE[1]}
    only_b = mtl.plots.plot_against(
        table[table["model"] == "b"], "p", group="model", colours=colours
    )
    (line,) = [x for x in only_b.axes[0].get_lines() if x.get_marker() == "o"]
    assert line.get_color() == mtl.plots.PALETTE[1]


def test_plot_gate_weights_draws_one_heat_map_per_setting():
    gates = {
        "p = 0": np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]]),
        "p = 1": np.full((2, 4), 0.25),
    }
    fig = mtl.plots.plot_gate_weights(gates, ["task_1", "task_2"])
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["p = 0", "p = 1"]
    np.testing.assert_allclose(panels[0].images[0].get_array(), gates["p = 0"])
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["task_1", "task_2"]
    assert len(panels[1].texts) == 8 and panels[1].texts[0].get_text() == "0.25"


def test_plot_gate_weights_refuses_bad_shapes():
    with pytest.raises(ValueError, match="gates holds no arrays"):
        mtl.plots.plot_gate_weights({}, ["task_1"])
    with pytest.raises(ValueError, match=r"must have shape \(2, num_experts\)"):
        mtl.plots.plot_gate_weights({"p = 0": np.ones(4)}, ["task_1", "task_2"])


# --- The book's figure style ----------------------------------------------------------------------------

# Machado, Oliveira and Fernandes (2009), severity 1: how a colour looks to a reader with each form of
# colour blindness (a linear map of linear RGB).
_COLOUR_BLINDNESS = {
    "protanopia": [
        [0.152286, 1.052583, -0.204868],
        [0.114503, 0.786281, 0.099216],
        [-0.003882, -0.048116, 1.051998],
    ],
    "deuteranopia": [
        [0.367322, 0.860646, -0.227968],
        [0.280085, 0.672501, 0.047413],
        [-0.011820, 0.042940, 0.968881],
    ],
    "tritanopia": [
        [1.255528, -0.076749, -0.178779],
        [-0.078411, 0.930809, 0.147602],
        [0.004733, 0.691367, 0.303900],
    ],
}
# Smallest distance (sRGB, 0-1) two colours must keep after the simulation. Tritanopia is rarer and no
# eight-colour palette keeps pairs as far apart, hence its lower bar.
_MIN_DISTANCE = {"protanopia": 0.15, "deuteranopia": 0.15, "tritanopia": 0.1}


def _closest_pair_seen_as(palette, condition):
    import matplotlib.colors as mcolors

    rgb = np.array([mcolors.to_rgb(c) for c in palette])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    seen = np.clip(linear @ np.array(_COLOUR_BLINDNESS[condition]).T, 0, 1)
    srgb = np.where(seen <= 0.0031308, 12.92 * seen, 1.055 * seen ** (1 / 2.4) - 0.055)
    return min(
        np.linalg.norm(srgb[i] - srgb[j])
        for i in range(len(srgb))
        for j in range(i + 1, len(srgb))
    )


@pytest.mark.parametrize("condition", sorted(_COLOUR_BLINDNESS))
def test_palette_stays_distinguishable_with_colour_blindness(condition):
    assert (
        _closest_pair_seen_as(mtl.plots.PALETTE, condition) >= _MIN_DISTANCE[condition]
    )


def test_colour_blindness_check_rejects_matplotlibs_default_colours():
    import matplotlib

    tab10 = matplotlib.colormaps["tab10"].colors[:6]
    failures = [
        c
        for c in _COLOUR_BLINDNESS
        if _closest_pair_seen_as(tab10, c) < _MIN_DISTANCE[c]
    ]
    assert failures, "the check would pass a palette with red next to green"


def test_use_book_style_sets_palette_size_and_background():
    import matplotlib.pyplot as plt

    with plt.rc_context():
        mtl.plots.use_book_style()
        assert plt.rcParams["axes.prop_cycle"].by_key()["color"] == list(
            mtl.plots.PALETTE
        )
        assert plt.rcParams["figure.figsize"][0] <= mtl.plots.BOOK_WIDTH
        assert plt.rcParams["savefig.dpi"] == 100
        assert plt.rcParams["savefig.facecolor"] == "white"
        fig, ax = plt.subplots()
        (line,) = ax.plot([0, 1])
        assert line.get_color() == mtl.plots.PALETTE[0]
        plt.close(fig)


# What the book's style asks of every figure; the helpers' figures are checked against it below.
def figure_problems(fig) -> list[str]:
    """What keeps a figure from meeting the book's style; an empty list when nothing does.

    Checks that the figure is at most ``mtl.plots.BOOK_WIDTH`` wide, that every panel that shows data has
    both axes labelled (panels with ticks turned off, such as images, are exempt), and that no text is
    smaller than 7 points.

    Args:
        fig: A Matplotlib figure.

    Returns:
        One sentence per problem found.
    """
    problems = []
    width = fig.get_figwidth()
    if width > mtl.plots.BOOK_WIDTH + 1e-6:
        problems.append(
            f"the figure is {width:.1f} in wide, more than {mtl.plots.BOOK_WIDTH} in"
        )
    for number, ax in enumerate(fig.axes, start=1):
        if not ax.get_visible() or not ax.axison or _is_colorbar(ax):
            continue
        for axis, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            ticks = getattr(ax, f"get_{axis}ticklabels")()
            shown = any(t.get_visible() and t.get_text() for t in ticks)
            if not label and shown and not _shares_label(ax, axis):
                problems.append(
                    f"panel {number} ({ax.get_title()!r}) has no {axis} label"
                )
    small = sorted(
        {
            round(t.get_fontsize(), 1)
            for t in fig.findobj(matplotlib.text.Text)
            if t.get_text() and t.get_fontsize() < 7
        }
    )
    if small:
        problems.append(f"text smaller than 7 points: {small}")
    return problems


def _is_colorbar(ax) -> bool:
    return hasattr(ax, "_colorbar")


def _shares_label(ax, axis: str) -> bool:
    """Whether another panel in the same row (y) or column (x) carries the label for this one."""
    shared = ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()
    return any(
        other is not ax and getattr(other, f"get_{axis}label")()
        for other in shared.get_siblings(ax)
    )


def test_figure_problems_finds_wide_figures_unlabelled_axes_and_small_text():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].plot([0, 1])
    axes[0].set(xlabel="epoch", ylabel="loss")
    axes[1].plot([0, 1])
    axes[1].set_xlabel("epoch")
    axes[1].text(0, 0, "tiny", fontsize=5)
    problems = figure_problems(fig)
    assert any("9.0 in wide" in p for p in problems)
    assert any("panel 2" in p and "no y label" in p for p in problems)
    assert any("smaller than 7 points" in p for p in problems)
    assert not any("panel 1" in p for p in problems)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(np.zeros((8, 8)))
    ax.set_axis_off()  # an image without axes needs no labels
    assert figure_problems(fig) == []
    plt.close(fig)


def _helper_figures():
    results = pd.DataFrame(
        [
            {
                "seed": s,
                "model": m,
                "task": t.name,
                "split": "test",
                "value": v + s * 0.01,
            }
            for s in range(3)
            for m, v in (("a", 0.5), ("b", 0.6))
            for t in (SPECIES, MASS)
        ]
    )
    history = {
        "species_loss": [3, 2],
        "val_species_loss": [4, 3],
        "body_mass_g_loss": [1, 0.5],
        "val_body_mass_g_loss": [2, 1],
    }
    table = pd.DataFrame({"p": [0, 0, 1, 1], "value": [0.1, 0.2, 0.3, 0.4]})
    gates = {f"p = {p}": np.full((3, 4), 0.25) for p in (0, 0.5, 1)}
    return {
        "task curves (3 tasks)": lambda: mtl.plots.plot_task_curves(
            {"m": history | {"x_loss": [1, 0]}},
            [SPECIES, MASS, mtl.Task("x", "regression")],
        ),
        "paired seeds": lambda: mtl.plots.plot_paired_seeds(
            results, [SPECIES, MASS], split="test"
        ),
        "trade-off": lambda: mtl.plots.plot_tradeoff(
            results, [SPECIES, MASS], split="test"
        ),
        "against": lambda: mtl.plots.plot_against(
            table, "p", xlabel="relatedness p", ylabel="MSE"
        ),
        "gate weights": lambda: mtl.plots.plot_gate_weights(gates, ["a", "b", "c"]),
    }


@pytest.mark.parametrize("name", list(_helper_figures()))
def test_every_helper_figure_meets_the_book_style(name):
    import matplotlib.pyplot as plt

    with plt.rc_context():
        mtl.plots.use_book_style()
        fig = _helper_figures()[name]()
        assert figure_problems(fig) == []
        plt.close(fig)
