"""The renderer without Quarto: reading .qmd, injecting parameters, running cells, writing formats.

Known answers come from the Quarto documentation: cell options are ``#|`` YAML lines;
``quarto render doc.qmd -P lang:en`` puts a cell tagged ``injected-parameters`` right after
the cell tagged ``parameters`` (papermill's convention); ``output: asis`` passes printed text
through as markdown; ``echo: false`` hides the code.  Also the provenance block (commit,
dvc.lock hashes, params, versions, date) and the reader's formatting of numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import InputError
from reporting import fmt
from reporting.execute import execute, to_markdown, to_notebook
from reporting.pandoc import convert, output_formats
from reporting.provenance import flat_params, git_commit, lock_hashes, provenance_markdown, versions
from reporting.qmd import CodeCell, Markdown, parse_qmd
from reporting.render import merged_front_matter, render_date
from reporting.results import reading

ROOT = Path(__file__).parents[1]

QMD = """---
title: "Één test"
format:
  html:
    toc: true
  typst: default
---

Intro text.

```{python}
#| tags: [parameters]
lang = "nl"
n = 1
```

```{python}
#| output: asis
#| echo: false
print(f"**lang is {lang}, n is {n}**")
```

```{python}
#| echo: true
#| label: fig-x
#| fig-cap: "A figure"
from IPython.display import Image, Markdown, display
import base64
png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
display(Markdown("*shown as markdown*"))
Image(data=png)
```

