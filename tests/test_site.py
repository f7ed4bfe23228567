"""Tests of the built book (the HTML a reader opens), after `jupyter-book build .`.

Two kinds of test:

- Links: every internal link, anchor and resource in the built HTML resolves (plain Python, no browser).
- Browser: every page opened in headless Chromium (through Playwright), checking what a reader would
  notice: JavaScript errors, images that do not load, mathematics left as raw TeX, solution dropdowns that
  do not open, missing launch and download buttons, a search that finds nothing. A few screenshots are
  written to ``BOOK_SCREENSHOTS`` (default ``_build/screenshots``) for a person to look at.

The tests skip, saying why, when the book has not been built or no Chromium is installed. CI sets
``REQUIRE_BUILT_BOOK=1`` after building the book, which turns those skips into failures.

Chromium runs with no network: requests to other hosts are refused, except MathJax, which the pages load
from a CDN and which is served here from the copy in the ``django-static-mathjax`` package (MathJax 3.2.2,
the version the CDN's ``mathjax@3`` resolves to).
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import shutil
import threading
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = Path(os.environ.get("BOOK_SCREENSHOTS", ROOT / "_build" / "screenshots"))
REQUIRED = os.environ.get("REQUIRE_BUILT_BOOK") == "1"
MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/"
# Generated folders that hold no pages of their own.
NOT_PAGES = {"_static", "_sources", "_images", "_downloads", "reports", "_modules"}

CHAPTERS = sorted(
    p.relative_to(ROOT / "book").with_suffix(".html")
    for p in (ROOT / "book").glob("part*/*.ipynb")
)
# Searches a reader might type, and a page each must find (by its title).
SEARCHES = {
    "PCGrad": "Conflicting gradients",
    "modality dropout": "Missing and noisy modalities",
    "InfoNCE": "Aligning modalities",
}


def _skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (REQUIRE_BUILT_BOOK=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").exists():
        _skip_or_fail(
            f"no built book at {SITE}: run `jupyter-book build .` first (or set BOOK_HTML)"
        )
    return SITE


def _pages(site: Path) -> list[Path]:
    return sorted(
        p
        for p in site.rglob("*.html")
        if not NOT_PAGES & set(p.relative_to(site).parts)
    )


# ---------------------------------------------------------------------------------------------------------
# Links


class _Links(HTMLParser):
    """The ids a page defines and the links and resources it points to."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.targets: list[tuple[str, str]] = []  # (tag.attribute, url)
        # Where a <meta http-equiv="refresh"> page sends the reader, if it is one.
        self.redirect: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            self.redirect = (attrs.get("content") or "").partition("url=")[2]
            self.targets.append(("meta.refresh", self.redirect))
        for key in ("href", "src"):
            if attrs.get(key) is not None and tag in {
                "a",
                "img",
                "script",
                "link",
                "source",
            }:
                self.targets.append((f"{tag}.{key}", attrs[key]))


@functools.cache
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _broken_links(site: Path, page: Path) -> list[str]:
    broken = []
    for kind, url in _parse(page).targets:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:")):
            continue  # external: not this test's business (and not reachable offline)
        target = (
            page if not parts.path else (page.parent / urllib.parse.unquote(parts.path))
        )
        if target.is_dir():
            target = target / "index.html"
        if not target.resolve().is_relative_to(site.resolve()):
            broken.append(f"{kind}={url!r} leaves the site")
        elif not target.exists():
            broken.append(f"{kind}={url!r}: no file {target.relative_to(site)}")
        elif parts.fragment and target.suffix == ".html":
            if urllib.parse.unquote(parts.fragment) not in _parse(target).ids:
                broken.append(
                    f"{kind}={url!r}: no id {parts.fragment!r} in {target.name}"
                )
    return broken


def test_every_internal_link_and_anchor_resolves(site):
    pages = _pages(site)
    assert len(pages) >= len(CHAPTERS) + 5, f"only {len(pages)} pages in {site}"
    broken = {
        str(page.relative_to(site)): found
        for page in pages
        if (found := _broken_links(site, page))
    }
    assert not broken, f"broken links: {broken}"


