"""Grading, part 3: the run itself and the judgement.

:func:`grade_one` copies a submission beside the autograder's files in a fresh folder, scans it
(:mod:`tools.grading.scan`), executes it in a fresh kernel with otter's grading cells and the kernel checks
(:mod:`tools.grading.kernel`), hashes the grader's files and the folder before and after, loads otter's
results without unpickling anything but otter's result classes, and returns the scores with the reasons to
flag. :func:`grade_folder` grades a folder of submissions into a CSV (:func:`write_csv`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import re
import secrets
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from tools.grading.build import OUTPUT, SECRET_VARIABLE, autograder_zip
from tools.grading.kernel import (
    KERNEL_BUILTINS,
    KERNEL_CHANGES,
    KERNEL_HOOK_MODULES,
    guard_cell,
    reference_fingerprints,
)
from tools.grading.scan import scan_notebook


def _hash_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root``, relative path to content hash."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() or path.is_symlink():
            try:
                files[path.relative_to(root).as_posix()] = _hash_file(path)
            except OSError:
                files[path.relative_to(root).as_posix()] = "unreadable"
    return files


def _environment_files() -> list[Path]:
    """Files outside the grading folder that change what a later kernel or the grader runs."""
    import importlib.util
    import site

    files: list[Path] = []
    for package in ("otter", "mtl_tutorial", "numpy.testing", "doctest", "pickle"):
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        if spec.submodule_search_locations:
            files += sorted(origin.parent.rglob("*.py"))
        else:
            files.append(origin)
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    for folder in map(Path, folders):
        if folder.is_dir():
            files += sorted(folder.glob("*.pth"))
            files += [folder / "sitecustomize.py", folder / "usercustomize.py"]
    home = Path.home()
    files += sorted((home / ".ipython" / "profile_default" / "startup").glob("*"))
    files += [
        home / ".ipython" / "profile_default" / "ipython_config.py",
        home / ".ipython" / "profile_default" / "ipython_kernel_config.py",
    ]
    try:
        from jupyter_core.paths import jupyter_path

        for folder in map(Path, jupyter_path("kernels")):
            files += sorted(folder.glob("*/kernel.json"))
    except ImportError:
        pass
    return files


def _environment(extra: list[Path]) -> dict[str, str]:
    state = {}
    for path in [*_environment_files(), *extra]:
        try:
            state[str(path)] = _hash_file(path) if path.is_file() else "absent"
        except OSError:
            state[str(path)] = "unreadable"
    return state


class _ResultsUnpickler(pickle.Unpickler):
    """Loads otter's results without running anything else the kernel may have put in the file."""

    SAFE_BUILTINS = frozenset(
        "object set frozenset list dict tuple str int float bool complex bytes bytearray slice".split()
    )

    def find_class(self, module, name):
        if module == "copyreg" and name == "_reconstructor":
            import copyreg

            return copyreg._reconstructor
        if module == "builtins" and name in self.SAFE_BUILTINS:
            import builtins

            return getattr(builtins, name)
        if module.startswith("otter.test_files"):
            value = super().find_class(module, name)
            if isinstance(value, type):
                return value
        raise pickle.UnpicklingError(f"results hold {module}.{name}")


def _expected_points(tests: Path) -> dict[str, float]:
    """Each question's points possible, from the autograder's own test files."""
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    return {
        path.stem: float(create_test_file(str(path), NBMetadataConfig()).possible)
        for path in sorted(tests.glob("*.py"))
        if path.name != "__init__.py"
    }


#: Files otter itself creates in the grading folder during a run (learned from clean runs).
OTTER_WRITES = re.compile(r"^autograder/submission/\.OTTER_LOG$")


