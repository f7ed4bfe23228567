"""Tests of the glossary (book/glossary.md) and of the {term} links that the chapters make to it.

Sphinx already fails a ``-W -n`` build on a {term} role whose target is not in the glossary; these tests
say so without a build, and check what Sphinx does not: that the glossary is sorted and every term defined,
that every term is linked from some chapter, and that each chapter links a few terms, each once (at its first
use), never from a heading. They read the files as text and execute nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from tools.sync_install_cell import notebooks

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = notebooks(BOOK)
TERM_ROLE = re.compile(r"\{term\}`([^`]+)`")
MIN_TERMS_PER_CHAPTER = 3


def glossary_entries(text: str) -> list[tuple[list[str], str]]:
    """``(terms, definition)`` for each entry of the ``{glossary}`` directive in a MyST page.

    Parses the directive's body as Sphinx does: unindented lines are terms (several in a row name one entry),
    indented lines are the definition; the option lines (``:sorted:``) come first.
    """
    match = re.search(
        r"^(?P<fence>`{3,}|:{3,})\{glossary\}[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
        text,
        flags=re.MULTILINE | re.DOTALL,
    )
    if match is None:
        raise ValueError("no {glossary} directive found")
    lines = match.group("body").splitlines()
    while lines and re.match(r"^:\w+:", lines[0]):
        lines.pop(0)
    entries: list[tuple[list[str], list[str]]] = []
    in_definition, was_empty = True, True
    for line in lines:
        if not line.strip():
            was_empty = True
            continue
        if not line[0].isspace():
            if (
                in_definition or was_empty
            ):  # a term after a blank line starts a new entry
                entries.append(([], []))
                in_definition = False
            entries[-1][0].append(line.strip())
        else:
            in_definition = True
            if entries:
                entries[-1][1].append(line.strip())
        was_empty = False
    return [(terms, " ".join(definition)) for terms, definition in entries]


def sphinx_sort_key(term: str) -> str:
    """The key by which Sphinx orders a ``:sorted:`` glossary."""
    return unicodedata.normalize("NFD", term.lower())


def term_targets(text: str) -> list[str]:
    """The term each {term} role in ``text`` points to: ``target`` in ``shown <target>``, else the text."""
    targets = []
    for content in TERM_ROLE.findall(text):
        explicit = re.fullmatch(r"(?s).*?<([^<>]+)>\s*", content)
        targets.append(" ".join((explicit.group(1) if explicit else content).split()))
    return targets


def markdown_of(notebook: Path) -> list[str]:
    """The source of each markdown cell of a notebook."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def sources() -> dict[str, str]:
    """Every text a {term} role can appear in: the markdown pages and the chapters' markdown cells."""
    texts = {
        str(p.relative_to(BOOK)): p.read_text(encoding="utf-8")
        for p in sorted(BOOK.rglob("*.md"))
        if "downloads" not in p.parts
    }
    texts |= {str(p.relative_to(BOOK)): "\n".join(markdown_of(p)) for p in CHAPTERS}
    return texts


ENTRIES = glossary_entries((BOOK / "glossary.md").read_text(encoding="utf-8"))
TERMS = [term for terms, _ in ENTRIES for term in terms]
KNOWN = {term.lower() for term in TERMS}


def _ids(paths):
    return [str(p.relative_to(BOOK)) for p in paths]


def test_glossary_defines_every_term():
    assert len(ENTRIES) >= 30, f"the glossary has {len(ENTRIES)} entries"
    undefined = [terms for terms, definition in ENTRIES if not definition.strip()]
    assert not undefined, f"terms without a definition: {undefined}"


def test_glossary_is_sorted_and_has_no_duplicates():
    text = (BOOK / "glossary.md").read_text(encoding="utf-8")
    assert re.search(r"\{glossary\}[^\n]*\n:sorted:", text), (
        "the glossary directive lacks :sorted:"
    )
    firsts = [terms[0] for terms, _ in ENTRIES]
    assert firsts == sorted(firsts, key=sphinx_sort_key), (
        "entries are not in alphabetical order"
    )
    duplicates = sorted({t for t in KNOWN if [x.lower() for x in TERMS].count(t) > 1})
    assert not duplicates, f"terms defined twice (Sphinx ignores case): {duplicates}"


def test_every_term_link_names_a_glossary_term():
    dangling = {
        name: sorted({t for t in term_targets(text) if t.lower() not in KNOWN})
        for name, text in sources().items()
    }
    dangling = {name: targets for name, targets in dangling.items() if targets}
    assert not dangling, f"{{term}} links to terms the glossary lacks: {dangling}"


def test_every_glossary_term_is_linked_from_a_chapter():
    linked = {
        target.lower()
        for chapter in CHAPTERS
        for text in markdown_of(chapter)
        for target in term_targets(text)
    }
    unlinked = [term for term in TERMS if term.lower() not in linked]
    assert not unlinked, f"glossary terms no chapter links to: {unlinked}"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_links_a_few_terms_once_each(path):
    targets = [t.lower() for text in markdown_of(path) for t in term_targets(text)]
    assert len(set(targets)) >= MIN_TERMS_PER_CHAPTER, (
        f"{path.name} links {len(set(targets))} glossary terms, want at least {MIN_TERMS_PER_CHAPTER}"
    )
    twice = sorted({t for t in targets if targets.count(t) > 1})
    assert not twice, (
        f"{path.name} links these terms more than once (link the first use only): {twice}"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_no_term_link_in_a_heading_or_directive_title(path):
    bad = [
        line
        for text in markdown_of(path)
        for line in text.splitlines()
        if TERM_ROLE.search(line) and re.match(r"^\s*(#|`{3,}|:{3,})", line)
    ]
    assert not bad, f"{path.name}: term links in headings or directive titles: {bad}"


def test_parsers_read_the_forms_they_must():
    # The parsers, on the forms they must read: an option line, two terms for one entry, an explicit target.
    page = "# G\n\n:::{glossary}\n:sorted:\n\nb\nB two\n   defined\n   here\n\nc\n\na\n   first\n:::\n"
    assert glossary_entries(page) == [
        (["b", "B two"], "defined here"),
        (["c"], ""),
        (["a"], "first"),
    ]
    assert term_targets("{term}`heads <head>` and {term}`Δm`") == ["head", "Δm"]
    assert sorted(["Δm", "tower", "PCGrad"], key=sphinx_sort_key) == [
        "PCGrad",
        "tower",
        "Δm",
    ]
