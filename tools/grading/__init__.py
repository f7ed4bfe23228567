"""Build the book's otter-grader assignments and grade submissions so that tampering is caught.

``python tools/assignments.py`` is the command line; this package does the work:

- :mod:`tools.grading.build`: ``otter assign`` on each master, the portable init cell, the course secret;
- :mod:`tools.grading.scan`: the static scan of a submission's code cells;
- :mod:`tools.grading.kernel`: the checks the grader runs inside the submission's kernel;
- :mod:`tools.grading.grade`: grading one submission or a folder, the judgement and the CSV.
"""

from tools.grading.build import (
    OUTPUT,
    SECRET_VARIABLE,
    autograder_zip,
    build,
    build_all,
    masters,
    variant,
)
from tools.grading.grade import (
    grade_folder,
    grade_many,
    grade_one,
    questions_of,
    status_of,
    write_csv,
)
from tools.grading.scan import scan_notebook

__all__ = [
    "OUTPUT",
    "SECRET_VARIABLE",
    "autograder_zip",
    "build",
    "build_all",
    "grade_folder",
    "grade_many",
    "grade_one",
    "masters",
    "questions_of",
    "scan_notebook",
    "status_of",
    "variant",
    "write_csv",
]