def _judge_guards(
    guards: list[dict],
    observations: dict[str, dict],
    reference: dict,
    submission: Path,
    tests: dict[str, str],
    expected: dict[str, float],
) -> list[str]:
    """Reasons to flag, from the checks' records compared with the grader's own values."""
    first: dict[str, str] = {}

    def flag(text):
        first.setdefault(text, where)

    previous = None
    for guard in guards:
        seen = observations.get(guard["token"])
        where = guard["where"]
        if seen is None:
            flag("a check the grader added did not run or left no record")
            previous = None
            continue
        changed = sorted(
            key
            for key, value in reference["fingerprints"].items()
            if key in seen["fingerprints"]
            and seen["fingerprints"][key] != value
            and key not in KERNEL_CHANGES
        )
        for module in seen["modules"]:
            if module not in reference["modules"]:
                continue
            if seen["modules"][module] != reference["modules"][module]:
                flag(f"the module {module} is not the installed one")
            prefix = module + "."
            changed += sorted(
                key + " (removed)"
                for key in reference["fingerprints"]
                if key.startswith(prefix)
                and key[len(prefix) :].find(".") < 0
                and key not in seen["fingerprints"]
                and key not in KERNEL_CHANGES
            )
        for key, methods in reference["classes"].items():
            if key not in seen["classes"]:
                continue
            for name, value in methods.items():
                got = seen["classes"][key].get(name)
                if got != value:
                    changed.append(
                        f"{key}.{name}" + (" (removed)" if got is None else "")
                    )
            for name in set(seen["classes"][key]) - set(methods):
                changed.append(f"{key}.{name} (added)")
        if changed:
            shown = ", ".join(changed[:4]) + (", ..." if len(changed) > 4 else "")
            flag(f"functions the tests rely on were replaced: {shown}")
        for name, module, filename in seen["shadowed"]:
            ipython = (
                module.startswith("IPython.") or f"{os.sep}IPython{os.sep}" in filename
            )
            if not (name in KERNEL_BUILTINS and ipython):
                flag(f"the builtin {name} is hidden by the submission's own")
        if not seen["builtins_ok"]:
            flag("__builtins__ was replaced")
        for alias, ok in seen["aliases"].items():
            if not ok:
                flag(f"the name {alias} is not the module it should be")
        if Path(seen["cwd"]).resolve() != submission.resolve():
            flag(f"the kernel left the grading folder for {seen['cwd']}")
        if seen["tests"] != tests:
            flag("the tests in the grading folder were changed")
        if any(seen["trace"]):
            flag("a trace or profile function is installed")
        strange = sorted(
            {h for h in seen["hooks"] if not h.startswith(KERNEL_HOOK_MODULES)}
        )
        if strange:
            flag(f"the kernel has hooks from {', '.join(strange)}")
        if seen["otter"] != [True, "./tests", True]:
            flag(f"otter's grading mode was changed: {seen['otter']}")
        for _, name, path, _, possible, kind in seen["entries"]:
            if (
                os.path.normpath(path) != os.path.join("tests", f"{name}.py")
                or name not in expected
                or kind != "OKTestFile"
            ):
                flag(f"otter holds a result that no test produced: {name} {path}")
            elif possible != expected[name]:
                flag(f"{name} is worth {possible}, not {expected[name]}")
        if previous is not None:
            before = [tuple(e[:5]) for e in previous["entries"]]
            now = [tuple(e[:5]) for e in seen["entries"]]
            if now[: len(before)] != before:
                flag("otter's results changed between the grader's checks")
            elif guard["may_add"] == 0 and len(now) != len(before):
                flag("otter's results grew without a check")
        previous = seen
    return [f"{text} (first seen {where})" for text, where in first.items()]


def _grading_notebook(notebook, guard_cells: list[tuple[int, str]]):
    import nbformat

    copy = nbformat.from_dict(json.loads(json.dumps(notebook)))
    for offset, (index, source) in enumerate(sorted(guard_cells, key=lambda g: g[0])):
        copy.cells.insert(index + offset, nbformat.v4.new_code_cell(source))
    return copy


def _result(questions, total, possible, reasons, started):
    return {
        **questions,
        "total": float(total),
        "possible": float(possible),
        "flagged": bool(reasons),
        "reasons": list(reasons),
        "seconds": round(time.monotonic() - started, 1),
    }


