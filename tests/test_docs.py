"""The documentation site (docs/, mkdocs.yml; built by `make docs`).

The fast tests check the sources: the README stays short, every notebook has a page, no
figure is shown on two pages. The browser test opens the built site (``site/``, from
`make docs`) in Debian's Chromium through Playwright, as tests/test_browser.py does, and
checks that the figures of the home page, the tutorial and a replicated-paper page load
with a non-zero size; it saves their screenshots under ``build/docs-screenshots/`` and
prints the path (``.venv/bin/python -m pytest tests/test_docs.py -m browser -s``). It skips,
saying why, without Chromium, Playwright or a built site.
"""

import functools
import http.server
import importlib.util
import logging
import re
import threading
from pathlib import Path

import pytest
from conftest import REPO

DOCS = REPO / "docs"
SITE = REPO / "site"
SCREENSHOTS = REPO / "build" / "docs-screenshots"
CHROMIUM = Path("/usr/bin/chromium")
PAGES = {"home": "index.html", "tutorial": "tutorial/index.html",
         "paper-learning-curve": "paper/learning-curve/index.html"}
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def _pages() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in DOCS.rglob("*.md")}


def test_readme_is_at_most_about_150_lines():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move details to docs/"
    assert "make docs" in "\n".join(lines)


def test_every_notebook_has_a_page():
    """Each notebook is explained on a page of the site (its parameters page is generated
    for every notebook by docs/gen_pages.py), and the executed ones are real notebooks."""
    text = "\n".join(_pages().values())
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        assert notebook.stem in text, f"no page of docs/ mentions {notebook.stem}"
    spec = importlib.util.spec_from_file_location("kit_docs_build_test", DOCS / "build.py")
    build = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = build
    spec.loader.exec_module(build)
    for execution in build.EXECUTIONS:
        assert (REPO / "notebooks" / f"{execution.notebook}.ipynb").is_file(), execution


def test_no_figure_appears_in_two_places():
    seen: dict[str, Path] = {}
    for path, text in _pages().items():
        for target in IMAGE.findall(text):
            figure = (path.parent / target).resolve().relative_to(DOCS.resolve()).as_posix()
            assert figure not in seen, f"{figure} is shown on {seen.get(figure)} and {path}"
            seen[figure] = path
    assert not IMAGE.findall((REPO / "README.md").read_text(encoding="utf-8")), \
        "README.md shows a figure: the site shows it"


def test_docstrings_parse_as_the_site_reads_them():
    """Every docstring of kit parses (Google style) without a warning from griffe, the parser
    of the site's API pages: ``mkdocs build --strict`` fails on any (an argument documented as
    ``a, b:``, one the signature lacks)."""
    griffe = pytest.importorskip("griffe", reason="griffe comes with the dev extra")
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    handler = Collect()
    logging.getLogger("griffe").addHandler(handler)
    try:
        def parse(node) -> None:
            for member in node.members.values():
                if member.is_alias:
                    continue
                if member.docstring:
                    member.docstring.parsed  # noqa: B018 (parsing is what logs the warnings)
                if member.is_module or member.is_class:
                    parse(member)
        package = griffe.load("kit", search_paths=[str(REPO)], docstring_parser="google")
        parse(package)
    finally:
        logging.getLogger("griffe").removeHandler(handler)
    assert len(package.members) > 5  # the package was read, not an empty stand-in
    assert not warnings, "\n".join(warnings)


def _skip_without_site() -> None:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install -e '.[dev]')")
    if not (SITE / "index.html").is_file():
        missing.append(f"a built site at {SITE} (make docs)")
    if missing:
        pytest.skip("the docs browser test needs " + ", ".join(missing))


@pytest.fixture
def site_url():
    _skip_without_site()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


IMAGES_JS = """() => Array.from(document.querySelectorAll('article img')).map(img => ({
    src: img.currentSrc.slice(0, 80), complete: img.complete,
    width: img.naturalWidth, height: img.naturalHeight,
    shown: img.getBoundingClientRect().width}))"""


@pytest.mark.browser
def test_site_pages_show_their_figures(site_url):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name, path in PAGES.items():
                page.goto(site_url + path, wait_until="load")
                page.wait_for_function(
                    "() => Array.from(document.images).every(img => img.complete)")
                page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
                images = page.evaluate(IMAGES_JS)
                assert images, f"{path} shows no figure"
                for image in images:
                    assert image["complete"] and image["width"] > 0 and image["height"] > 0, \
                        f"{path}: a figure did not load: {image}"
                    assert image["shown"] > 0, f"{path}: a figure is not shown: {image}"
        finally:
            browser.close()
    print(f"\nscreenshots: {SCREENSHOTS}")
