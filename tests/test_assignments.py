"""The assignments, graded as a class would be: each builds with otter, in the public variant and with two
course secrets; its solution scores full marks (twice in the public variant, once in each secret's); the
untouched student notebook scores nothing; every committed wrong answer (``assignments/wrong_answers/``) is
graded as a submission of its own and loses its question's points, or is flagged when it tampers with the
grader; two secrets give different variants and different printed numbers; and a student notebook saved
under another name still runs ``grader.check``.

Grading runs each notebook in a kernel, so these tests take a while: every submission of every assignment
is graded in one pool of ``MTL_GRADING_WORKERS`` processes (default 2), with the same functions as
``python tools/assignments.py`` (``build`` and ``grade``); the total time is printed. A wrong answer that must
lose its question's points is graded up to that question's ``grader.check`` cell (its score is settled
there). ``MTL_WRONG_ANSWERS=issue`` grades only the issue's rows, the variant entries and the tampering.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from tools.grading import (
    autograder_zip,
    build_all,
    grade_folder,
    grade_many,
    masters,
    questions_of,
)

ROOT = Path(__file__).resolve().parent.parent
WRONG_ANSWERS = ROOT / "assignments" / "wrong_answers"
SECRETS = ("alpha", "beta")
WORKERS = int(os.environ.get("MTL_GRADING_WORKERS", "2"))
#: ``all`` (the default) grades every committed wrong answer; ``issue`` only the issue's rows, the entries
#: graded in a variant (``secret_only``), the honest variations and the tampering ones, for a quicker run
#: (what CI grades: .ci/run sets it).
GRADED = os.environ.get("MTL_WRONG_ANSWERS", "all")
MASTERS = masters()
IDS = [m.stem for m in MASTERS]
ENTRY_KEYS = {
    "name",
    "question",
    "source",
    "description",
    "expect",
    "replace",
    "add_cell",
    "secret_only",
}


#: Tampering, tried on every assignment's untouched student notebook (a cell after the setup cell): each must
#: be flagged: the issue's three attacks, one that no static scan sees (the checks in the kernel do), and one
#: through vars().
#: Entries with ``question=None`` in the wrong-answer files are graded as well.
TAMPERING = [
    dict(
        name="tamper-run-doctest",
        question=None,
        source="issue",
        description="monkeypatches otter's run_doctest so that every test passes",
        expect="flag",
        add_cell=(
            "VARIANT = ",
            "import otter.test_files.ok_test\n\n"
            "otter.test_files.ok_test.run_doctest = lambda name, text, env: (True, '')",
        ),
    ),
    dict(
        name="tamper-assert-allclose",
        question=None,
        source="issue",
        description="replaces np.testing.assert_allclose by a function that never fails",
        expect="flag",
        add_cell=(
            "VARIANT = ",
            "np.testing.assert_allclose = lambda *args, **kwargs: None",
        ),
    ),
    dict(
        name="tamper-rewrite-tests",
        question=None,
        source="issue",
        description="rewrites ./tests/q*.py so that no point is possible",
        expect="flag",
        add_cell=(
            "VARIANT = ",
            "import glob\n\nfor path in glob.glob('tests/q*.py'):\n"
            "    with open(path, 'w') as handle:\n"
            "        handle.write(\"OK_FORMAT = True\\ntest = {'name': 'q', 'points': 0, 'suites': []}\")",
        ),
    ),
    dict(
        name="tamper-doctest-runner",
        question=None,
        source="mistake",
        description="makes doctest's runner report no failure, through a function (no flagged syntax)",
        expect="flag",
        add_cell=(
            "VARIANT = ",
            "import doctest\n\n\ndef runner():\n    return doctest.DocTestRunner\n\n\n"
            "runner().run = lambda self, test, *args, **kwargs: doctest.TestResults(0, 0)",
        ),
    ),
    dict(
        name="tamper-vars-setitem",
        question=None,
        source="mistake",
        description="replaces np.testing.assert_allclose through operator.setitem on vars(np.testing)",
        expect="flag",
        add_cell=(
            "VARIANT = ",
            "import operator\n\n"
            "operator.setitem(vars(np.testing), 'assert_allclose', lambda *a, **k: None)",
        ),
    ),
]


def wrong_answers(stem: str, graded_only: bool = False) -> list[dict]:
    """The committed wrong answers of an assignment: ``WRONG_ANSWERS`` in its file (plain data).

    With ``graded_only``, those this run grades (see ``MTL_WRONG_ANSWERS``).
    """
    namespace: dict = {}
    path = WRONG_ANSWERS / f"{stem}.py"
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    entries = namespace["WRONG_ANSWERS"]
    if graded_only and GRADED == "issue":
        entries = [
            e
            for e in entries
            if e["source"] in ("issue", "honest")
            or e.get("secret_only")
            or e["question"] is None
        ]
    return entries


def apply_wrong_answer(
    notebook: nbformat.NotebookNode, entry: dict
) -> nbformat.NotebookNode:
    """The solution notebook with an entry's edit: its replacements, then its added cell."""
    copy = nbformat.from_dict(nbformat.reads(nbformat.writes(notebook), as_version=4))
    for old, new in entry.get("replace", []):
        hits = [c for c in copy.cells if c.cell_type == "code" and old in c.source]
        if not hits:
            raise ValueError(f"{entry['name']}: the solution does not contain {old!r}")
        for cell in hits:
            cell.source = cell.source.replace(old, new)
    if entry.get("add_cell"):
        after, code = entry["add_cell"]
        cell = nbformat.v4.new_code_cell(code)
        if after is None:
            copy.cells.insert(len(copy.cells) - 1, cell)
        else:
            index = next(
                (i for i, c in enumerate(copy.cells) if after in c.source), None
            )
            if index is None:
                raise ValueError(f"{entry['name']}: no cell contains {after!r}")
            copy.cells.insert(index + 1, cell)
    return copy


