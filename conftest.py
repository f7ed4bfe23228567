"""Pytest hooks for the whole repository: every notebook nbmake runs without error is kept.

It goes into the book's execution cache, so that ``jupyter-book build .`` after ``pytest`` does not execute it
again, and stays in memory for ``tests/test_reproducible.py`` (the fixture ``executed_notebooks``); see
``tools/notebook_cache.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from tools.notebook_cache import EXECUTED, store


def pytest_configure(config: pytest.Config) -> None:
    if not getattr(config.option, "nbmake", False):
        return
    from nbmake import pytest_items

    class StoredRun(pytest_items.NotebookRun):
        def execute(self):
            start = time.perf_counter()
            result = super().execute()
            if result.error is None:
                store(Path(self.filename), result.nb, time.perf_counter() - start)
            return result

    pytest_items.NotebookRun = StoredRun


@pytest.fixture(scope="session")
def executed_notebooks() -> dict[Path, nbformat.NotebookNode]:
    """The notebooks nbmake executed without error in this session, by absolute path."""
    return EXECUTED
