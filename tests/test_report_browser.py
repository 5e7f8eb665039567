"""The rendered documents, checked as a reader would: in headless Chromium, and the board PDF's length.

One render of every document from the current results (``results/``, as ``dvc repro`` leaves
them) into a temporary directory; then each HTML file is opened in Debian's Chromium through
selenium and chromedriver: no console errors (SEVERE), every image loaded
(``naturalWidth > 0``), every internal link and anchor resolves; a screenshot of each page is
saved beside it, and nothing is wider than the window.  Skips, saying why, where Chromium, chromedriver or the results are missing.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.hostile.project import built_project

ROOT = Path(__file__).parents[1]
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
HTML = ["board.html", "board-en.html", "methods.html", "handout.html"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render every document from the project's results into a temporary site (about a minute).

    The results are this checkout's when `dvc repro` has run here, else those of a copy of the
    project after its own `dvc repro` (a fresh clone in CI): the check never skips for want of them.
    """
    from reporting.render import run_report

    root = built_project(tmp_path_factory, "results/growth/effects.csv")
    out = tmp_path_factory.mktemp("site")
    docs = root / "reports" / "_site" / "data-docs"
    if docs.is_dir():  # the methods appendix links to the quality gate's Data Docs when they exist
        shutil.copytree(docs, out / "data-docs")
    run_report(root / "results", ROOT / "reports", out, ROOT / "params.yaml", root / "dvc.lock", lambda _m: None,
               design_path=root / "data_clean" / "design.json")
    return out


@pytest.fixture(scope="module")
def driver():
    """Headless Chromium through chromedriver (Debian packages chromium and chromium-driver)."""
    if not CHROMEDRIVER.exists() or not CHROMIUM.exists():
        pytest.skip("Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--window-size=1200,1600"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield browser
    browser.quit()


def test_every_document_is_rendered_in_every_format(site: Path) -> None:
    expected = {*HTML, "board.pdf", "board.docx", "board-en.pdf", "board-en.docx"}
    assert expected <= {p.name for p in site.iterdir()}
    for name in HTML:  # self-contained: no file next to it is needed, images are data URIs
        text = (site / name).read_text(encoding="utf-8")
        assert not re.search(r'<img[^>]+src="(?!data:)', text), f"{name} refers to an image file"
        assert "<script src=" not in text


def test_board_pdf_has_three_to_five_pages(site: Path) -> None:
    for name in ("board.pdf", "board-en.pdf"):
        pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", (site / name).read_bytes()))
        assert 3 <= pages <= 5, f"{name} has {pages} pages"


def test_dutch_characters_survive_every_format(site: Path) -> None:
    import zipfile

    html = (site / "board.html").read_text(encoding="utf-8")
    assert "Patiëntgerelateerde burn-out" in html
    with zipfile.ZipFile(site / "board.docx") as docx:
        xml = docx.read("word/document.xml").decode("utf-8")
    assert "Patiëntgerelateerde" in xml
    assert "<w:tbl>" in xml  # tables are Word tables
    assert any(n.startswith("word/media/") for n in docx.namelist())  # the figure is embedded


@pytest.mark.parametrize("name", HTML)
def test_document_opens_cleanly_in_chromium(site: Path, driver, name: str, tmp_path: Path) -> None:
    page = site / name
    driver.get(page.as_uri())
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == [], errors
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src.slice(0, 60));"
    )
    assert broken == [], f"images that did not load: {broken}"
    ids = set(driver.execute_script("return Array.from(document.querySelectorAll('[id]')).map(e => e.id);"))
    hrefs = driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'));")
    for href in hrefs:
        parsed = urlparse(href)
        if parsed.scheme in ("http", "https", "mailto"):
            continue
        if href.startswith("#"):
            assert unquote(href[1:]) in ids, f"{name}: anchor {href} does not exist"
        else:
            assert (page.parent / unquote(parsed.path)).exists(), f"{name}: link {href} is broken"
    overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    assert overflow <= 1, f"{name} is {overflow}px wider than the window: a table or figure does not fit"
    height = driver.execute_script("return document.body.scrollHeight;")
    driver.set_window_size(1200, min(int(height) + 100, 12000))
    shot = site / f"{page.stem}.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