def up_to_its_question(
    notebook: nbformat.NotebookNode, question: str
) -> nbformat.NotebookNode:
    """The notebook up to the cell that checks ``question``, for a wrong answer that must lose its points.

    In otter's grading a question's score is settled at its ``grader.check`` cell (the final grading cell
    runs only the tests not yet run, and ``check_all`` does nothing), so the cells after it cannot change
    that score; leaving them out saves running the later questions' experiments.
    """
    check = f'grader.check("{question}")'
    index = next(
        (i for i, c in enumerate(notebook.cells) if c.source.strip() == check), None
    )
    if index is not None:
        notebook.cells = notebook.cells[: index + 1]
    return notebook


def _questions(folder: Path) -> list[str]:
    with zipfile.ZipFile(autograder_zip(folder)) as archive:
        return sorted(
            Path(n).stem
            for n in archive.namelist()
            if n.startswith("tests/") and n.endswith(".py")
        )


@pytest.fixture(scope="module")
def built():
    # The same build as `python tools/assignments.py build`, into the same places: after `pytest`, the book
    # links the student notebooks tested here, and CI builds them only once. otter assign does not run the
    # solution against the tests here (the same files come out): the tests below grade it themselves.
    return build_all(run_tests=False)


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    # A course's variants, built as an instructor would with a secret. otter assign does not run the
    # solution here: the tests below grade it in each variant.
    return {
        secret: build_all(
            tmp_path_factory.mktemp(secret),
            downloads=None,
            secret=secret,
            run_tests=False,
        )
        for secret in SECRETS
    }


@pytest.fixture(scope="module")
def graded(built, variants, tmp_path_factory):
    """Every submission of every assignment, graded in one pool: ``{(assignment, label): result}``."""
    folder = tmp_path_factory.mktemp("submissions")
    submissions, keys, results = [], [], {}
    for master in MASTERS:
        stem, public = master.stem, built[master.stem]
        solution = public / "autograder" / master.name
        for label in ("solution 1", "solution 2"):
            keys.append((stem, label))
            submissions.append((solution, autograder_zip(public)))
        keys.append((stem, "blank"))
        submissions.append((public / "student" / master.name, autograder_zip(public)))
        for secret in SECRETS:
            target = variants[secret][stem]
            keys.append((stem, f"solution {secret}"))
            executed = folder / f"{stem}-{secret}-executed.ipynb"
            submissions.append(
                (target / "autograder" / master.name, autograder_zip(target), executed)
            )
        for entry in (
            wrong_answers(stem, graded_only=True)
            if (WRONG_ANSWERS / f"{stem}.py").exists()
            else []
        ):
            target = variants["alpha"][stem] if entry.get("secret_only") else public
            try:
                notebook = apply_wrong_answer(
                    nbformat.read(target / "autograder" / master.name, as_version=4),
                    entry,
                )
            except ValueError as error:
                results[stem, entry["name"]] = {"error": str(error)}
                continue
            if entry["expect"] in ("lose", "keep") and entry["question"]:
                notebook = up_to_its_question(notebook, entry["question"])
            path = folder / f"{stem}-{entry['name']}.ipynb"
            nbformat.write(notebook, path)
            keys.append((stem, entry["name"]))
            submissions.append((path, autograder_zip(target)))
        for entry in TAMPERING:
            notebook = apply_wrong_answer(
                nbformat.read(public / "student" / master.name, as_version=4), entry
            )
            path = folder / f"{stem}-{entry['name']}.ipynb"
            nbformat.write(notebook, path)
            keys.append((stem, entry["name"]))
            submissions.append((path, autograder_zip(public)))
    start = time.monotonic()
    for key, result in zip(keys, grade_many(submissions, workers=WORKERS), strict=True):
        results[key] = result
    seconds = time.monotonic() - start
    load = os.getloadavg()[0]
    (folder / "results.json").write_text(
        json.dumps(
            {" / ".join(key): result for key, result in results.items()}, indent=1
        )
    )
    print(
        f"\ngraded {len(submissions)} submissions in {seconds:.0f} s with {WORKERS} workers "
        f"(load average {load:.1f}); slowest: "
        + ", ".join(
            f"{k[0]}/{k[1]} {r['seconds']:.0f} s"
            for k, r in sorted(
                results.items(), key=lambda kv: -kv[1].get("seconds", 0)
            )[:5]
        )
    )
    return {"results": results, "executed": folder}