```{python}
#| output: false
print("never shown")
```
"""


def test_parse_front_matter_cells_and_options() -> None:
    doc = parse_qmd(QMD)
    assert doc.front_matter["title"] == "Één test"
    assert output_formats(doc.front_matter) == ["html", "typst"]
    assert isinstance(doc.chunks[0], Markdown) and "Intro text." in doc.chunks[0].text
    cells = doc.cells
    assert len(cells) == 4
    assert cells[0].tags == ["parameters"]
    assert cells[0].source == 'lang = "nl"\nn = 1'
    assert cells[1].options == {"output": "asis", "echo": False}
    assert cells[2].options["fig-cap"] == "A figure"
    assert cells[3].options == {"output": False}


@pytest.mark.parametrize(
    ("text", "message"),
    [("```{python}\nx = 1\n", "never closed"), ("```{r}\nx <- 1\n```\n", "only {python}"),
     ("---\ntitle: x\n", "front matter"), ("```{python}\n#| echo: [\nx = 1\n```\n", "not valid YAML")],
)  # fmt: skip
def test_malformed_sources_are_named(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("{", r"\{").replace("}", r"\}")):
        parse_qmd(text, path="doc.qmd")


def test_parameters_are_injected_after_the_parameters_cell() -> None:
    nb = to_notebook(parse_qmd(QMD), {"lang": "en", "n": 2})
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    assert sources[0].startswith('lang = "nl"')
    assert sources[1] == "# Injected Parameters\nlang = 'en'\nn = 2"
    assert nb.cells[2].metadata["tags"] == ["injected-parameters"]


def test_parameters_go_first_without_a_parameters_cell() -> None:
    nb = to_notebook(parse_qmd("```{python}\nx = lang\n```\n"), {"lang": "en"})
    assert nb.cells[0].metadata["tags"] == ["injected-parameters"]
    assert nb.cells[1].source == "x = lang"


def test_executed_cells_become_markdown_as_quarto_renders_them(tmp_path: Path) -> None:
    doc = parse_qmd(QMD)
    nb = execute(to_notebook(doc, {"lang": "en", "n": 2}), cwd=tmp_path)
    md = to_markdown(nb, defaults={"echo": False}, figure_dir=tmp_path, stem="t")
    assert "**lang is en, n is 2**" in md  # asis: raw markdown, parameters injected
    assert "print(f" not in md  # echo: false
    assert "``` python\nfrom IPython.display" in md  # echo: true on that cell
    assert "*shown as markdown*" in md
    figure = tmp_path / "t-fig-x-1.png"
    assert f"![A figure]({figure.as_posix()}){{#fig-x}}" in md
    assert figure.read_bytes().startswith(b"\x89PNG")
    assert "never shown" not in md  # output: false
    assert "Intro text." in md


def test_a_failing_cell_stops_the_render_with_its_error(tmp_path: Path) -> None:
    nb = to_notebook(parse_qmd("```{python}\nraise ValueError('no such table')\n```\n"), {})
    with pytest.raises(InputError, match="no such table"):
        execute(nb, cwd=tmp_path)


def test_formats_keep_dutch_characters_tables_and_are_self_contained(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    png = tmp_path / "f.png"
    Figure(figsize=(1, 1), dpi=20).savefig(png, format="png")
    md = f"# Patiëntgerelateerde burn-out\n\n| a | b |\n|:--|--:|\n| één | 0,5 |\n\n![Figuur]({png.as_posix()})\n"
    front = {"lang": "nl", "title": "Één", "format": {"html": {"toc": True}, "typst": {"papersize": "a4"}}}
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    html = convert(md, fmt="html", front_matter=front, target=tmp_path / "d.html", resource_dir=tmp_path, timestamp=when)
    text = html.read_text(encoding="utf-8")
    assert "Patiëntgerelateerde" in text and "<table>" in text and 'src="data:image/png;base64,' in text
    docx = convert(md, fmt="docx", front_matter=front, target=tmp_path / "d.docx", resource_dir=tmp_path, timestamp=when)
    with zipfile.ZipFile(docx) as z:
        assert "één" in z.read("word/document.xml").decode("utf-8")
    docx_again = convert(md, fmt="docx", front_matter=front, target=tmp_path / "e.docx", resource_dir=tmp_path, timestamp=when)
    assert docx_again.read_bytes() == docx.read_bytes()  # SOURCE_DATE_EPOCH: no clock time inside the zip
    pdf = convert(md, fmt="typst", front_matter=front, target=tmp_path / "d.pdf", resource_dir=tmp_path, timestamp=when)
    first = pdf.read_bytes()
    assert first.startswith(b"%PDF")
    again = convert(md, fmt="typst", front_matter=front, target=tmp_path / "e.pdf", resource_dir=tmp_path, timestamp=when)
    assert again.read_bytes() == first  # same input and date: same bytes


def test_project_defaults_are_merged_under_the_document() -> None:
    doc = parse_qmd("---\nexecute:\n  echo: true\n---\n")
    front = merged_front_matter(doc, {"project": {"output-dir": "_site"}, "execute": {"echo": False, "warning": False}})
    assert front == {"execute": {"echo": True, "warning": False}}


def test_render_date_follows_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert render_date() == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_provenance_block_names_commit_hashes_params_versions_and_date(tmp_path: Path) -> None:
    data = tmp_path / "results" / "x.csv"
    data.parent.mkdir()
    data.write_text("a\n1\n", encoding="utf-8")
    md5 = hashlib.md5(data.read_bytes(), usedforsecurity=False).hexdigest()
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        "schema: '2.0'\nstages:\n  s:\n    cmd: x\n    deps:\n    - path: data_raw/demo\n      md5: abc.dir\n"
        "    - path: intervisie/cli.py\n      md5: 111\n"
        f"    outs:\n    - path: results/x.csv\n      md5: {md5}\n    - path: results/y.csv\n      md5: 0000\n",
        encoding="utf-8",
    )
    (tmp_path / "results" / "y.csv").write_text("changed\n", encoding="utf-8")
    params = tmp_path / "params.yaml"
    params.write_text("analyses:\n  primary: [brs]\n  growth: {fixed: 'y ~ x'}\nreports:\n  min_cell: 5\n", encoding="utf-8")
    hashes = lock_hashes(lock)
    assert hashes["path"].tolist() == ["data_raw/demo", "results/x.csv", "results/y.csv"]  # code is not data
    assert hashes["current"].tolist()[1:] == [True, False]
    assert pd.isna(hashes["current"].iloc[0])
    assert flat_params(params) == [("analyses.primary", "['brs']"), ("analyses.growth.fixed", "y ~ x"),
                                   ("reports.min_cell", "5")]  # fmt: skip
    assert ("pandas", pd.__version__) in versions()
    text = provenance_markdown(dvc_lock=str(lock), params_file=str(params), render_date="2026-11-23", lang="en")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert git_commit(ROOT)[0] == head.stdout.strip()
    for expected in (md5, "abc.dir", "DIFFERS", "matches", "analyses.growth.fixed", "2026-11-23", f"pandas {pd.__version__}",
                     "pandoc 3."):  # fmt: skip
        assert expected in text
    assert "{#provenance}" in text


def test_numbers_read_as_a_dutch_or_english_reader_expects() -> None:
    assert fmt.num(0.4544, 2, "nl") == "0,45"
    assert fmt.num(-0.004, 2, "en") == "0.00"  # no minus before a zero
    assert fmt.num(-0.39, 2, "en") == "−0.39"
    assert fmt.ci(0.25, 0.66, 2, "nl") == "[0,25; 0,66]"
    assert fmt.ci(0.25, 0.66, 2, "en") == "[0.25, 0.66]"
    assert fmt.pval(0.0004, "nl") == "p < 0,001"
    assert fmt.pct(0.6707, "nl") == "67%"
    assert fmt.count(12, hidden=True) == fmt.HIDDEN == "×"
    table = fmt.table(["a", "b"], [["x", "1"]], align="lr", widths=[4, 2])
    assert table.splitlines()[1] == "|:-----|---:|"  # widths 4:2 as dash counts (plus the colon)


@pytest.mark.parametrize(
    ("effect", "low", "high", "higher_better", "expected"),
    [(0.45, 0.25, 0.66, True, "small improvement (CI does not include zero)"),
     (-0.39, -0.60, -0.18, False, "small improvement (CI does not include zero)"),
     (0.39, 0.18, 0.60, False, "small deterioration (CI does not include zero)"),
     (0.10, -0.01, 0.21, True, "no clear difference (CI includes zero)"),
     (0.85, 0.5, 1.2, True, "large improvement (CI does not include zero)")],
)  # fmt: skip
def test_plain_reading_of_an_effect(effect: float, low: float, high: float, higher_better: bool, expected: str) -> None:
    # Cohen (1988): 0.2 small, 0.5 medium, 0.8 large; a burnout scale (higher_better False) is better when lower
    assert reading(effect, low, high, higher_better, "en") == expected


def test_dutch_reading_inflects_the_adjective() -> None:
    assert reading(0.6, 0.3, 0.9, True, "nl") == "middelgrote verbetering (BI bevat 0 niet)"
    assert reading(0.6, 0.3, 0.9, True, "nl", short=True) == "middelgrote verbetering"
    assert reading(0.1, -0.3, 0.5, True, "nl", change=True) == "geen duidelijke verandering (BI bevat 0)"


def test_a_cell_option_block_is_kept_apart_from_code() -> None:
    cell = parse_qmd("```{python}\n#| echo: false\n#not an option\nx = 1\n```\n").cells[0]
    assert cell == CodeCell(source="#not an option\nx = 1", options={"echo": False}, line=1)
