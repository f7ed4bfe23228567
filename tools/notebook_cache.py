"""Each notebook is executed once: what nbmake runs as a test is what the book build shows.

``pytest`` executes every notebook in ``book/`` through nbmake. A notebook that runs without error is stored
in the book's execution cache (``_build/.jupyter_cache``, the cache of ``execute_notebooks: cache`` in
``_config.yml``), so that ``jupyter-book build .`` afterwards renders those outputs instead of executing the
notebook again; it also stays in memory for the rest of the session, where ``tests/test_reproducible.py``
compares it with a second, fresh run (the fixture ``executed_notebooks``). The repository's ``conftest.py``
hands every notebook nbmake ran without error to :func:`store`.

The cache is keyed on the notebook's code, not on the package: after changing ``mtl_tutorial``, run
``pytest`` again (or delete ``_build/.jupyter_cache``) before building the book from the cache.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

CACHE = Path(__file__).resolve().parent.parent / "_build" / ".jupyter_cache"
EXECUTED: dict[Path, nbformat.NotebookNode] = {}


def store(
    source: Path, executed: nbformat.NotebookNode, seconds: float, cache: Path = CACHE
) -> None:
    """Keep ``executed``, the executed copy of the notebook ``source``, and put it in the execution cache."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    original = nbformat.read(source, as_version=4)
    # The cache matches a notebook on its code and the cells' metadata: give the cells their committed
    # metadata back (nbclient adds execution timestamps), keep the outputs.
    for cell, committed in zip(executed.cells, original.cells, strict=True):
        cell.metadata = committed.metadata
    EXECUTED[source.resolve()] = executed
    bundle = CacheBundleIn(
        executed, str(source.resolve()), data={"execution_seconds": seconds}
    )
    get_cache(str(cache)).cache_notebook_bundle(bundle, overwrite=True)
