"""The book's experiment protocol, checked in every chapter's code (see ``mtl_tutorial.experiments``).

- Training over seeds goes through ``mtl.experiments.train_over_seeds``: no chapter has a loop of its own
  over seeds, restarts models by hand or sets ``steps_per_execution``.
- Words that state an outcome come from a comparison (``Comparison.words``, ``interval`` or
  ``choose``), never from an ``if`` on a raw number: no chapter code picks a string with ``if``/``else``.
- Every ``choose`` gives all three branches as non-empty text.
- Cells that glue values for the prose hide their code (tag ``hide-input``), and a visible code cell,
  which the reader is meant to read, has at most 30 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from tools.sync_install_cell import TEMPLATE, notebooks

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
# The chapter template follows the rules of a chapter.
NOTEBOOKS = [*notebooks(BOOK), TEMPLATE]
HIDDEN = {"hide-input", "remove-input", "hide-cell", "remove-cell"}
MAX_VISIBLE_LINES = 30


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def _code_cells(path):
    notebook = nbformat.read(path, as_version=4)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            yield number, cell, set(cell.metadata.get("tags", []))


def _tree(source: str) -> ast.AST:
    # IPython magics and shell escapes are not Python; chapters have none, but be safe.
    lines = [
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    ]
    return ast.parse("\n".join(lines))


def _is_text(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    ) or isinstance(node, ast.JoinedStr)


def seed_loops(source: str) -> list[str]:
    """Statements that train over seeds by hand: ``for seed in``, ``Restart``, ``steps_per_execution``."""
    found = []
    for node in ast.walk(_tree(source)):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            if "seed" in node.target.id:
                found.append(f"line {node.lineno}: for {node.target.id} in ...")
        if isinstance(node, ast.Attribute) and node.attr == "Restart":
            found.append(f"line {node.lineno}: Restart")
        if isinstance(node, ast.keyword) and node.arg == "steps_per_execution":
            found.append(f"line {node.value.lineno}: steps_per_execution=")
    return found


def sentence_logic(source: str) -> list[str]:
    """``if``/``else`` that picks a string: words chosen by a raw number rather than by a comparison."""
    found = []
    for node in ast.walk(_tree(source)):
        if isinstance(node, ast.IfExp) and (
            _is_text(node.body) or _is_text(node.orelse)
        ):
            found.append(f"line {node.lineno}: a conditional expression picks a string")
        if isinstance(node, ast.If):
            for child in node.body + node.orelse:
                value = getattr(child, "value", None)
                if (
                    isinstance(child, ast.Return | ast.Assign)
                    and value is not None
                    and _is_text(value)
                ):
                    found.append(f"line {node.lineno}: an if statement picks a string")
    return found


def incomplete_choices(source: str) -> list[str]:
    """``choose`` calls that lack a branch or give an empty one."""
    found = []
    for node in ast.walk(_tree(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "choose":
            branches = {k.arg: k.value for k in node.keywords}
            for name in ("better", "worse", "none"):
                value = branches.get(name)
                if value is None or (
                    isinstance(value, ast.Constant) and not str(value.value).strip()
                ):
                    found.append(f"line {node.lineno}: choose without a {name!r} text")
    return found


def _findings(path, check, *, skip_install_cell=False) -> dict[int, list[str]]:
    """``{cell number: findings}`` of ``check`` over the code cells where it finds something."""
    found = {
        n: check(cell.source)
        for n, cell, _ in _code_cells(path)
        if not (skip_install_cell and n == 1)
    }
    return {n: f for n, f in found.items() if f}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_chapter_trains_over_seeds_by_hand(path):
    found = _findings(path, seed_loops)
    assert not found, (
        f"{path.name}: use mtl.experiments.train_over_seeds instead of a loop of the chapter's own "
        f"(cells: {found})"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_words_come_from_comparisons_not_from_if_else(path):
    # Cell 1 is the install cell, right after the title (tests/test_book.py checks it).
    found = _findings(path, sentence_logic, skip_install_cell=True)
    assert not found, (
        f"{path.name}: pick words with Comparison.choose(better=..., worse=..., none=...) "
        f"(cells: {found})"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_choice_has_every_branch(path):
    found = _findings(path, incomplete_choices)
    assert not found, f"{path.name}: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_glue_cells_hide_their_code(path):
    shown = [
        n
        for n, cell, tags in _code_cells(path)
        if "glue(" in cell.source and not tags & HIDDEN
    ]
    assert not shown, (
        f"{path.name}: cells {shown} glue values for the prose but show their code; "
        "tag them hide-input (and keep teaching code in cells of its own)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_visible_code_cells_are_short(path):
    long = {
        n: len(cell.source.splitlines())
        for n, cell, tags in _code_cells(path)
        if not tags & HIDDEN and len(cell.source.splitlines()) > MAX_VISIBLE_LINES
    }
    assert not long, (
        f"{path.name}: visible code cells longer than {MAX_VISIBLE_LINES} lines "
        f"(cell: lines): {long}"
    )


def draws_a_figure(source: str) -> bool:
    """Whether a cell makes a figure: ``plt.subplots``/``plt.figure`` or a ``mtl.plots.plot_*`` helper."""
    return (
        "plt.subplots(" in source
        or "plt.figure(" in source
        or "mtl.plots.plot_" in source
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_figure_has_a_caption(path):
    # The browser test checks the rendered page; this finds a lost caption without a build.
    uncaptioned = [
        n
        for n, cell, _ in _code_cells(path)
        if draws_a_figure(cell.source)
        and not cell.metadata.get("mystnb", {}).get("figure", {}).get("caption")
    ]
    assert not uncaptioned, (
        f"{path.name}: cells {uncaptioned} draw a figure without a caption "
        "(cell metadata mystnb.figure.caption and name)"
    )


# --- The checks catch what they should ------------------------------------------------------------


def test_the_checks_find_what_they_look_for():
    assert seed_loops("for seed in SEEDS:\n    model.fit(x)\n")
    assert seed_loops("restart = mtl.training.Restart(model)\n")
    assert seed_loops("compile_for_tasks(m, t, steps_per_execution=10)\n")
    assert not seed_loops("rows = {seed: kept[seed] for seed in SEEDS}\n")
    assert sentence_logic('word = "lower" if gap < 0 else "higher"\n')
    assert sentence_logic(
        'if gap < 0:\n    text = f"{gap} lower"\nelse:\n    text = "no"\n'
    )
    assert sentence_logic(
        'def f(x):\n    if x:\n        return "yes"\n    return "no"\n'
    )
    assert not sentence_logic(
        'text = comparison.choose(better="a", worse="b", none="c")\n'
    )
    assert not sentence_logic("value = 1 if flag else 2\n")
    assert incomplete_choices('c.choose(better="a", worse="b")\n')
    assert incomplete_choices('c.choose(better="a", worse="", none="c")\n')
    assert not incomplete_choices('c.choose(better="a", worse=f"{x}", none="c")\n')
    assert draws_a_figure(
        "fig = mtl.plots.plot_paired_seeds(results, tasks, split='test')"
    )
    assert draws_a_figure("fig, ax = plt.subplots(figsize=(6.8, 3))")
    assert not draws_a_figure("mtl.experiments.summarise(results, split='test')")