def grade_one(
    notebook: Path,
    zip_path: Path,
    *,
    reference: Path | None = None,
    timeout: int = 600,
    fingerprints: dict | None = None,
    executed: Path | None = None,
) -> dict:
    """Grade one submission on this machine; flag what looks like tampering.

    Returns ``{question: score, ..., "total", "possible", "flagged", "reasons", "seconds"}``. The
    run is otter's local one (``otter.run.main``: the autograder zip unpacked in a temporary
    folder, the tests copied next to the submission, the notebook executed from the top in a fresh
    kernel with otter's grading cells, the results read back), with the same scores for an honest
    submission, and these checks on top:

    - the code cells are scanned (:func:`scan_notebook`), except those identical to a cell of the
      handed-out student notebook ``reference`` (by default the ``student/`` notebook next to the
      zip's folder, as the build writes it);
    - the autograder's files, the tests copied for the run, every other file in the grading folder,
      the zip, the reference and files that change later runs (the otter, numpy.testing and
      mtl_tutorial sources, ``.pth`` files, IPython startup files, kernel specs) are hashed before
      and after: a change, or a file the submission created, flags it;
    - before and after each cell that calls ``grader.check`` and around otter's final grading cell,
      a cell the grader adds records, into a file outside the grading folder, fingerprints of the
      functions the tests rely on (otter's test runner, ``doctest``, ``numpy.testing``, numpy,
      builtins, ``pickle``, Keras, ``mtl_tutorial``), the working folder, the tests' hashes, hidden
      builtins, installed hooks and otter's recorded results; the grader compares them with a fresh
      interpreter's (``fingerprints``, from :func:`reference_fingerprints`) and with its own hashes,
      and a missing record flags the submission too;
    - the results otter writes are loaded without unpickling anything but otter's result classes,
      must give every question its points possible, and must agree with the kernel's record.

    A run that fails (a kernel that dies, a cell that runs past ``timeout`` seconds) is flagged
    with the error and scores nothing. With ``executed``, the executed notebook (otter's cells
    included, the grader's checks left out) is written there, for review.
    """
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor
    from otter.execute.logging import start_server
    from otter.execute.preprocessor import GradingPreprocessor
    from otter.test_files import GradingResults
    from traitlets.config import Config

    started = time.monotonic()
    notebook, zip_path = Path(notebook).resolve(), Path(zip_path).resolve()
    fingerprints = fingerprints or reference_fingerprints()
    reasons: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="grade-"))
    verdicts = Path(tempfile.mkdtemp(prefix="grade-checks-"))
    try:
        autograder = work / "autograder"
        source, submission = autograder / "source", autograder / "submission"
        for folder in (source, submission, autograder / "results"):
            folder.mkdir(parents=True)
        (autograder / "submission_metadata.json").write_text("{}")
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(source)
        config = json.loads((source / "otter_config.json").read_text())
        unsupported = {"plugins", "grade_from_log", "zips"} & {
            k for k, v in config.items() if v
        }
        if unsupported:
            raise NotImplementedError(
                f"otter config options not supported: {unsupported}"
            )
        name = config.get("assignment_name")
        if reference is None and name:
            candidate = zip_path.parent.parent / "student" / f"{name}.ipynb"
            reference = candidate if candidate.exists() else None
        shutil.copy(notebook, submission / notebook.name)
        if (source / "files").is_dir():
            for path in (source / "files").iterdir():
                if path.is_dir():
                    shutil.copytree(path, submission / path.name, dirs_exist_ok=True)
                else:
                    shutil.copy(path, submission)
        shutil.copytree(source / "tests", submission / "tests")
        (autograder / "__init__.py").touch()
        (submission / "__init__.py").touch()
        expected = _expected_points(source / "tests")
        tests = {p.name: _hash_file(p) for p in sorted((source / "tests").iterdir())}

        extra = [zip_path, notebook] + ([Path(reference)] if reference else [])
        environment = _environment(extra)
        before = _tree(work)

        submitted = nbformat.read(
            submission / notebook.name, as_version=nbformat.NO_CONVERT
        )
        submitted = nbformat.convert(submitted, 4)
        got = submitted.get("metadata", {}).get("otter", {}).get("assignment_name")
        if name and got != name:
            reasons.append(f"the notebook is for assignment {got!r}, not {name!r}")
            return _result(
                {q: 0.0 for q in expected}, 0, sum(expected.values()), reasons, started
            )
        allowed: set[str] = set()
        if reference:
            handed_out = nbformat.read(reference, as_version=4)
            allowed = {c.source for c in handed_out.cells if c.cell_type == "code"}
        reasons += scan_notebook(submitted, allowed)

        guards, cells = [], []
        check = re.compile(r"\bgrader\s*\.\s*check(_all)?\s*\(")
        for index, cell in enumerate(submitted.cells):
            if cell.cell_type == "code" and check.search(cell.source):
                calls = (
                    len(expected)
                    if "check_all" in cell.source
                    else len(check.findall(cell.source))
                )
                for position, where, may_add in (
                    (index, f"before cell {index}", 0),
                    (index + 1, f"after cell {index}", calls),
                ):
                    token = secrets.token_hex(8)
                    guards.append({"token": token, "where": where, "may_add": may_add})
                    cells.append((position, guard_cell(token, verdicts)))
        final = secrets.token_hex(8)
        guards.append(
            {"token": final, "where": "before otter's grading cell", "may_add": 0}
        )
        cells.append((len(submitted.cells), guard_cell(final, verdicts)))
        graded = _grading_notebook(submitted, cells)

        results_handle, results_file = tempfile.mkstemp(suffix=".pkl")
        os.close(results_handle)
        c = Config()
        (host, port), stop_server = start_server()
        gp = None
        try:
            c.GradingPreprocessor.cwd = str(submission)
            c.GradingPreprocessor.test_dir = "./tests"
            c.GradingPreprocessor.tests_glob = [
                f"./tests/{p.name}" for p in sorted((submission / "tests").glob("*.py"))
            ]
            c.GradingPreprocessor.results_path = results_file
            c.GradingPreprocessor.seed = config.get("seed")
            c.GradingPreprocessor.seed_variable = config.get("seed_variable")
            c.GradingPreprocessor.otter_log = None
            c.GradingPreprocessor.variables = None
            c.GradingPreprocessor.logging_server_host = host
            c.GradingPreprocessor.logging_server_port = port
            c.GradingPreprocessor.force_python3_kernel = False
            c.ExecutePreprocessor.allow_errors = True
            c.ExecutePreprocessor.timeout = timeout
            gp = GradingPreprocessor(config=c)
            graded, _ = gp.preprocess(graded)
            after_export = secrets.token_hex(8)
            guards.append(
                {
                    "token": after_export,
                    "where": "after otter's grading cell",
                    "may_add": len(expected),
                }
            )
            graded.cells.append(
                nbformat.v4.new_code_cell(guard_cell(after_export, verdicts))
            )
            ep = ExecutePreprocessor(config=c)
            # The kernel inherits this process's environment: not the course secret.
            secret = os.environ.pop(SECRET_VARIABLE, None)
            try:
                ep.preprocess(graded, {"metadata": {"path": str(submission)}})
            finally:
                if secret is not None:
                    os.environ[SECRET_VARIABLE] = secret
                if executed is not None:
                    kept = nbformat.from_dict(json.loads(json.dumps(graded)))
                    kept.cells = [
                        cell
                        for cell in kept.cells
                        if not cell.source.startswith("def _grader_check_")
                    ]
                    nbformat.write(kept, executed)
            with open(results_file, "rb") as handle:
                results = _ResultsUnpickler(handle).load()
            if not isinstance(results, GradingResults):
                raise TypeError("the results are not otter's GradingResults")
        except Exception as error:
            reasons.append(
                f"grading failed: {type(error).__name__}: {str(error)[:200]}"
            )
            results = None
        finally:
            stop_server()
            if gp is not None:
                gp.cleanup()
            os.remove(results_file)

        after = _tree(work)
        for path in sorted(set(before) | set(after)):
            if before.get(path) == after.get(path):
                continue
            if path not in before:
                if not OTTER_WRITES.match(path):
                    reasons.append(f"created {path} in the grading folder")
            elif path.startswith(
                ("autograder/source/", "autograder/submission/tests/")
            ):
                reasons.append(f"changed the autograder's file {path}")
            else:
                reasons.append(f"changed or removed {path} in the grading folder")
        for path, value in _environment(extra).items():
            if environment.get(path) != value:
                reasons.append(f"changed {path} outside the grading folder")

        observations = {}
        for path in verdicts.glob("*.json"):
            try:
                seen = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if seen.get("token") == path.stem:
                observations[path.stem] = seen
        reasons += _judge_guards(
            guards, observations, fingerprints, submission, tests, expected
        )

        questions = {q: 0.0 for q in expected}
        total = 0.0
        possible = sum(expected.values())
        if results is not None:
            for q, test_file in results.results.items():
                questions[q] = float(test_file.score)
            total, got_possible = float(results.total), float(results.possible)
            if got_possible != possible or set(results.results) != set(expected):
                reasons.append(
                    f"the results cover {sorted(results.results)} worth {got_possible}, "
                    f"not {sorted(expected)} worth {possible}"
                )
            last = observations.get(after_export)
            if last is not None:
                recorded = {e[1]: e[3] for e in last["entries"]}
                if recorded != {q: questions[q] for q in recorded} or set(
                    recorded
                ) != set(results.results):
                    reasons.append(
                        "otter's results file disagrees with the kernel's record"
                    )
        return _result(questions, total, possible, reasons, started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(verdicts, ignore_errors=True)


def _grade_job(job: tuple) -> dict:
    notebook, zip_path, executed, timeout, fingerprints = job
    return grade_one(
        notebook,
        zip_path,
        timeout=timeout,
        fingerprints=fingerprints,
        executed=executed,
    )


def grade_many(
    submissions: list[tuple],
    *,
    workers: int = 1,
    timeout: int = 600,
) -> list[dict]:
    """Grade ``submissions``, ``workers`` at a time (each in a process of its own), in order.

    Each submission is ``(notebook, autograder zip)`` or ``(notebook, zip, executed)``, where
    ``executed`` is where to keep the executed notebook (see :func:`grade_one`).
    """
    fingerprints = reference_fingerprints()
    jobs = []
    for submission in submissions:
        notebook, zip_path, *rest = submission
        executed = Path(rest[0]) if rest and rest[0] else None
        jobs.append((Path(notebook), Path(zip_path), executed, timeout, fingerprints))
    if workers <= 1 or len(jobs) <= 1:
        return [_grade_job(job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_grade_job, jobs))


def questions_of(result: dict) -> dict[str, float]:
    """The per-question scores in a result of :func:`grade_one`."""
    return {
        k: v
        for k, v in result.items()
        if k not in ("total", "possible", "flagged", "reasons", "seconds")
    }


def status_of(result: dict) -> str:
    """``"clean"``, or ``"flagged: <reason>; <reason>"``."""
    return "flagged: " + "; ".join(result["reasons"]) if result["flagged"] else "clean"


def write_csv(rows: list[dict], csv_path: Path) -> None:
    """The score table: one row per submission (see the instructors' page for its columns)."""
    questions = list(
        dict.fromkeys(q for row in rows for q in questions_of(row) if q != "submission")
    )
    columns = [
        "submission",
        "status",
        "total",
        "possible",
        *questions,
        "measured_total",
        "seconds",
    ]
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    "submission": row["submission"],
                    "status": status_of(row),
                    "total": "" if row["flagged"] else row["total"],
                    "possible": row["possible"],
                    **{q: row.get(q, "") for q in questions},
                    "measured_total": row["total"],
                    "seconds": row["seconds"],
                }
            )


def grade_folder(
    assignment: str,
    folder: Path,
    csv_path: Path | None = None,
    *,
    built: Path | None = None,
    workers: int = 1,
    timeout: int = 600,
) -> list[dict]:
    """Grade every notebook in ``folder`` with the built autograder of ``assignment``.

    ``built`` is the folder the build wrote (``_build/assignments`` by default; a course's variant
    is built elsewhere). Returns one row per submission, sorted by file name: ``submission`` (the
    file name without ``.ipynb``) and :func:`grade_one`'s result; writes them to ``csv_path``.
    """
    target = Path(built or OUTPUT) / assignment
    if not target.exists():
        raise SystemExit(
            f"{assignment} is not built in {target.parent}; run: python tools/assignments.py build"
        )
    zip_path = autograder_zip(target)
    notebooks = sorted(Path(folder).glob("*.ipynb"))
    submissions = [(notebook, zip_path) for notebook in notebooks]
    results = grade_many(submissions, workers=workers, timeout=timeout)
    rows = [
        {"submission": n.stem, **r} for n, r in zip(notebooks, results, strict=True)
    ]
    if csv_path is not None and rows:
        write_csv(rows, csv_path)
    return rows
