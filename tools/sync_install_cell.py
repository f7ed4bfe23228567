"""Write the repository URL from ``_config.yml`` into the first cell of every notebook.

The URL lives in one place, ``repository.url`` in ``_config.yml``. Notebooks opened on Colab cannot read that
file, so each notebook's first cell carries a copy; this script keeps the copies in step, and
``tests/test_book.py`` fails when they drift. Run from the repository root::

    python tools/sync_install_cell.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
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
    """Make the first cell of each notebook the install cell for ``url``; return the notebooks changed."""
    changed = []
    wanted = install_cell_source(url)
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        first = notebook.cells[0] if notebook.cells else None
        if (
            first is not None
            and first.cell_type == "code"
            and 'find_spec("mtl_tutorial")' in first.source
        ):
            if first.source == wanted:
                continue
            first.source = wanted
        else:
            cell = nbformat.v4.new_code_cell(wanted, metadata={"tags": INSTALL_TAGS})
            notebook.cells.insert(0, cell)
        nbformat.write(notebook, path)
        changed.append(path)
    return changed


if __name__ == "__main__":
    for changed_path in sync(notebooks(), repository_url()):
        print(f"updated {changed_path.relative_to(ROOT)}")
    sys.exit(0)
