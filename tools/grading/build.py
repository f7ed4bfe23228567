"""Build the assignments from their master notebooks with ``otter assign``.

A master (``assignments/NN_*.ipynb``) holds the questions, solutions and tests. A build writes the student
notebook (its init cell rewritten by :func:`make_portable` so that ``grader.check`` works on Colab and in a
renamed copy) and the autograder folder. A course secret sets the masters' ``VARIANT = 0`` and
``HIDDEN = 0`` lines (:func:`with_secret`), so each course grades against a variant of its own.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MASTERS = ROOT / "assignments"
OUTPUT = ROOT / "_build" / "assignments"
DOWNLOADS = ROOT / "book" / "assignments" / "downloads"


def masters() -> list[Path]:
    """The master notebooks, in order."""
    return sorted(MASTERS.glob("[0-9][0-9]_*.ipynb"))


#: Marker lines in a master's code cells that the build sets from the course secret: ``VARIANT`` (the
#: data draws and constants students see) and ``HIDDEN`` (the hidden tests' own inputs). Without a secret
#: both stay 0: the public build, whose numbers anyone can read in the repository.
MARKER = re.compile(r"^(VARIANT|HIDDEN) = 0(  # .*)$", re.MULTILINE)
#: The environment variable that holds the course secret when ``--secret`` is not given.
SECRET_VARIABLE = "MTL_COURSE_SECRET"


def variant(secret: str | None, assignment: str, marker: str) -> int:
    """The value of ``marker`` (``"VARIANT"`` or ``"HIDDEN"``) in ``assignment`` for a course secret.

    0 without a secret; otherwise an integer from 1 to 9999 drawn from a hash of the secret, the
    assignment and the marker, so each course, assignment and purpose gets its own.
    """
    if not secret:
        return 0
    digest = hashlib.sha256(f"{secret}\n{assignment}\n{marker}".encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % 9999


def with_secret(master: Path, secret: str | None, folder: Path) -> Path:
    """A copy of ``master`` in ``folder``, its ``VARIANT = 0`` and ``HIDDEN = 0`` lines set for ``secret``."""
    import nbformat

    notebook = nbformat.read(master, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if secret and not any(MARKER.search(cell.source) for cell in code):
        raise ValueError(
            f"{master.name} has no VARIANT or HIDDEN line for a secret to set."
        )
    for cell in code:
        cell.source = MARKER.sub(
            lambda m: (
                f"{m.group(1)} = {variant(secret, master.stem, m.group(1))}{m.group(2)}"
            ),
            cell.source,
        )
    copy = folder / master.name
    nbformat.write(notebook, copy)
    return copy


#: The first line of otter's init cell, and of the one the build writes in its place.
INIT_MARK = "# Initialize Otter"
#: otter's own init cell: it names the notebook, whose metadata holds the public tests.
OTTER_INIT = re.compile(
    r"# Initialize Otter\nimport otter\ngrader = otter\.Notebook\(\"[^\"\n]*\"\)\Z"
)

INIT_TEMPLATE = """\
# Initialize Otter. This cell holds the public tests itself, so that grader.check works on Colab
# and in a copy of this notebook saved under another name. It installs otter-grader if missing.
def _start_otter(public_tests):
    import importlib.util
    import pathlib
    import subprocess
    import sys
    import tempfile

    if importlib.util.find_spec("otter") is None:
        package = "otter-grader=={version}"
        command = [sys.executable, "-m", "pip", "install", "--quiet", package]
        subprocess.run(command, check=True)
        importlib.invalidate_caches()
    import otter

    folder = pathlib.Path(tempfile.mkdtemp(prefix="otter-tests-"))
    for question, test in public_tests.items():
        (folder / f"{{question}}.py").write_text(f"OK_FORMAT = True\\n\\ntest = {{test!r}}\\n")
    return otter.Notebook(tests_dir=str(folder))


