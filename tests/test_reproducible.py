"""Same seed, same numbers: three chapters, each executed twice in fresh kernels, report the same values.

The first run is nbmake's, from earlier in the same ``pytest`` session (``book/`` is collected before
``tests/``; the fixture ``executed_notebooks`` of ``conftest.py`` holds it), so CI executes each of these
chapters once more rather than twice more. Run on its own, the test executes each chapter twice.

Every number a chapter's prose quotes is glued (myst-nb ``glue``), and every table it shows is a cell's
result; this test compares all of them between the two runs, exactly. The chapters cover the kinds of
training the book does: plain multi-output ``fit`` (chapter 1), a custom gradient rule in a custom
``train_step`` (PCGrad, chapter 6), and a contrastive dual encoder with a learned temperature (Part II,
chapter 4). ``mtl.set_seed`` enables TensorFlow's op determinism, which makes the runs identical on a
CPU; an op with no deterministic kernel would raise instead of varying silently.

Takes about two and a half minutes after nbmake (three notebook runs), five on its own.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = [
    "book/part1_multitask/01_why_several_tasks.ipynb",
    "book/part1_multitask/06_conflicting_gradients.ipynb",
    "book/part2_multimodal/05_alignment.ipynb",
]


def reported_values(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """Every glued value (by name) and every cell result (by cell number), as the page would show it."""
    values = {}
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                values[f"glue {name}"] = data.get("text/plain", "")
            elif output.get("output_type") == "execute_result":
                values[f"cell {number}"] = data.get(
                    "text/html", data.get("text/plain", "")
                )
    return values


def _run(path: Path) -> dict[str, str]:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return reported_values(notebook)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: Path(c).stem)
def test_a_chapter_reports_the_same_numbers_twice(chapter, executed_notebooks):
    path = (ROOT / chapter).resolve()
    earlier = executed_notebooks.get(path)
    first = reported_values(earlier) if earlier is not None else _run(path)
    second = _run(path)
    assert sum(key.startswith("glue") for key in first) >= 5, (
        "the chapter glues its numbers"
    )
    differ = {
        key: (first[key], second.get(key))
        for key in first
        if first[key] != second.get(key)
    }
    assert first.keys() == second.keys()
    assert not differ, f"values that changed between two runs: {differ}"


def test_reported_values_reads_glue_and_results():
    notebook = nbformat.v4.new_notebook()
    glued = nbformat.v4.new_output(
        "display_data",
        data={"text/plain": "0.5"},
        metadata={"scrapbook": {"name": "acc", "mime_prefix": ""}},
    )
    result = nbformat.v4.new_output(
        "execute_result", data={"text/plain": "42"}, execution_count=1
    )
    notebook.cells = [nbformat.v4.new_code_cell(outputs=[glued, result])]
    assert reported_values(notebook) == {"glue acc": "0.5", "cell 0": "42"}
