"""The report stage (``intervisie report``): render the Quarto documents in reports/ without Quarto.

``quarto render`` is the production path wherever Quarto is installed.  Where it cannot be
(the build machines), this module renders the same ``.qmd`` sources: cells run in Jupyter
(:mod:`reporting.execute`), Pandoc 3 and Typst write HTML, DOCX and PDF
(:mod:`reporting.pandoc`).  Each document is rendered once per language listed in
``params.yaml`` (``reports.languages``); the first language gets the plain name
(``board.html``), the others a suffix (``board-en.html``), as
``quarto render board.qmd -P lang:en --output board-en.html`` would.

The documents read finished results only: the paths handed to them as parameters are the
ones this stage receives from ``dvc.yaml``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.config import load_yaml_model
from pipeline.errors import InputError
from reporting.execute import execute, to_markdown, to_notebook
from reporting.pandoc import FORMATS, convert, output_formats
from reporting.qmd import QmdDocument, read_qmd

Progress = Callable[[str], None]


class ReportParams(BaseModel):
    """The ``reports`` section of ``params.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_cell: int = Field(5, ge=1)
    #: document stem (a ``.qmd`` in reports/) -> languages, the first one giving the plain file name
    languages: dict[str, list[str]]

    @field_validator("languages")
    @classmethod
    def _plain_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        """Document names are file stems in reports/; languages are language tags (they end up in file names)."""
        for stem, languages in value.items():
            if not DOCUMENT.fullmatch(stem):
                raise ValueError(
                    f"{stem!r} is not the name of a document in reports/ (write its file name without .qmd, "
                    "e.g. board; letters, digits, - and _ only, no folders)"
                )
            for lang in languages:
                if not LANGUAGE.fullmatch(lang):
                    raise ValueError(f"{stem}: {lang!r} is not a language tag (e.g. nl, en, en-GB)")
            if not languages:
                raise ValueError(f"{stem}: name at least one language (e.g. [nl, en])")
        return value


#: a document's name: the stem of a ``.qmd`` file directly in reports/
DOCUMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
#: a BCP 47 language tag as Quarto's ``lang`` takes it
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


def document_path(reports_dir: Path, stem: str) -> Path:
    """Return the ``.qmd`` of a document named in ``reports.languages``: a file directly in reports/.

    Raises :class:`InputError` naming the params key when the name is no document there.
    """
    path = reports_dir / f"{stem}.qmd"
    if not DOCUMENT.fullmatch(stem) or not path.is_file() or path.resolve().parent != reports_dir.resolve():
        known = sorted(p.stem for p in reports_dir.glob("*.qmd") if not p.name.startswith("_"))
        raise InputError(
            f"params.yaml reports.languages: {stem!r} is not a document in {reports_dir} (documents there: {known})"
        )
    return path


def render_date() -> dt.datetime:
    """The render date: ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else today (UTC, midnight).

    Reference: https://reproducible-builds.org/specs/source-date-epoch/
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
    today = dt.datetime.now(tz=dt.UTC).date()
    return dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)


def project_options(reports_dir: Path) -> dict:
    """Read ``_quarto.yml`` (the Quarto project file); its ``execute``/``format`` options are document defaults."""
    path = reports_dir / "_quarto.yml"
    if not path.is_file():
        raise InputError(f"{path} is missing: reports/ is a Quarto project and needs its _quarto.yml")
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise InputError(f"{path} must be a YAML mapping")
    return loaded


def merged_front_matter(doc: QmdDocument, project: Mapping[str, object]) -> dict:
    """The document's front matter over the project's defaults (one level deep for ``execute``/``format``)."""
    front = {k: v for k, v in project.items() if k not in ("project",)}
    for key, value in doc.front_matter.items():
        base = front.get(key)
        front[key] = {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
    return front


def render_document(
    source: Path,
    *,
    name: str,
    parameters: Mapping[str, object],
    project: Mapping[str, object],
    out_dir: Path,
    when: dt.datetime,
) -> list[Path]:
    """Execute one ``.qmd`` with ``parameters`` and write every format it declares as ``out_dir/name.*``."""
    doc = read_qmd(source)
    front = merged_front_matter(doc, project)
    lang = parameters.get("lang")
    if lang:
        front["lang"] = lang
    nb = execute(to_notebook(doc, parameters), cwd=source.parent)
    written = []
    figure_dir = out_dir / f"{name}_files"  # as Quarto does; removed once the files embed the figures
    try:
        markdown = to_markdown(
            nb, defaults=front.get("execute", {}) or {}, figure_dir=figure_dir, stem=name, link_dir=figure_dir.name
        )
        if "title" not in front and "pagetitle" not in front:  # the browser tab: the first heading
            first = re.search(r"^# (.+)$", markdown, flags=re.MULTILINE)
            front["pagetitle"] = first.group(1).strip() if first else name
        for fmt in output_formats(front):
            target = out_dir / f"{name}{FORMATS[fmt][1]}"
            written.append(
                convert(markdown, fmt=fmt, front_matter=front, target=target, resource_dir=source.parent, timestamp=when)
            )
    finally:
        shutil.rmtree(figure_dir, ignore_errors=True)
    return written


def run_report(
    results_dir: Path,
    reports_dir: Path,
    out_dir: Path,
    params_path: Path,
    lock_path: Path,
    progress: Progress,
    *,
    design_path: Path,
) -> list[Path]:
    """Render every document of ``reports.languages`` into ``out_dir``; return the files written."""
    params = load_yaml_model(params_path, ReportParams, "parameters file", section="reports")
    project = project_options(reports_dir)
    documents = {stem: document_path(reports_dir, stem) for stem in params.languages}
    when = render_date()
    written: list[Path] = []
    for stem, languages in params.languages.items():
        for i, lang in enumerate(languages):
            name = stem if i == 0 else f"{stem}-{lang}"
            progress(f"rendering {name} ({lang})")
            parameters = {
                "lang": lang,
                "results": str(results_dir.resolve()),
                "design_file": str(design_path.resolve()),
                "site": str(out_dir.resolve()),
                "params_file": str(params_path.resolve()),
                "dvc_lock": str(lock_path.resolve()),
                "render_date": when.date().isoformat(),
            }
            written += render_document(
                documents[stem],
                name=name,
                parameters=parameters,
                project=project,
                out_dir=out_dir,
                when=when,
            )
    return written