def test_the_link_checker_catches_a_broken_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<p id="here"></p><a href="b.html#there">b</a>')
    (tmp_path / "b.html").write_text(
        '<a href="a.html#here">a</a><a href="#nowhere">x</a>'
    )
    (tmp_path / "c.html").write_text('<img src="_images/missing.png">')
    assert _broken_links(tmp_path, tmp_path / "a.html") == [
        "a.href='b.html#there': no id 'there' in b.html"
    ]
    assert _broken_links(tmp_path, tmp_path / "b.html") == [
        "a.href='#nowhere': no id 'nowhere' in b.html"
    ]
    assert len(_broken_links(tmp_path, tmp_path / "c.html")) == 1


# ---------------------------------------------------------------------------------------------------------
# A real browser


def _chromium() -> str | None:
    """Path of a Chromium to drive: $CHROMIUM, else the system's (Debian's `chromium` package)."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def _mathjax_folder() -> Path | None:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = (
        Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    )
    return folder if (folder / "tex-mml-chtml.js").exists() else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(site):
    if importlib.util.find_spec("playwright") is None:
        _skip_or_fail("Playwright is not installed: pip install -r requirements.txt")
    executable = _chromium()
    if executable is None:
        _skip_or_fail(
            "no Chromium found: install Debian's `chromium` package (or set CHROMIUM to a browser)"
        )
    mathjax = _mathjax_folder()
    if mathjax is None:
        _skip_or_fail(
            "no local MathJax: pip install -r requirements.txt (django-static-mathjax)"
        )
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    refused: list[str] = []

    def route(route):
        url = route.request.url
        if url.startswith(base):
            route.continue_()
        elif url.startswith(MATHJAX_CDN):
            path = mathjax / urllib.parse.urlsplit(url[len(MATHJAX_CDN) :]).path
            if path.is_file():
                route.fulfill(path=str(path))
            else:
                refused.append(url)
                route.abort()
        else:
            refused.append(url)
            route.abort()

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", route)
        yield context, base, refused
        context.close()
        chromium.close()
    server.shutdown()


def _open(context, url: str):
    """Open a page, wait until MathJax has typeset it, and return it with its console errors."""
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    page.evaluate(
        "async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }"
    )
    return page, errors


# Run in the page: what a reader would see go wrong.
_AUDIT = """() => {
  const article = document.querySelector('article') || document.body;
  const images = Array.from(document.images);
  const text = article.cloneNode(true);
  text.querySelectorAll('pre, code, script, style, mjx-container').forEach(e => e.remove());
  const raw = ['$$', '\\\\begin{', '\\\\(', '\\\\['].filter(s => text.textContent.includes(s));
  const outputs = Array.from(article.querySelectorAll('.cell_output img'));
  return {
    unloaded: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    math: article.querySelectorAll('.math, span.math, div.math').length,
    typeset: article.querySelectorAll('mjx-container').length,
    raw: raw,
    shrunk: outputs.filter(i => i.width < 0.9 * i.naturalWidth)
                   .map(i => `${i.src.split('/').pop()}: ${i.naturalWidth}px shown at ${i.width}px`),
    uncaptioned: outputs.filter(i => !i.closest('figure')?.querySelector('figcaption'))
                        .map(i => i.src.split('/').pop()),
  };
}"""


def test_every_page_renders_in_a_browser(site, browser):
    context, base, refused = browser
    problems = {}
    # Redirect pages (the site's index.html) have no content of their own; the link test checks them.
    pages = [p for p in _pages(site) if _parse(p).redirect is None]
    for path in pages:
        name = path.relative_to(site).as_posix()
        page, errors = _open(context, base + name)
        audit = page.evaluate(_AUDIT)
        page.close()
        found = []
        if errors:
            found.append(f"console errors {errors}")
        if audit["unloaded"]:
            found.append(f"images not loaded {audit['unloaded']}")
        if audit["math"] and not audit["typeset"]:
            found.append(
                f"{audit['math']} math elements but nothing typeset by MathJax"
            )
        if audit["raw"]:
            found.append(f"raw TeX left in the text: {audit['raw']}")
        if found:
            problems[name] = found
    assert not problems, f"pages with problems: {problems}"
    assert not refused, (
        f"pages asked for resources that need the network: {sorted(set(refused))}"
    )


def test_chapter_figures_are_captioned_and_not_shrunk(site, browser):
    """Every figure has a caption and is drawn at the column's width, so its text stays legible."""
    context, base, _ = browser
    problems = {}
    figures = 0
    for chapter in CHAPTERS:
        page, _ = _open(context, base + "book/" + chapter.as_posix())
        audit = page.evaluate(_AUDIT)
        figures += page.locator(".cell_output img").count()
        page.close()
        found = {k: audit[k] for k in ("shrunk", "uncaptioned") if audit[k]}
        if found:
            problems[chapter.as_posix()] = found
    assert figures >= len(CHAPTERS), (
        f"only {figures} figures in {len(CHAPTERS)} chapters"
    )
    assert not problems, f"figures that need attention: {problems}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_chapter_buttons_and_solution_dropdowns(site, browser, chapter):
    context, base, _ = browser
    page, errors = _open(context, base + "book/" + chapter.as_posix())
    notebook = chapter.with_suffix(".ipynb").as_posix()
    launch = [
        a.get_attribute("href")
        for a in page.locator(".dropdown-launch-buttons a").all()
    ]
    assert any(
        "colab.research.google.com" in h and h.endswith(notebook) for h in launch
    ), launch
    assert any("mybinder.org" in h and notebook in h for h in launch), launch
    download = page.locator(".dropdown-download-buttons a[href$='.ipynb']")
    assert download.count() == 1, "no download button for the notebook"
    assert context.request.get(
        urllib.parse.urljoin(page.url, download.get_attribute("href"))
    ).ok

    solutions = page.locator(".solution.dropdown")
    assert solutions.count() >= 2, "a chapter ends with exercises and their solutions"
    for i in range(solutions.count()):
        solution = solutions.nth(i)
        body = solution.locator(":scope > :not(.admonition-title)").first
        assert not body.is_visible(), f"solution {i + 1} is open before a click"
        # The title also holds a link to the exercise; the toggle button is what a reader clicks.
        solution.locator("button.toggle-button").click()
        body.wait_for(state="visible", timeout=2000)
    if chapter == CHAPTERS[-1]:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        solutions.last.scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / "solution-opened.png")
    page.close()
    assert not errors, errors


