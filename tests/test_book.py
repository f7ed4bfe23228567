"""Tests of the book itself: configuration, notebooks, citations, requirements and code style.

The notebooks are executed by nbmake (see pyproject.toml); these tests check what execution cannot.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from tools.sync_install_cell import (
    TEMPLATE,
    install_cell_source,
    notebooks,
    repository_url,
)

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
# The chapter template follows the rules of a chapter.
NOTEBOOKS = [*notebooks(BOOK), TEMPLATE]


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def _markdown(notebook) -> str:
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def _code(notebook) -> str:
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "code")


def test_there_are_chapters():
    assert NOTEBOOKS, "book/ holds no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} carry outputs or execution counts; run nbstripout"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_chapter_opens_with_its_title_then_the_install_cell(path):
    # A reader's first sight of a chapter is its title; the install cell is the first code cell, right after.
    title, install = nbformat.read(path, as_version=4).cells[:2]
    assert title.cell_type == "markdown" and title.source.startswith("# "), (
        f"{path.name}: the first cell is not the chapter's title"
    )
    assert install.cell_type == "code"
    assert install.source == install_cell_source(repository_url()), (
        f"{path.name}: the second cell differs from the install cell for {repository_url()}; "
        "run python tools/sync_install_cell.py"
    )


def test_install_cell_does_nothing_when_the_package_is_importable(monkeypatch):
    # The cell runs pip only when find_spec fails; here the package is installed, so it must be a no-op.
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append(args))
    source = install_cell_source("https://example.invalid/repo")
    exec(compile(source, "install-cell", "exec"), {})
    assert calls == []
    assert '"mtl_tutorial @ git+https://example.invalid/repo"' in source


def test_install_cell_installs_when_the_package_is_missing(monkeypatch):
    import importlib.util

    calls = []
    monkeypatch.setattr(
        subprocess, "run", lambda *args, **kwargs: calls.append((args, kwargs))
    )
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    exec(
        compile(
            install_cell_source("https://example.invalid/repo"), "install-cell", "exec"
        ),
        {},
    )
    (command,), options = calls[0]
    assert command[1:4] == ["-m", "pip", "install"] and command[-1].endswith(
        "git+https://example.invalid/repo"
    )
    assert options == {"check": True}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_chapter_follows_the_template(path):
    notebook = nbformat.read(path, as_version=4)
    markdown, code = _markdown(notebook), _code(notebook)
    assert "Learning goals" in markdown
    assert "mtl.set_seed(" in code
    exercises = re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", markdown)
    solved = set(re.findall(r"```\{solution(?:-start)?\} (\S+)", markdown))
    assert len(exercises) >= 3, (
        f"{path.name}: {len(exercises)} exercises, want at least 3"
    )
    assert set(exercises) <= solved, (
        f"{path.name}: exercises without solutions {set(exercises) - solved}"
    )
    assert "## Takeaways" in markdown
    assert "{cite" in markdown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_glued_name_used_in_the_text_is_glued_in_code(path):
    notebook = nbformat.read(path, as_version=4)
    used = set(re.findall(r"\{glue:text\}`([A-Za-z_0-9]+)", _markdown(notebook)))
    # Names glued directly, glue("name", ...), or as keys of a dict looped over into glue().
    gluing = [
        c.source
        for c in notebook.cells
        if c.cell_type == "code" and "glue(" in c.source
    ]
    glued = set(re.findall(r"glue\(\s*\"([A-Za-z_0-9]+)\"", "\n".join(gluing)))
    glued |= set(re.findall(r"^\s*\"([A-Za-z_0-9]+)\":", "\n".join(gluing), flags=re.M))
    assert used <= glued, (
        f"{path.name}: text uses names never glued: {sorted(used - glued)}"
    )


def test_every_citation_is_in_the_bibliography():
    keys = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "references.bib").read_text()))
    texts = [p.read_text() for p in BOOK.rglob("*.md")]
    texts += [_markdown(nbformat.read(p, as_version=4)) for p in NOTEBOOKS]
    cited = {
        key.strip()
        for text in texts
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text)
        for key in group.split(",")
    }
    assert cited, "nothing is cited"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


def _toc_files(entries):
    for entry in entries:
        if "file" in entry:
            yield entry["file"]
        yield from _toc_files(entry.get("sections", []))
        yield from _toc_files(entry.get("chapters", []))


def test_table_of_contents_lists_every_page_exactly_once():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = [toc["root"], *_toc_files(toc["parts"])]
    assert len(listed) == len(set(listed)), "a page is listed twice"
    pages = {
        str(p.relative_to(ROOT).with_suffix(""))
        for p in BOOK.rglob("*")
        if p.suffix in {".md", ".ipynb"}
        and ".ipynb_checkpoints" not in p.parts
        and "downloads"
        not in p.parts  # generated student notebooks, offered as downloads
    }
    assert set(listed) == pages, (
        f"missing from toc: {pages - set(listed)}; not on disk: {set(listed) - pages}"
    )
    captions = [part["caption"] for part in toc["parts"]]
    assert captions[:3] == [
        "Part I. Multi-task learning",
        "Part II. Multi-modal learning",
        "Part III. The two together",
    ]


def test_requirements_are_pinned():
    lines = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    lines = [line for line in lines if line]
    assert "-e ." in lines
    pins = dict(line.split("==") for line in lines if line != "-e .")
    assert len(pins) == len(lines) - 1, (
        "every requirement but the package itself is pinned with =="
    )
    # Keras 3 is what the book teaches; Jupyter Book 2 no longer reads _config.yml and _toc.yml.
    assert pins["keras"].startswith("3.")
    assert pins["jupyter-book"].startswith("1.")
    for name in (
        "nbmake",
        "pytest",
        "matplotlib",
        "numpy",
        "jupyterlab",
        "palmerpenguins",
        "sphinx-exercise",
    ):
        assert name in pins, f"{name} is not pinned in requirements.txt"


def test_plain_pytest_runs_every_notebook():
    # What `pytest` collects with the repository's own settings (testpaths, --nbmake).
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    items = [line.split("::")[0] for line in result.stdout.splitlines()]
    collected = {item for item in items if item.endswith(".ipynb")}
    assert collected == {str(p.relative_to(ROOT)) for p in NOTEBOOKS}


def test_ci_refuses_to_run_online_unless_told(tmp_path):
    # Where the network cannot be unplugged, .ci/run must stop before installing anything, and say why.
    fake = tmp_path / "unshare"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    environment = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    environment.pop("ALLOW_ONLINE", None)
    result = subprocess.run(
        ["bash", ".ci/run"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert (
        "cannot unplug the network" in result.stderr
        and "ALLOW_ONLINE=1" in result.stderr
    )
    assert "virtual environment" not in result.stdout


@pytest.mark.parametrize(
    "arguments", [["check"], ["format", "--check"]], ids=["lint", "format"]
)
def test_ruff(arguments):
    targets = ["mtl_tutorial", "tests", "tools", "book", "assignments"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_notebook_nbmake_executed_is_found_in_the_book_cache(tmp_path):
    # conftest.store is what lets the book build reuse nbmake's run: the book's cache must match the
    # committed notebook (no outputs, no timings) to the executed copy and give back its outputs.
    from jupyter_cache import get_cache
    from nbclient import NotebookClient

    from tools.notebook_cache import store

    notebook = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
        }
    )
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("6 * 7", metadata={"tags": ["hide-input"]}),
    ]
    source = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, source)
    executed = nbformat.read(source, as_version=4)
    NotebookClient(executed, kernel_name="python3", record_timing=True).execute()
    assert "execution" in executed.cells[1].metadata  # what would break the match
    store(source, executed, 1.5, cache=tmp_path / "cache")

    cache = get_cache(str(tmp_path / "cache"))
    record = cache.match_cache_notebook(nbformat.read(source, as_version=4))
    assert record.data == {"execution_seconds": 1.5}
    _, merged = cache.merge_match_into_notebook(nbformat.read(source, as_version=4))
    assert merged.cells[1].outputs[0]["data"]["text/plain"] == "42"


def test_every_taught_in_reference_links_a_chapter_of_the_book():
    # "Taught in chapter 1" is ambiguous (each part restarts its numbering) and nothing checks free text:
    # a reference is a :doc: link to a page of the table of contents (the -W -n build resolves those shown).
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = {f"/{page}" for page in [toc["root"], *_toc_files(toc["parts"])]}
    links, free = [], []
    for path in sorted((ROOT / "mtl_tutorial").rglob("*.py")):
        text = path.read_text()
        links += re.findall(r":doc:`(/[^`]+)`", text)
        free += [
            f"{path.name}: {m.group(0)!r}"
            for m in re.finditer(r"[Tt]aught in (?!:doc:)\S+|\bchapters? \d", text)
        ]
    assert not free, f"references to chapters that are not :doc: links: {free}"
    assert len(links) >= 30
    assert set(links) <= pages, f"links to no page: {sorted(set(links) - pages)}"