def test_every_assignment_has_wrong_answers_to_test(built):
    for master in MASTERS:
        entries = wrong_answers(master.stem)
        questions = _questions(built[master.stem])
        assert entries, master.stem
        for entry in entries:
            assert set(entry) <= ENTRY_KEYS, entry
            assert {"name", "question", "source", "description", "expect"} <= set(entry)
            assert (entry["expect"], entry["source"]) in {
                ("lose", "issue"),
                ("lose", "mistake"),
                ("flag", "issue"),
                ("flag", "mistake"),
                ("keep", "honest"),
            }, entry["name"]
            assert entry.get("replace") or entry.get("add_cell"), entry["name"]
            assert entry["question"] in [*questions, None], entry
            if entry["question"] is None:
                assert entry["expect"] == "flag", entry["name"]
        names = [entry["name"] for entry in entries]
        assert len(set(names)) == len(names), master.stem
        for question in questions:
            mistakes = [
                e
                for e in entries
                if e["question"] == question and e["source"] == "mistake"
            ]
            assert len(mistakes) >= 2, (master.stem, question)


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_the_solution_scores_full_marks_twice_and_in_two_variants(master, graded):
    results = graded["results"]
    first, second = (
        results[master.stem, "solution 1"],
        results[master.stem, "solution 2"],
    )
    for label in ("solution 1", "solution 2", *(f"solution {s}" for s in SECRETS)):
        result = results[master.stem, label]
        assert not result["flagged"], (label, result["reasons"])
        assert result["total"] == result["possible"] > 0, (label, result)
    assert questions_of(first) == questions_of(second)


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_the_untouched_student_notebook_scores_nothing(master, graded):
    blank = graded["results"][master.stem, "blank"]
    assert not blank["flagged"], blank["reasons"]
    assert all(score == 0 for score in questions_of(blank).values()), blank


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_every_wrong_answer_loses_its_points_or_is_flagged(master, graded):
    # ... and every honest variation (expect="keep") keeps its question's full marks, unflagged.
    results = graded["results"]
    full = results[master.stem, "solution 1"]
    failures = []
    for entry in [*wrong_answers(master.stem, graded_only=True), *TAMPERING]:
        result = results[master.stem, entry["name"]]
        if "error" in result:
            failures.append(result["error"])
        elif entry["expect"] == "flag" and not result["flagged"]:
            failures.append(f"{entry['name']}: not flagged ({result})")
        elif entry["expect"] == "lose":
            question = entry["question"]
            if result["flagged"]:
                failures.append(f"{entry['name']}: flagged, {result['reasons']}")
            if not result[question] < full[question]:
                failures.append(
                    f"{entry['name']}: {question} scored {result[question]} of {full[question]}"
                )
        elif entry["expect"] == "keep":
            question = entry["question"]
            if result["flagged"] or result[question] != full[question]:
                failures.append(
                    f"{entry['name']}, an honest variation: {question} scored "
                    f"{result[question]} of {full[question]}, flagged: {result['reasons']}"
                )
    assert not failures, "\n".join(failures)
    # The first attack does give the untouched notebook full marks: the flag is what stops it.
    patched = results[master.stem, "tamper-run-doctest"]
    assert patched["total"] == patched["possible"], patched


def _markers(folder: Path, name: str) -> dict[str, set[int]]:
    """The values of the VARIANT and HIDDEN lines in a build's solution notebook and hidden tests."""
    texts = [
        cell.source
        for cell in nbformat.read(folder / "autograder" / name, as_version=4).cells
        if cell.cell_type == "code"
    ]
    with zipfile.ZipFile(autograder_zip(folder)) as archive:
        texts += [
            archive.read(n).decode()
            for n in archive.namelist()
            if n.startswith("tests/") and n.endswith(".py")
        ]
    found: dict[str, set[int]] = {}
    for text in texts:
        for marker, value in re.findall(r"\b(VARIANT|HIDDEN) = (\d+)\b", text):
            found.setdefault(marker, set()).add(int(value))
    return found


