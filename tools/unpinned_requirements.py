"""Print requirements.txt with its pins lifted, for the weekly run against the newest releases.

Usage: ``python tools/unpinned_requirements.py requirements.txt > requirements-newest.txt``

Every ``name==version`` becomes ``name``, except where the book cannot follow a new major version:
those keep an upper bound (see ``CAPS``). Comments, blank lines and ``-e .`` pass through unchanged.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

#: Upper bounds that stay when the pins are lifted, with the reason.
CAPS = {
    # Jupyter Book 2 (mystmd) no longer reads _config.yml and _toc.yml.
    "jupyter-book": "<2",
}

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?==\S+(?P<rest>.*)$"
)


def unpinned(text: str) -> str:
    """``text`` (a requirements file) with every ``==`` pin lifted, keeping :data:`CAPS`."""
    lines = []
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            name = match["name"]
            line = f"{name}{match['extras'] or ''}{CAPS.get(name.lower(), '')}{match['rest']}"
        lines.append(line)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.stdout.write(unpinned(Path(sys.argv[1]).read_text()))
