"""Pandoc markdown -> self-contained HTML, Word (DOCX) and PDF (through Typst).

Pandoc 3 comes from the ``pypandoc-binary`` wheel; the PDF is made as Quarto's
``format: typst`` makes it: Pandoc writes a ``.typ`` file and Typst (the ``typst`` Python
package, no LaTeX needed) compiles it.  The format options of the front matter are the
Quarto ones (``toc``, ``css``, ``embed-resources``, ``papersize``, ``margin``,
``fontsize``, ``reference-doc``, ``include-before-body: {text: ...}``); the ones Pandoc knows
as template variables are passed through as metadata.

References: Pandoc User's Guide 3.x (https://pandoc.org/MANUAL.html); Quarto, "Typst basics"
(https://quarto.org/docs/output-formats/typst.html).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pypandoc
import typst

from pipeline.atomic import write_with
from pipeline.errors import InputError

#: Quarto format name -> (Pandoc writer, file suffix)
FORMATS = {"html": ("html5", ".html"), "docx": ("docx", ".docx"), "typst": ("typst", ".pdf")}
#: front-matter keys that steer rendering and are not document metadata
_NOT_METADATA = {"format", "execute", "jupyter", "params", "engine", "project"}


def output_formats(front_matter: Mapping[str, object]) -> list[str]:
    """The Quarto formats a document asks for (``format:`` as a name, list or mapping)."""
    declared = front_matter.get("format", "html")
    names = [declared] if isinstance(declared, str) else list(declared)
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise InputError(f"format {unknown} is not one the reports render (use {sorted(FORMATS)})")
    return names


def convert(
    markdown: str,
    *,
    fmt: str,
    front_matter: Mapping[str, object],
    target: Path,
    resource_dir: Path,
    timestamp: dt.datetime,
) -> Path:
    """Write ``markdown`` as ``target`` in Quarto format ``fmt`` (html, docx or typst -> PDF).

    ``resource_dir`` is where relative paths (CSS, reference documents) are found, then the
    directory of ``target`` (figures linked relative to the output).  The
    output depends only on its inputs and ``timestamp`` (PDF creation date), so the same
    results give the same bytes.
    """
    writer, _ = FORMATS[fmt]
    options = _format_options(front_matter, fmt)
    metadata = {k: v for k, v in front_matter.items() if k not in _NOT_METADATA}
    args = ["--standalone", f"--resource-path={resource_dir}{os.pathsep}{target.parent}", "--wrap=none"]
    steering = ("toc", "toc-depth", "css", "embed-resources", "reference-doc", "include-before-body")
    metadata.update({k: v for k, v in options.items() if k not in steering})
    before = options.get("include-before-body")
    if isinstance(before, Mapping) and "text" in before:  # Quarto's inline form: {text: ...}
        metadata["include-before"] = str(before["text"])
    if options.get("toc"):
        args += ["--toc", f"--toc-depth={int(options.get('toc-depth', 3))}"]
    if fmt == "html":
        args.append("--embed-resources")
        for css in _as_list(options.get("css")):
            args.append(f"--css={resource_dir / css}")
    if fmt == "docx" and options.get("reference-doc"):
        args.append(f"--reference-doc={resource_dir / str(options['reference-doc'])}")
    with tempfile.TemporaryDirectory(prefix="report-") as tmp:
        meta_file = Path(tmp) / "metadata.json"
        meta_file.write_text(json.dumps(metadata, default=str), encoding="utf-8")
        args.append(f"--metadata-file={meta_file}")
        if fmt == "typst":  # the .typ sits beside the output, so figure links relative to it resolve
            typ = target.parent / f".{target.stem}.typ"
            try:
                pypandoc.convert_text(markdown, writer, format="markdown", outputfile=str(typ), extra_args=args)
                pdf = typst.compile(str(typ), root="/", timestamp=int(timestamp.timestamp()))
            finally:
                typ.unlink(missing_ok=True)
            write_with(target, lambda out: out.write_bytes(pdf))
        else:
            source = Path(tmp) / "document.md"
            source.write_text(markdown, encoding="utf-8")
            write_with(target, lambda out: _pandoc(source, writer, out, args, timestamp))
    return target


def _pandoc(source: Path, writer: str, out: Path, args: list[str], timestamp: dt.datetime) -> None:
    """Run Pandoc with ``SOURCE_DATE_EPOCH`` set, so Word files carry the render date, not the clock."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(int(timestamp.timestamp()))}
    command = [pypandoc.get_pandoc_path(), str(source), "--from=markdown", f"--to={writer}", f"--output={out}", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InputError(f"pandoc could not write {out.name} ({writer}): {done.stderr.strip()}")


def _format_options(front_matter: Mapping[str, object], fmt: str) -> dict:
    declared = front_matter.get("format", {})
    if isinstance(declared, Mapping):
        options = declared.get(fmt) or {}
        return dict(options) if isinstance(options, Mapping) else {}
    return {}


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