def _printed(executed: Path, question: str) -> str:
    """What the cells of ``question`` (those after the previous check cell) printed."""
    cells = nbformat.read(executed, as_version=4).cells
    check = next(
        i
        for i, c in enumerate(cells)
        if c.source.strip() == f'grader.check("{question}")'
    )
    start = max(
        (
            i
            for i, c in enumerate(cells[:check])
            if c.source.startswith("grader.check(")
        ),
        default=0,
    )
    return "".join(
        output.get("text", "")
        for cell in cells[start + 1 : check]
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_two_secrets_give_two_variants(master, variants, graded):
    alpha, beta = (_markers(variants[s][master.stem], master.name) for s in SECRETS)
    assert "VARIANT" in alpha and set(alpha) == set(beta)
    for marker in alpha:
        assert (
            0 not in alpha[marker] | beta[marker] and alpha[marker] != beta[marker]
        ), marker
    experiments = {
        e["question"] for e in wrong_answers(master.stem) if e.get("secret_only")
    }
    assert experiments, "no secret_only entry names an experiment question"
    for question in sorted(experiments):
        printed = [
            _printed(graded["executed"] / f"{master.stem}-{s}-executed.ipynb", question)
            for s in SECRETS
        ]
        assert re.search(r"\d", printed[0]), (question, printed[0])
        assert printed[0] != printed[1], question


def _chapter_install_cell() -> str:
    chapter = nbformat.read(
        ROOT / "book" / "part1_multitask" / "01_why_several_tasks.ipynb", as_version=4
    )
    return next(c.source for c in chapter.cells if c.cell_type == "code")


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_a_renamed_student_notebook_runs_grader_check(master, built, tmp_path):
    from nbclient import NotebookClient

    student = built[master.stem] / "student" / master.name
    code = [
        c for c in nbformat.read(student, as_version=4).cells if c.cell_type == "code"
    ]
    assert code[0].source == _chapter_install_cell()
    assert code[1].source.startswith("# Initialize Otter")
    # A browser's copy of a download, beside another notebook (otter cannot guess which one is open).
    copy = tmp_path / f"{master.stem} (1).ipynb"
    shutil.copy(student, copy)
    shutil.copy(student, tmp_path / "another.ipynb")
    notebook = nbformat.read(copy, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    checks = [
        c
        for c in notebook.cells
        if c.cell_type == "code"
        and ("grader." in c.source or "Initialize Otter" in c.source)
    ]
    assert len(checks) > 2
    for cell in checks:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, (cell.source[:60], errors[0].ename, errors[0].evalue)
    results = [
        o["data"]["text/plain"]
        for c in checks
        if c.source.startswith("grader.check(")
        for o in c.outputs
        if o.output_type == "execute_result"
    ]
    assert results and all(" results:" in text or "passed" in text for text in results)


def test_the_student_notebook_shows_no_long_code_cell(built):
    # The book's rule for what a reader sees (tests/test_protocol.py): a code cell longer than 30 lines, here
    # the grader's cell with the public tests, opens collapsed in Jupyter and Colab.
    for master in MASTERS:
        notebook = nbformat.read(
            built[master.stem] / "student" / master.name, as_version=4
        )
        for number, cell in enumerate(notebook.cells):
            if cell.cell_type != "code" or len(cell.source.splitlines()) <= 30:
                continue
            hidden = (
                cell.metadata.get("jupyter", {}).get("source_hidden") is True
                and cell.metadata.get("cellView") == "form"
                and "hide-input" in cell.metadata.get("tags", [])
            )
            assert hidden, (master.stem, number, len(cell.source.splitlines()))


def test_grading_a_folder_writes_a_score_table(built, tmp_path):
    name = MASTERS[0].stem
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    student = built[name] / "student" / MASTERS[0].name
    shutil.copy(student, submissions / "ada.ipynb")
    shutil.copy(student, submissions / f"{name} (1).ipynb")
    csv_path = tmp_path / "scores.csv"
    rows = grade_folder(
        name, submissions, csv_path, built=built[name].parent, workers=WORKERS
    )
    assert [row["submission"] for row in rows] == [f"{name} (1)", "ada"]
    header, *lines = csv_path.read_text().splitlines()
    assert header.startswith("submission,status,total,possible,q1,")
    assert header.endswith(",measured_total,seconds")
    for line in lines:
        assert ",clean,0.0," in line, line


def test_the_book_links_every_student_notebook():
    page = (ROOT / "book" / "assignments" / "index.md").read_text()
    for master in MASTERS:
        assert f"downloads/{master.name}" in page


def test_the_wrong_answer_files_are_plain_data():
    for path in sorted(WRONG_ANSWERS.glob("*.py")):
        tree = ast.parse(path.read_text())
        assert not [
            n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
        ], path
