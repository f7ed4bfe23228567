"""The grading command itself, on a tiny assignment built in a temporary folder: an honest submission gets
otter's own scores and is not flagged, the student notebook works under another name, and each way of
talking the grader round that we know of (the issue's three, and variants that dodge the static scan) is
flagged.

The tiny assignment has no Keras in it, so each grading takes seconds; ``tests/test_assignments.py`` grades
the real assignments with the same functions.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from tools.grading import (
    autograder_zip,
    build,
    grade_folder,
    grade_many,
    grade_one,
    questions_of,
    scan_notebook,
)
from tools.grading.build import OTTER_INIT
from tools.grading.grade import _ResultsUnpickler

ROOT = Path(__file__).resolve().parent.parent
NAME = "00_tiny"


def _install_cell() -> str:
    chapter = nbformat.read(
        ROOT / "book" / "part1_multitask" / "01_why_several_tasks.ipynb", as_version=4
    )
    return next(c.source for c in chapter.cells if c.cell_type == "code")


def _master() -> nbformat.NotebookNode:
    raw, code, markdown = (
        nbformat.v4.new_raw_cell,
        nbformat.v4.new_code_cell,
        nbformat.v4.new_markdown_cell,
    )
    config = (
        f"# ASSIGNMENT CONFIG\nname: {NAME}\nexport_cell: false\ncheck_all_cell: true\n"
        "generate: true\ntests:\n  files: false\n  ok_format: true"
    )
    return nbformat.v4.new_notebook(
        cells=[
            raw(config),
            markdown("# A tiny assignment"),
            code(_install_cell()),
            code(
                "import numpy as np\n\n"
                "VARIANT = 0  # the course's variant (set by the build; do not change)\n"
                "DATA = np.arange(5.0) + VARIANT"
            ),
            raw("# BEGIN QUESTION\nname: q1\npoints: [0, 1, 1]"),
            markdown("**Question 1.** Write `square(x)`."),
            raw("# BEGIN SOLUTION"),
            code(
                "def square(x):\n    # BEGIN SOLUTION\n    return x * x\n    # END SOLUTION"
            ),
            raw("# END SOLUTION"),
            raw("# BEGIN TESTS"),
            code("assert square(2) == 4"),
            code(
                "# HIDDEN\nimport numpy as np\n\n"
                "np.testing.assert_allclose(square(DATA), DATA**2)"
            ),
            code("# HIDDEN\nassert all(square(v) == v * v for v in (1.5, -2.0, 3.0))"),
            raw("# END TESTS"),
            raw("# END QUESTION"),
            raw("# BEGIN QUESTION\nname: q2\npoints: [0, 2]"),
            markdown("**Question 2.** Write `mean_square(values)`."),
            raw("# BEGIN SOLUTION"),
            code(
                "def mean_square(values):\n    # BEGIN SOLUTION\n"
                "    return float(np.mean(square(np.asarray(values))))\n    # END SOLUTION"
            ),
            raw("# END SOLUTION"),
            raw("# BEGIN TESTS"),
            code("assert mean_square([1, 2]) == 2.5"),
            code(
                "# HIDDEN\nimport numpy as np\n\n"
                "HIDDEN = 0  # the hidden tests' variant (set by the build)\n"
                "_ref_values = np.random.default_rng(HIDDEN).normal(size=10)\n"
                "assert abs(mean_square(_ref_values) - float(np.mean(_ref_values**2))) < 1e-9"
            ),
            raw("# END TESTS"),
            raw("# END QUESTION"),
            markdown("The end."),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    master = folder / "masters" / f"{NAME}.ipynb"
    master.parent.mkdir()
    nbformat.write(_master(), master)
    built = build(master, folder / "built")
    return {
        "built": built,
        "zip": autograder_zip(built),
        "student": built / "student" / f"{NAME}.ipynb",
        "solution": built / "autograder" / f"{NAME}.ipynb",
        "folder": folder,
    }


def _with_cell(notebook: Path, code: str, after: str, target: Path) -> Path:
    """A copy of ``notebook`` with a code cell inserted after the first cell containing ``after``."""
    copy = nbformat.read(notebook, as_version=4)
    index = next(i for i, cell in enumerate(copy.cells) if after in cell.source)
    copy.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    nbformat.write(copy, target)
    return target


def test_the_student_notebook_starts_with_the_install_cell_and_holds_only_public_tests(
    tiny,
):
    student = nbformat.read(tiny["student"], as_version=4)
    code = [cell for cell in student.cells if cell.cell_type == "code"]
    assert code[0].source == _install_cell()
    assert code[1].source.startswith("# Initialize Otter")
    assert code[1].metadata.get("editable") is False
    assert (
        "square(2) == 4" in code[1].source and "mean_square([1, 2])" in code[1].source
    )
    assert "HIDDEN" not in code[1].source and "assert_allclose" not in code[1].source
    solution = nbformat.read(tiny["solution"], as_version=4)
    assert [c.source for c in solution.cells if c.cell_type == "code"][1] == code[
        1
    ].source


def test_grader_check_works_in_a_renamed_copy(tiny, tmp_path):
    from nbclient import NotebookClient

    copy = tmp_path / f"{NAME} (1).ipynb"
    shutil.copy(tiny["solution"], copy)
    shutil.copy(tiny["student"], tmp_path / "another notebook.ipynb")
    notebook = nbformat.read(copy, as_version=4)
    NotebookClient(
        notebook, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    checks = [c for c in notebook.cells if c.source.startswith("grader.check(")]
    assert len(checks) == 2
    for cell in checks:
        text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        assert "passed" in text, text


def test_an_honest_submission_gets_otters_scores_and_is_not_flagged(tiny, tmp_path):
    from otter.api import grade_submission

    wrong = tmp_path / "wrong.ipynb"
    notebook = nbformat.read(tiny["solution"], as_version=4)
    for cell in notebook.cells:
        cell.source = cell.source.replace("return x * x", "return x * abs(x)")
    nbformat.write(notebook, wrong)
    submissions = [tiny["solution"], tiny["student"], wrong]
    results = grade_many([(s, tiny["zip"]) for s in submissions], workers=2)
    for submission, result in zip(submissions, results, strict=True):
        assert not result["flagged"], (submission.name, result["reasons"])
        otter = grade_submission(str(submission), str(tiny["zip"]), quiet=True)
        assert questions_of(result) == {
            name: float(test.score) for name, test in otter.results.items()
        }
        assert (result["total"], result["possible"]) == (otter.total, otter.possible)
    assert [r["total"] for r in results] == [4.0, 0.0, 1.0]


#: Ways to talk the grader round, each a cell added after the setup cell of the (blank) student notebook:
#: (name, code, whether the static scan alone should catch it).
ATTACKS = [
    (
        "issue: patch run_doctest",
        "import otter.test_files.ok_test as ok\n"
        "ok.run_doctest = lambda name, text, env: (True, '')",
        True,
    ),
    (
        "issue: patch np.testing.assert_allclose",
        "np.testing.assert_allclose = lambda *args, **kwargs: None",
        True,
    ),
    (
        "issue: rewrite ./tests/q*.py",
        "import glob\n\nfor path in glob.glob('tests/q*.py'):\n"
        "    with open(path, 'w') as handle:\n"
        "        handle.write(\"OK_FORMAT = True\\ntest = {'name': 'x', 'points': 0, 'suites': []}\")",
        True,
    ),
    (
        "__import__ and setattr",
        "setattr(__import__('ot' + 'ter').test_files.ok_test, 'run_doctest', lambda *a: (True, ''))",
        True,
    ),
    (
        "doctest's runner through a function",
        "import doctest\n\n\ndef runner():\n    return doctest.DocTestRunner\n\n\n"
        "runner().run = lambda self, test, *args, **kwargs: doctest.TestResults(0, 0)",
        False,
    ),
    (
        "numpy.testing through a function",
        "def testing():\n    return np.testing\n\n\n"
        "testing().assert_allclose = lambda *args, **kwargs: None",
        False,
    ),
    (
        "tests rewritten by np.savetxt, the path built from pieces",
        "import glob\nimport os\n\n"
        "for path in glob.glob(os.path.join('te' + 'sts', '*.py')):\n"
        "    lines = ['OK_FORMAT = True', \"test = {'name': 'x', 'points': 0, 'suites': []}\"]\n"
        "    np.savetxt(path, np.array(lines), fmt='%s')",
        False,
    ),
    (
        "the builtin all replaced from inside a function",
        "def setup():\n    global all\n    all = lambda *args: True\n\n\nsetup()",
        False,
    ),
    (
        "otter's tests folder pointed elsewhere through the init cell's helper",
        "fake = _start_otter({})\n\n\ndef kind(x):\n    return type(x)\n\n\n"
        "kind(fake)._tests_dir_override = '/nonexistent'",
        False,
    ),
    (
        "a file left in the grading folder",
        "np.save('answers.npy', np.zeros(3))",
        False,
    ),
    (
        "a shell command",
        "!echo hello > /dev/null",
        True,
    ),
]


def test_each_attack_is_flagged(tiny, tmp_path):
    submissions = [
        _with_cell(tiny["student"], code, "VARIANT = ", tmp_path / f"attack{i}.ipynb")
        for i, (_, code, _) in enumerate(ATTACKS)
    ]
    results = grade_many([(s, tiny["zip"]) for s in submissions], workers=2)
    allowed = {
        c.source
        for c in nbformat.read(tiny["student"], as_version=4).cells
        if c.cell_type == "code"
    }
    for (name, _, static), submission, result in zip(
        ATTACKS, submissions, results, strict=True
    ):
        assert result["flagged"], (name, result)
        scanned = scan_notebook(nbformat.read(submission, as_version=4), allowed)
        assert bool(scanned) == static, (name, scanned)
        if (
            not static
        ):  # caught while it ran: by the checks in the kernel or the file hashes
            assert result["reasons"], name
    # The first attack really changes the score: the checks in the kernel see it.
    assert results[0]["total"] == results[0]["possible"] == 4.0
    assert any("run_doctest" in reason for reason in results[0]["reasons"])


def test_the_score_table_reports_a_flagged_row_without_its_total(tiny, tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(tiny["solution"], folder / "ada.ipynb")
    _with_cell(tiny["solution"], ATTACKS[1][1], "VARIANT = ", folder / "bob.ipynb")
    csv_path = tmp_path / "scores.csv"
    rows = grade_folder(NAME, folder, csv_path, built=tiny["built"].parent, workers=2)
    assert [row["submission"] for row in rows] == ["ada", "bob"]
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        table = list(reader)
    assert reader.fieldnames == [
        "submission",
        "status",
        "total",
        "possible",
        "q1",
        "q2",
        "measured_total",
        "seconds",
    ]
    ada, bob = table
    assert (ada["status"], ada["total"], ada["possible"]) == ("clean", "4.0", "4.0")
    assert (ada["q1"], ada["q2"], ada["measured_total"]) == ("2.0", "2.0", "4.0")
    assert bob["status"].startswith("flagged: ") and "numpy.testing" in bob["status"]
    assert (bob["total"], bob["measured_total"]) == ("", "4.0")
    assert float(ada["seconds"]) > 0


def test_otters_own_init_cell_is_recognised():
    assert OTTER_INIT.match(
        '# Initialize Otter\nimport otter\ngrader = otter.Notebook("a.ipynb")'
    )
    assert not OTTER_INIT.match(
        '# Initialize Otter\nimport otter\ngrader = otter.Notebook("a.ipynb")\nimport os'
    )


@pytest.mark.parametrize(
    "code",
    [
        "self_made = {}\nself_made['a'] = 1",
        "class Layer:\n    def __init__(self):\n        self.units = 3\n        setattr(self, 'b', 1)",
        "import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'",
        "with open('data.csv') as handle:\n    text = handle.read()",
        "import keras\nlayer = keras.layers.Dense(3)\nlayer.trainable = False",
        "name = 'a-b'.replace('-', '_')",
        "%time total = sum([1, 2])",
        "%%time\ntotal = sum([1, 2])",
        "import numpy as np\nvalues = np.testing.assert_allclose(1.0, 1.0)",
        "grader.check('q1')",
        "def f(values):\n    sum = 0\n    for v in values:\n        sum += v\n    return sum",
    ],
)
def test_the_static_scan_leaves_ordinary_code_alone(code):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    assert scan_notebook(notebook) == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("import otter", "imports otter"),
        ("from otter.test_files import ok_test", "imports from otter.test_files"),
        ("import sys\nsys.modules['numpy'] = None", "sys.modules"),
        ("import builtins\nbuiltins.all = any", "imports builtins"),
        (
            "import numpy as np\nt = np.testing\nt.assert_allclose = print",
            "numpy.testing",
        ),
        ("import numpy as np\ndel np.testing.assert_allclose", "deletes numpy.testing"),
        ("import numpy as np\nsetattr(np, 'allclose', print)", "calls setattr"),
        ("exec('x = 1')", "uses exec"),
        ("f = lambda: 0\ncode = f.__code__", "__code__"),
        ("open('notes.txt', 'w').write('x')", "opens a file for writing"),
        ("from pathlib import Path\nPath('x').write_text('y')", "write_text"),
        ("import os\nos.remove('x')", "uses os.remove"),
        ("import subprocess", "imports subprocess"),
        ("!ls", "shell command"),
        ("%run other.py", "magic %run"),
        ("sum = 3", "binds the builtin name(s) sum"),
        ("from numpy import *", "import *"),
        ("g = grader", "grader object"),
        ("grader.check('q1')\nx = 1", "beside grader.check"),
        ("path = 'tests/q1.py'", "grader's files"),
        ("import inspect\nframe = inspect.currentframe()", "inspect.currentframe"),
        ("print(_ih)", "uses _ih"),
    ],
)
def test_the_static_scan_flags(code, reason):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    found = scan_notebook(notebook)
    assert any(reason in text for text in found), found


def test_the_results_are_loaded_without_running_foreign_code():
    import io
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="results hold"):
        _ResultsUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()
    assert _ResultsUnpickler(io.BytesIO(pickle.dumps({"a": [1.0]}))).load() == {
        "a": [1.0]
    }


def test_grading_records_the_executed_notebook_without_the_graders_checks(
    tiny, tmp_path
):
    executed = tmp_path / "executed.ipynb"
    result = grade_one(tiny["solution"], tiny["zip"], executed=executed)
    assert result["total"] == 4.0 and not result["flagged"], result
    notebook = nbformat.read(executed, as_version=4)
    sources = [cell.source for cell in notebook.cells]
    assert not any(s.startswith("def _grader_check_") for s in sources)
    assert any("def square" in s for s in sources)
    assert json.dumps(result)  # plain data
