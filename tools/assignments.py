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
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MASTERS = ROOT / "assignments"
OUTPUT = ROOT / "_build" / "assignments"
DOWNLOADS = ROOT / "book" / "assignments" / "downloads"


def masters() -> list[Path]:
    """The master notebooks, in order."""
    return sorted(MASTERS.glob("[0-9][0-9]_*.ipynb"))


def build(master: Path, output: Path = OUTPUT) -> Path:
    """Run ``otter assign`` on one master notebook; return its output folder.

    ``otter assign`` also runs the solution notebook against every test, public and hidden, so a master
    whose solutions fail its own tests does not build.
    """
    master, output = master.resolve(), output.resolve()
    target = output / master.stem
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "otter", "assign", str(master), str(target)],
        cwd=master.parent,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"otter assign failed for {master.name}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return target


def build_all(output: Path = OUTPUT, downloads: Path = DOWNLOADS) -> dict[str, Path]:
    """Build every assignment into ``output`` and copy each student notebook to ``downloads``.

    Returns each assignment's output folder, by name. ``tests/test_assignments.py`` builds through this
    function too, so that after ``pytest`` the book's download links find the notebooks it tested.
    """
    downloads.mkdir(parents=True, exist_ok=True)
    built = {}
    for master in masters():
        target = build(master, output)
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
    commands.add_parser("build", help="build every assignment with otter assign")
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
        for name, target in build_all().items():
            print(f"built {name}: {target.relative_to(ROOT)}")
    else:
        rows = grade_folder(arguments.assignment, arguments.folder, arguments.csv)
        print(f"graded {len(rows)} submissions into {arguments.csv}")


if __name__ == "__main__":
    main()
