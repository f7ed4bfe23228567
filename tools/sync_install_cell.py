"""Write the repository URL from ``_config.yml`` into the install cell of every notebook and the template.

The URL lives in one place, ``repository.url`` in ``_config.yml``. Notebooks opened on Colab cannot read that
file, so each notebook's install cell carries a copy; this script keeps the copies in step, and
``tests/test_book.py`` fails when they drift. A chapter opens with its title (a Markdown cell starting with
``# ``); the install cell comes right after it, as the first code cell. Run from the repository root::

    python tools/sync_install_cell.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
#: The notebook a new chapter starts from (kept outside book/, so that the book does not show it).
TEMPLATE = ROOT / "templates" / "chapter.ipynb"
INSTALL_TAGS = ["hide-cell"]


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """``repository.url`` from the book's configuration."""
    url = yaml.safe_load(config.read_text())["repository"]["url"]
    if not url.startswith("https://"):
        raise ValueError(
            f"repository.url in {config} must be an https URL; got {url!r}."
        )
    return url.rstrip("/")


def install_cell_source(url: str) -> str:
    """The first cell of every notebook: install ``mtl_tutorial`` from ``url`` when it is missing."""
    return (
        "# Installs the book's helper package if it is missing (as on Colab).\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if importlib.util.find_spec("mtl_tutorial") is None:\n'
        f'    package = "mtl_tutorial @ git+{url}"\n'
        '    command = [sys.executable, "-m", "pip", "install", "--quiet", package]\n'
        "    subprocess.run(command, check=True)\n"
        "    importlib.invalidate_caches()"
    )


def notebooks(root: Path = ROOT / "book") -> list[Path]:
    """Every chapter notebook under ``root`` (not the generated student notebooks of the assignments)."""
    return sorted(
        p
        for p in root.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts and "downloads" not in p.parts
    )


def sync(paths: list[Path], url: str) -> list[Path]:
    """Make the second cell of each notebook, after its title, the install cell for ``url``.

    Returns the notebooks changed. An install cell found elsewhere (the first cell, as chapters had it before)
    is moved behind the title.
    """
    changed = []
    wanted = install_cell_source(url)
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        title = next(
            (
                c
                for c in notebook.cells
                if c.cell_type == "markdown" and c.source.startswith("# ")
            ),
            None,
        )
        if title is None:
            raise ValueError(
                f"{path}: no title cell (a Markdown cell starting with '# ')."
            )
        install = [
            c
            for c in notebook.cells
            if c.cell_type == "code" and 'find_spec("mtl_tutorial")' in c.source
        ]
        cell = (
            install[0]
            if install
            else nbformat.v4.new_code_cell(metadata={"tags": INSTALL_TAGS})
        )
        cell.source = wanted
        rest = [c for c in notebook.cells if c is not title and c not in install]
        cells = [title, cell, *rest]
        if [c.source for c in cells] == [c.source for c in notebook.cells]:
            continue
        notebook.cells = cells
        nbformat.write(notebook, path)
        changed.append(path)
    return changed


if __name__ == "__main__":
    for changed_path in sync([*notebooks(), TEMPLATE], repository_url()):
        print(f"updated {changed_path.relative_to(ROOT)}")
    sys.exit(0)
