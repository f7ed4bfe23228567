"""Build the assignments with otter-grader, and grade a folder of submissions into a CSV.

Run from the repository root::

    python tools/assignments.py build [--secret S] [--output DIR]
    python tools/assignments.py grade 01_multitask_baselines submissions/ --csv scores.csv

``build`` runs ``otter assign`` on every master notebook in ``assignments/`` (they hold the solutions
and the hidden tests; the repository is public, so anyone can read them). For each one it writes,
under ``_build/assignments/<name>/`` (or ``--output``), the ``student/`` notebook to hand out and the
``autograder/`` folder with the autograder zip and a solution notebook; without a course secret it
copies the student notebook to ``book/assignments/downloads/`` for the book's download links. The
student notebook's first cells are the chapters' install cell and an otter init cell that holds the
public tests itself, so ``grader.check`` works on Colab and in a copy saved under another name.

``grade`` grades every ``.ipynb`` in a folder with that assignment's autograder zip, on this machine,
as otter's local runner does (the notebook is executed in a fresh kernel, the tests in that same
kernel), and checks the run for tampering: a static scan of the code cells, hashes of the autograder's
files and the grading folder before and after, and checks run inside the kernel before and after each
test whose observations the grader compares with its own. One row per submission: each question's
score, the total and the points possible, a status (``clean`` or ``flagged: <reasons>``) and the
seconds grading took. A flagged row's ``total`` is left empty: its score is not a clean one.

The work is done by the package ``tools.grading`` (build, scan, kernel, grade).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.grading import OUTPUT, SECRET_VARIABLE, build_all, grade_folder


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
    build_parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to build (default: _build/assignments; with a secret, choose a private folder)",
    )
    grade = commands.add_parser("grade", help="grade a folder of submitted notebooks")
    grade.add_argument(
        "assignment", help="the master notebook's name, e.g. 01_multitask_baselines"
    )
    grade.add_argument("folder", type=Path, help="a folder of submitted .ipynb files")
    grade.add_argument(
        "--csv", type=Path, default=Path("scores.csv"), help="where to write the table"
    )
    grade.add_argument(
        "--built",
        type=Path,
        default=None,
        help="the folder the build wrote (default: _build/assignments)",
    )
    grade.add_argument(
        "--workers", type=int, default=1, help="submissions graded at once (default 1)"
    )
    grade.add_argument(
        "--timeout", type=int, default=600, help="seconds a cell may run (default 600)"
    )
    arguments = parser.parse_args(argv)
    if arguments.command == "build":
        output = arguments.output or OUTPUT
        for name, target in build_all(output=output, secret=arguments.secret).items():
            print(f"built {name}: {target}")
    else:
        rows = grade_folder(
            arguments.assignment,
            arguments.folder,
            arguments.csv,
            built=arguments.built,
            workers=arguments.workers,
            timeout=arguments.timeout,
        )
        flagged = sum(row["flagged"] for row in rows)
        print(
            f"graded {len(rows)} submissions into {arguments.csv} ({flagged} flagged)"
        )


if __name__ == "__main__":
    main()