@pytest.mark.parametrize("term, title", SEARCHES.items())
def test_search_finds_the_chapter_that_teaches_a_term(site, browser, term, title):
    context, base, _ = browser
    page, errors = _open(context, base + "search.html?q=" + urllib.parse.quote(term))
    results = page.locator("#search-results li")
    results.first.wait_for(timeout=15000)
    found = [results.nth(i).inner_text() for i in range(results.count())]
    if term == "PCGrad":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "search.png")
    page.close()
    assert any(title in text for text in found), f"search for {term!r} found {found}"
    assert not errors, errors


@pytest.mark.parametrize(
    "name, path",
    [
        ("home", "book/intro.html"),
        ("chapter", "book/part1_multitask/03_task_relatedness.html"),
        (
            "chapter-figure",
            "book/part2_multimodal/04_missing_modalities.html#robustness",
        ),
        ("glossary", "book/glossary.html"),
        ("api", "book/api.html"),
        ("execution", "book/execution.html"),
    ],
)
def test_screenshots(site, browser, name, path):
    """Pictures of a few pages for a person to look at (CI keeps the folder)."""
    context, base, _ = browser
    page, errors = _open(context, base + path)
    if name == "chapter-figure":
        page.locator("figure").first.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=target)
    page.close()
    assert target.stat().st_size > 10_000
    assert not errors, errors