grader = _start_otter(
{tests}
)
"""


def init_cell_source(public_tests: dict) -> str:
    """The init cell the build writes into the student notebook, for these public tests."""
    import pprint

    import otter

    tests = textwrap.indent(
        pprint.pformat(public_tests, width=96, sort_dicts=True), "    "
    )
    return INIT_TEMPLATE.format(version=otter.__version__, tests=tests).rstrip("\n")


def _is_install_cell(source: str) -> bool:
    return "pip" in source and "install" in source


def make_portable(notebook_path: Path, public_tests: dict) -> None:
    """Rewrite otter's init cell of ``notebook_path`` to hold ``public_tests``, after the install cell.

    otter's cell, ``grader = otter.Notebook("<name>.ipynb")``, reads the public tests from the
    notebook's metadata by file name (the assignment config's ``tests: files: false``): a copy
    saved as ``"<name> (1).ipynb"`` fails at that line, and on Colab, where the notebook is not a
    file in the working folder, otter refuses metadata tests altogether. The cell written here
    writes the tests to a folder of its own and points ``otter.Notebook`` at it. During grading
    otter ignores that folder (its grading mode uses the autograder's tests), so grading is
    unchanged. The cell moves after the master's first code cell when that is the install cell,
    so that a student notebook starts with the same install cell as the chapters, and it opens
    collapsed.
    """
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    cells = notebook.cells
    index = next(
        (
            i
            for i, cell in enumerate(cells)
            if cell.cell_type == "code" and cell.source.startswith(INIT_MARK)
        ),
        None,
    )
    if index is None:
        raise RuntimeError(f"{notebook_path.name} has no otter init cell")
    init = cells.pop(index)
    init.source = init_cell_source(public_tests)
    init.outputs, init.execution_count = [], None
    # The public tests make the cell long: it opens collapsed (JupyterLab and Notebook read
    # source_hidden, Colab cellView, the book's tools the tag); a click shows it whole.
    init.metadata["jupyter"] = {"source_hidden": True}
    init.metadata["cellView"] = "form"
    init.metadata["tags"] = ["hide-input"]
    first = next((i for i, cell in enumerate(cells) if cell.cell_type == "code"), None)
    at = index
    if first is not None and _is_install_cell(cells[first].source):
        at = first + 1
    cells.insert(at, init)
    nbformat.write(notebook, notebook_path)


def build(
    master: Path,
    output: Path = OUTPUT,
    secret: str | None = None,
    *,
    run_tests: bool = True,
) -> Path:
    """Run ``otter assign`` on one master notebook, set for the course ``secret``; return its output folder.

    ``otter assign`` also runs the solution notebook against every test (public and hidden), so a
    master whose solutions fail its own tests (in this variant) does not build; ``run_tests=False``
    skips that run (for a caller that grades the solution itself). The student and solution
    notebooks then get the init cell of :func:`make_portable`.
    """
    import nbformat

    master, output = master.resolve(), output.resolve()
    target = output / master.stem
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=master.parent, prefix=".build-") as folder:
        source = with_secret(master, secret, Path(folder))
        command = [sys.executable, "-m", "otter", "assign", str(source), str(target)]
        result = subprocess.run(
            command + ([] if run_tests else ["--no-run-tests"]),
            cwd=master.parent,
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"otter assign failed for {master.name}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    student = target / "student" / master.name
    public = nbformat.read(student, as_version=4).metadata["otter"]["tests"]
    for notebook in (student, target / "autograder" / master.name):
        make_portable(notebook, public)
    return target


def build_all(
    output: Path = OUTPUT,
    downloads: Path | None = DOWNLOADS,
    secret: str | None = None,
    *,
    run_tests: bool = True,
) -> dict[str, Path]:
    """Build every assignment into ``output``; without a secret, copy each student notebook to ``downloads``.

    Returns each assignment's output folder, by name. ``tests/test_assignments.py`` builds through this
    function too, so that after ``pytest`` the book's download links find the notebooks it tested. A
    course's variant (``secret``) is never copied into the book.
    """
    built = {}
    for master in masters():
        target = build(master, output, secret, run_tests=run_tests)
        if downloads is not None and not secret:
            downloads.mkdir(parents=True, exist_ok=True)
            shutil.copy(target / "student" / master.name, downloads / master.name)
        built[master.stem] = target
    return built


def autograder_zip(folder: Path) -> Path:
    """The autograder zip that ``otter assign`` wrote into ``folder/autograder``."""
    zips = sorted((folder / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise RuntimeError(
            f"expected one autograder zip in {folder / 'autograder'}, found {zips}"
        )
    return zips[0]
