"""Reading Quarto sources: the YAML front matter, markdown chunks and ``{python}`` code cells.

Only the part of the Quarto syntax the reports use is read, and it is read as Quarto reads
it, so the same ``.qmd`` renders with ``quarto render`` and with the Pandoc/Jupyter fallback:

* the front matter between the first pair of ``---`` lines (YAML);
* code cells fenced by three or more backticks with ``{python}``, with cell options written
  as ``#| key: value`` lines (YAML) at the top of the cell (``echo``, ``output``, ``label``,
  ``fig-cap``, ``tags``, ...);
* everything else is Pandoc markdown, passed on unchanged.

Reference: Quarto, "Execution options" and "Parameters" (https://quarto.org/docs/computations/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.errors import InputError

_FENCE = re.compile(r"^(?P<fence>`{3,})\s*\{(?P<engine>[A-Za-z0-9_-]+)(?P<rest>[^}]*)\}\s*$")
_OPTION = re.compile(r"^#\|\s?(?P<option>.*)$")


@dataclass(frozen=True)
class Markdown:
    """A stretch of Pandoc markdown between code cells."""

    text: str


@dataclass(frozen=True)
class CodeCell:
    """One executable cell: its source (without option lines) and its ``#|`` options."""

    source: str
    options: dict = field(default_factory=dict)
    line: int = 0

    @property
    def tags(self) -> list[str]:
        """The cell's tags (``#| tags: [parameters]``)."""
        tags = self.options.get("tags", [])
        return [str(t) for t in (tags if isinstance(tags, list) else [tags])]


@dataclass(frozen=True)
class QmdDocument:
    """A parsed ``.qmd`` file: front matter and the chunks in order."""

    front_matter: dict
    chunks: list[Markdown | CodeCell]
    path: str = "<string>"

    @property
    def cells(self) -> list[CodeCell]:
        """The code cells, in order."""
        return [c for c in self.chunks if isinstance(c, CodeCell)]


def parse_qmd(text: str, *, path: str = "<string>") -> QmdDocument:
    """Split Quarto source text into front matter, markdown chunks and python code cells.

    Raises
    ------
    InputError
        When the front matter is not a YAML mapping, a cell option is not YAML, a code
        fence is not closed, or a cell uses an engine other than python.
    """
    lines = text.splitlines()
    front: dict = {}
    start = 0
    if lines and lines[0].strip() == "---":
        try:
            end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
        except StopIteration:
            raise InputError(f"{path}: the front matter opened on line 1 is never closed with ---") from None
        loaded = yaml.safe_load("\n".join(lines[1:end])) or {}
        if not isinstance(loaded, dict):
            raise InputError(f"{path}: the front matter must be a YAML mapping of keys to values")
        front, start = loaded, end + 1

    chunks: list[Markdown | CodeCell] = []
    buffer: list[str] = []
    i = start
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            buffer.append(lines[i])
            i += 1
            continue
        if match["engine"] != "python":
            raise InputError(f"{path}:{i + 1}: only {{python}} cells are supported, found {{{match['engine']}}}")
        if buffer:
            chunks.append(Markdown("\n".join(buffer)))
            buffer = []
        fence, first = match["fence"], i + 1
        try:
            close = next(j for j in range(first, len(lines)) if lines[j].strip() == fence)
        except StopIteration:
            raise InputError(f"{path}:{i + 1}: the code cell opened here is never closed with {fence}") from None
        chunks.append(_cell(lines[first:close], path=path, line=i + 1))
        i = close + 1
    if buffer:
        chunks.append(Markdown("\n".join(buffer)))
    return QmdDocument(front_matter=front, chunks=chunks, path=path)


def read_qmd(path: Path) -> QmdDocument:
    """Read and parse one ``.qmd`` file (UTF-8)."""
    if not path.is_file():
        raise InputError(f"{path} does not exist: the report sources live in reports/*.qmd")
    return parse_qmd(path.read_text(encoding="utf-8"), path=str(path))


def _cell(body: list[str], *, path: str, line: int) -> CodeCell:
    """Split a cell body into its leading ``#|`` option lines and its source."""
    option_lines: list[str] = []
    n = 0
    for text in body:
        match = _OPTION.match(text)
        if not match:
            break
        option_lines.append(match["option"])
        n += 1
    try:
        options = yaml.safe_load("\n".join(option_lines)) or {} if option_lines else {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}:{line}: the #| options of this cell are not valid YAML ({exc})") from None
    if not isinstance(options, dict):
        raise InputError(f"{path}:{line}: the #| options of this cell must be `key: value` lines")
    return CodeCell(source="\n".join(body[n:]).strip("\n"), options=options, line=line)
