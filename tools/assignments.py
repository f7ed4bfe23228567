"""Build the assignments with otter-grader, and grade a folder of submissions into a CSV.

Run from the repository root::

    python tools/assignments.py build
    python tools/assignments.py grade 01_multitask_baselines submissions/ --csv scores.csv

``build`` runs ``otter assign`` on every master notebook in ``assignments/`` (they hold the
solutions and the hidden tests, so they live outside ``book/``). For each one it writes, under
``_build/assignments/<name>/``, the ``student/`` notebook to hand out and the ``autograder/`` folder
with the autograder zip and a solution notebook; and it copies the student notebook to
``book/assignments/downloads/`` for the book's download links. ``grade`` grades every ``.ipynb`` in a
folder with that assignment's autograder zip, on this machine (``otter.api.grade_submission``: no
Docker, no server), and writes one row per submission: each question's score, the total and the
points possible.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def build(master: Path, output: Path = OUTPUT, secret: str | None = None) -> Path:
    """Run ``otter assign`` on one master notebook, set for the course ``secret``; return its output folder.

    ``otter assign`` also runs the solution notebook against every test, public and hidden, so a master
    whose solutions fail its own tests (in this variant) does not build.
    """
    master, output = master.resolve(), output.resolve()
    target = output / master.stem
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=master.parent, prefix=".build-") as folder:
        source = with_secret(master, secret, Path(folder))
        result = subprocess.run(
            [sys.executable, "-m", "otter", "assign", str(source), str(target)],
            cwd=master.parent,
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"otter assign failed for {master.name}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return target


def build_all(
    output: Path = OUTPUT, downloads: Path | None = DOWNLOADS, secret: str | None = None
) -> dict[str, Path]:
    """Build every assignment into ``output``; without a secret, copy each student notebook to ``downloads``.

    Returns each assignment's output folder, by name. ``tests/test_assignments.py`` builds through this
    function too, so that after ``pytest`` the book's download links find the notebooks it tested. A
    course's variant (``secret``) is never copied into the book.
    """
    built = {}
    for master in masters():
        target = build(master, output, secret)
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


def grade_one(notebook: Path, zip_path: Path) -> dict[str, float]:
    """Grade one submission locally; return ``{question: score}`` plus ``total`` and ``possible``."""
    from otter.api import grade_submission

    results = grade_submission(str(notebook), str(zip_path), quiet=True)
    scores = {name: float(result.score) for name, result in results.results.items()}
    scores["total"] = float(results.total)
    scores["possible"] = float(results.possible)
    return scores


def grade_folder(
    assignment: str, folder: Path, csv_path: Path | None = None
) -> list[dict]:
    """Grade every notebook in ``folder`` with the built autograder of ``assignment``."""
    built = OUTPUT / assignment
    if not built.exists():
        raise SystemExit(
            f"{assignment} is not built; run: python tools/assignments.py build"
        )
    zip_path = autograder_zip(built)
    rows = []
    for notebook in sorted(Path(folder).glob("*.ipynb")):
        rows.append({"submission": notebook.stem, **grade_one(notebook, zip_path)})
    if csv_path is not None and rows:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with open(csv_path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser(
        "build", help="build every assignment with otter assign"
    )
    build_parser.add_argument(
        "--secret",
        default=os.environ.get(SECRET_VARIABLE),
        help=f"the course secret that sets the data draws and hidden inputs (default: ${SECRET_VARIABLE}; "
        "none: the public variant)",
    )
    grade = commands.add_parser("grade", help="grade a folder of submitted notebooks")
    grade.add_argument(
        "assignment", help="the master notebook's name, e.g. 01_multitask_baselines"
    )
    grade.add_argument("folder", type=Path, help="a folder of submitted .ipynb files")
    grade.add_argument(
        "--csv", type=Path, default=Path("scores.csv"), help="where to write the table"
    )
    arguments = parser.parse_args(argv)
    if arguments.command == "build":
        for name, target in build_all(secret=arguments.secret).items():
            print(f"built {name}: {target.relative_to(ROOT)}")
    else:
        rows = grade_folder(arguments.assignment, arguments.folder, arguments.csv)
        print(f"graded {len(rows)} submissions into {arguments.csv}")


if __name__ == "__main__":
    main()
