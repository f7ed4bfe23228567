"""The book needs no network once installed, and its package loads nothing unsafely.

- Offline: `.ci/run` runs the tests (which execute every notebook), the assignments, the book build and the
  browser test inside ``tools/offline.sh``, a network namespace with only loopback. There ``BOOK_OFFLINE=1``
  is set and the first test below proves the network is really gone, so a notebook that downloads anything
  fails CI. Without that variable (a reader's ``pytest``) it skips.
- Nothing in the book or the package reaches for the usual downloaders.
- Nothing in the package unpickles, evaluates or executes code (the models load with Keras's safe mode).
"""

from __future__ import annotations

import ast
import json
import os
import re
import socket
from pathlib import Path

import pytest

from tools.sync_install_cell import notebooks

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = sorted((ROOT / "mtl_tutorial").rglob("*.py"))
NOTEBOOKS = notebooks(ROOT / "book") + notebooks(ROOT / "assignments")


@pytest.mark.skipif(
    os.environ.get("BOOK_OFFLINE") != "1",
    reason="runs under tools/offline.sh (as in .ci/run), which sets BOOK_OFFLINE=1",
)
def test_the_network_is_unplugged():
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("pypi.org", 443)
    with socket.socket() as outside:
        outside.settimeout(5)
        assert outside.connect_ex(("1.1.1.1", 443)) != 0
    with socket.socket() as server, socket.socket() as client:  # loopback still works
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.connect(server.getsockname())


# Calls that fetch data or code at run time.
DOWNLOADERS = re.compile(
    r"keras\.datasets|tensorflow_datasets|\btfds\.|sklearn\.datasets\.fetch_|\bfetch_\w+\(|get_file\(|"
    r"urlopen|urlretrieve|requests\.(get|post)|hub\.load|from_pretrained\("
)


def _code_cells(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize(
    "path", PACKAGE + NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_downloads(path):
    code = path.read_text() if path.suffix == ".py" else _code_cells(path)
    assert not DOWNLOADERS.findall(code), f"{path.name} downloads at run time"


def test_the_downloader_pattern_catches_downloads():
    for call in (
        "keras.datasets.mnist.load_data()",
        "sklearn.datasets.fetch_openml('x')",
        "keras.utils.get_file('a', 'http://x')",
        "urllib.request.urlopen(url)",
    ):
        assert DOWNLOADERS.search(call), call
    assert not DOWNLOADERS.search("sklearn.datasets.load_digits()")


UNSAFE_MODULES = {
    "pickle",
    "cPickle",
    "dill",
    "cloudpickle",
    "marshal",
    "shelve",
    "joblib",
}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}


def _unsafe(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                a.name for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in UNSAFE_MODULES:
                found.append(node.module)
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in UNSAFE_CALLS:
                found.append(f"{node.func.id}()")
            for keyword in node.keywords:
                unsafe_value = (
                    keyword.arg == "safe_mode" and _is(keyword.value, False)
                ) or (keyword.arg == "allow_pickle" and _is(keyword.value, True))
                if unsafe_value:
                    found.append(f"{keyword.arg}={keyword.value.value}")
    return found


def _is(node: ast.AST, value: bool) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


@pytest.mark.parametrize("path", PACKAGE, ids=lambda p: str(p.relative_to(ROOT)))
def test_package_neither_unpickles_nor_evaluates(path):
    assert _unsafe(path.read_text()) == []


def test_the_unsafe_code_check_catches_each_kind():
    source = (
        "import pickle\nfrom dill import loads\neval('1')\nexec('x = 1')\n"
        "keras.saving.load_model(p, safe_mode=False)\nnp.load(f, allow_pickle=True)\n"
    )
    assert _unsafe(source) == [
        "pickle",
        "dill",
        "eval()",
        "exec()",
        "safe_mode=False",
        "allow_pickle=True",
    ]
    assert _unsafe("keras.saving.load_model(p)\nmodel.evaluate(x)\n") == []
