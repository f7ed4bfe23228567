"""The assignments: each builds with otter, its solution scores full marks, the untouched student notebook
scores nothing, and a plausible wrong answer to each question loses that question's points.

Grading runs each notebook in a kernel, so these tests take a few minutes; they use the same functions as
``python tools/assignments.py`` (``build`` and ``grade``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools.assignments import (
    autograder_zip,
    build_all,
    grade_folder,
    grade_one,
    masters,
)

#: For each assignment, plausible mistakes, as (text in the solution, text that replaces it): together they
#: get every autograded question wrong.
WRONG_ANSWERS = {
    "01_multitask_baselines": [
        ('activation="softmax", ', ""),  # q1: no softmax on the classification head
        (
            "change if task.higher_is_better else -change",
            "change",
        ),  # q2: no sign for errors
        ("epochs=100", "epochs=1"),  # q3: a model that is not really trained
    ],
    "02_training_rules": [
        (
            "+ 0.5 * log_variances",
            "+ log_variances",
        ),  # q1: the regulariser without its 1/2
        (
            "ops.where(dot < 0, projected, g_i)",
            "projected",
        ),  # q2: projects without a conflict
        (
            "project(first, second) + project(second, first)",
            "first + second",
        ),  # q3: no surgery
        ("epochs=30", "epochs=1"),  # q4: not trained
    ],
    "03_negative_transfer_gates": [
        (
            "p * u1 + np.sqrt(1 - p**2) * u2",
            "p * u1 + (1 - p) * u2",
        ),  # q1: not unit length
        ("ops.softmax(self.logits(x), axis=-1)", "self.logits(x)"),  # q2: no softmax
        ("epochs=30", "epochs=1"),  # q3: models not trained
    ],
    "04_fusion_capstone": [
        (
            "return z * h_a + (1 - z) * h_b",
            "return z * h_a + z * h_b",
        ),  # q1: one gate for both
        (
            "keep[none, rescue[none]] = 1.0",
            "pass",
        ),  # q2: examples may lose both modalities
        (
            "modality_dropout=0.5,",
            "modality_dropout=0.0,",
        ),  # q3: never trained without a modality
    ],
}

MASTERS = masters()


@pytest.fixture(scope="module")
def built():
    # The same build as `python tools/assignments.py build`, into the same places: after `pytest`, the book
    # links the student notebooks tested here, and CI builds them only once.
    return build_all()


def test_every_assignment_has_wrong_answers_to_test():
    assert len(MASTERS) >= 1
    assert {m.stem for m in MASTERS} <= set(WRONG_ANSWERS)


def _autograded(scores):
    return {k: v for k, v in scores.items() if k not in ("total", "possible")}


@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_solution_full_marks_student_zero_wrong_answers_lose_points(
    master, built, tmp_path
):
    folder = built[master.stem]
    zip_path = autograder_zip(folder)
    solution = folder / "autograder" / master.name
    student = folder / "student" / master.name

    full = grade_one(solution, zip_path)
    assert full["total"] == full["possible"] > 0, full

    blank = grade_one(student, zip_path)
    assert all(score == 0 for score in _autograded(blank).values()), blank

    notebook = nbformat.read(solution, as_version=4)
    for old, new in WRONG_ANSWERS[master.stem]:
        hits = [cell for cell in notebook.cells if old in cell.source]
        assert hits, f"{master.stem}: the solution no longer contains {old!r}"
        for cell in hits:
            cell.source = cell.source.replace(old, new)
    wrong_path = tmp_path / master.name
    nbformat.write(notebook, wrong_path)
    wrong = grade_one(wrong_path, zip_path)
    for question, score in _autograded(wrong).items():
        assert score < full[question], (question, wrong, full)


def test_grading_a_folder_writes_a_score_table(built, tmp_path, monkeypatch):
    import tools.assignments as assignments

    name = MASTERS[0].stem
    monkeypatch.setattr(assignments, "OUTPUT", built[name].parent)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    student = built[name] / "student" / MASTERS[0].name
    (submissions / "ada.ipynb").write_bytes(student.read_bytes())
    csv_path = tmp_path / "scores.csv"
    rows = grade_folder(name, submissions, csv_path)
    assert [row["submission"] for row in rows] == ["ada"]
    header, line = csv_path.read_text().splitlines()
    assert header.startswith("submission,") and header.endswith("total,possible")
    assert line.startswith("ada,") and line.endswith(",0.0,8.0")


def test_the_book_links_every_student_notebook():
    page = (
        Path(__file__).resolve().parent.parent / "book" / "assignments" / "index.md"
    ).read_text()
    for master in MASTERS:
        assert f"downloads/{master.name}" in page
