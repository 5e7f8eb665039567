"""A disclosure audit of a rendered site: what an attacker can learn from all its documents together.

Every number about people in a rendered HTML document is a ``<span id="dc-...">`` and each document ends
with one ``<script type="application/json" id="disclosure-cells">`` block that says which population each
span is about (see the README, "Disclosure control").  The audit reads every ``*.html`` file of the site
folder, parses what a reader sees (``34``, ``42%``, ``42,5%``, ``×`` hidden, ``–`` not published), treats a
population that appears in several places or documents as ONE unknown, and hands everything to
:func:`reporting.disclosure_lp.findings`, which bounds every hidden cell by integer programming.

Besides the rules of :mod:`reporting.disclosure_lp` the audit fails on: ``unannotated`` a ``dc-`` span
without an entry in its document's JSON block, or an entry without a span; ``conflict`` one population
shown with two different counts; ``unreadable`` a count or share whose text is not a number.  A row that a
table leaves out is audited too: every level combination of a published population's dimensions that no
document shows is checked as a hidden cell (``implicit:`` cells of document ``(implicit)``; one that lies
inside a population already reported is not reported again).

References
----------
Hundepool A et al. *Statistical Disclosure Control*. Wiley, 2012, ch. 4 (auditing a suppression pattern).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from pipeline.errors import InputError
from reporting.disclosure_lp import Finding, PublishedCell, canonical, findings, implicit_cells

HIDDEN = {"×"}
NOT_PUBLISHED = {"–", "-", "—", ""}
_COUNT = re.compile(r"^\d+$|^\d{1,3}(?:[.,\u202f\u2009 ]\d{3})+$")
_SHARE = re.compile(r"^(\d+)(?:[.,](\d+))?\s*%$")


class _Spans(HTMLParser):
    """Collects the text of every ``dc-`` span and the disclosure JSON block(s) of one HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.spans: dict[str, str] = {}
        self.duplicates: list[str] = []
        self.blocks: list[str] = []
        self._open: list[list] = []  # [id, depth, text parts] of the dc- spans being read
        self._depth = 0
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("id") == "disclosure-cells":
            self._script = []
            return
        if tag == "span":
            self._depth += 1
            ident = found.get("id") or ""
            if ident.startswith("dc-"):
                self._open.append([ident, self._depth, []])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.blocks.append("".join(self._script))
            self._script = None
        elif tag == "span":
            if self._open and self._open[-1][1] == self._depth:
                ident, _, parts = self._open.pop()
                if ident in self.spans:
                    self.duplicates.append(ident)
                self.spans[ident] = " ".join("".join(parts).split())
                if self._open:
                    self._open[-1][2].extend(parts)
            self._depth = max(self._depth - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        elif self._open:
            self._open[-1][2].append(data)


@dataclass(frozen=True)
class SiteFinding:
    """A finding of the audit, located in a document."""

    document: str
    cell: str
    rule: str
    low: int | None
    high: int | None
    message: str

    def line(self) -> str:
        """One line for a terminal: document, cell, rule, feasible interval and what is wrong."""
        if self.low is None and self.high is None:
            where = ""
        else:
            where = f" [{self.low}, {'∞' if self.high is None else self.high}]"
        return f"{self.document} {self.cell}: {self.rule}{where}: {self.message}"


@dataclass
class AuditReport:
    """What the audit read and found; ``ok`` when nothing fails."""

    documents: list[str]
    n_cells: int
    n_hidden: int
    n_populations: int
    seconds: float = 0.0
    findings: list[SiteFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        verdict = "no disclosure found" if self.ok else f"{len(self.findings)} finding(s)"
        return (
            f"{len(self.documents)} document(s), {self.n_cells} published cell(s) ({self.n_hidden} hidden) "
            f"about {self.n_populations} population(s): {verdict} ({self.seconds:.1f} s)"
        )


def read_value(kind: str, text: str) -> tuple[float | None, int, bool]:
    """What the reader sees: ``(value, decimals, readable)``; value None for hidden or not published.

    Counts: ``34``, ``1.234`` / ``1,234`` / ``1 234`` (thousands); shares: ``42%``, ``42,5%``, ``42.5 %``
    (decimal comma or point; ``decimals`` is the number of decimals shown); statistics are only shown or not.
    """
    text = text.strip().replace("\u00a0", " ")
    if text in HIDDEN or text in NOT_PUBLISHED:
        return None, 0, True
    if kind == "count":
        if not _COUNT.match(text):
            return None, 0, False
        return float(re.sub(r"\D", "", text)), 0, True
    if kind == "share":
        match = _SHARE.match(text)
        if not match:
            return None, 0, False
        decimals = match.group(2) or ""
        return float(f"{match.group(1)}.{decimals or 0}"), len(decimals), True
    return 0.0, 0, True


def _load_block(path: Path, blocks: list[str]) -> dict:
    if len(blocks) > 1:
        raise InputError(f"{path}: {len(blocks)} disclosure-cells blocks; a document has exactly one")
    try:
        data = json.loads(blocks[0])
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: the disclosure-cells block is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), dict) or not isinstance(data.get("dims"), dict):
        raise InputError(f"{path}: the disclosure-cells block needs 'dims' and 'cells' objects")
    if not isinstance(data.get("min_cell"), int) or data["min_cell"] < 1:
        raise InputError(f"{path}: the disclosure-cells block needs a positive integer 'min_cell'")
    return data


def _population(raw: object, dims: dict, path: Path, ident: str, what: str) -> dict:
    if not isinstance(raw, dict):
        raise InputError(f"{path}: cell {ident}: '{what}' must be an object of dimension: level(s)")
    population = {str(k): (v if isinstance(v, str) else tuple(v)) for k, v in raw.items()}
    try:
        canonical(population, dims)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: cell {ident}: {what}: {exc}") from None
    return population


def audit_site(
    site: Path, *, protection: int | None = None, min_cell: int | None = None, time_limit: float = 20.0
) -> AuditReport:
    """Audit every ``*.html`` document of ``site`` together.

    Parameters
    ----------
    site
        The rendered site folder (``reports/_site``).
    protection
        The narrowest feasible interval a hidden small cell may have (default ``min_cell - 1``).
    min_cell
        Overrides the documents' own ``min_cell`` (default: the largest any document states).
    time_limit
        Seconds per integer program (a cell not settled in time is reported as ``undecided``).

    Raises
    ------
    InputError
        No HTML document, a malformed disclosure block, or populations that name unknown dimensions.
    """
    started = time.perf_counter()
    pages = sorted(site.glob("*.html")) if site.is_dir() else []
    if not pages:
        raise InputError(f"{site}: no HTML documents to audit (render the reports first: `intervisie report`)")
    dims: dict[str, list[str]] = {}
    dims_from: dict[str, str] = {}
    limits: list[int] = []
    read: list[tuple[str, str, PublishedCell]] = []  # (document, span id, cell)
    problems: list[SiteFinding] = []
    for path in pages:
        parser = _Spans()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        parser.close()
        doc = path.name
        problems += [SiteFinding(doc, i, "unannotated", None, None, "the id appears on more than one span")
                     for i in parser.duplicates]  # fmt: skip
        if not parser.blocks:
            message = "no disclosure-cells block: the numbers of this document cannot be audited"
            problems.append(SiteFinding(doc, "-", "unannotated", None, None, message))
            continue
        data = _load_block(path, parser.blocks)
        limits.append(data["min_cell"])
        for dim, levels in data["dims"].items():
            levels = [str(level) for level in levels]
            if dim in dims and set(dims[dim]) != set(levels):
                raise InputError(f"{path}: dimension {dim!r} has levels {levels}, but {dims_from[dim]} lists {dims[dim]}")
            dims.setdefault(dim, levels)
            dims_from.setdefault(dim, doc)
        entries = data["cells"]
        for ident in sorted(set(parser.spans) - set(entries)):
            problems.append(SiteFinding(doc, ident, "unannotated", None, None, "a dc- span without a JSON entry"))
        for ident in sorted(set(entries) - set(parser.spans)):
            problems.append(SiteFinding(doc, ident, "unannotated", None, None, "a JSON entry without a dc- span"))
        for ident in sorted(set(entries) & set(parser.spans)):
            entry = entries[ident]
            kind = entry.get("kind") if isinstance(entry, dict) else None
            if kind not in ("count", "share", "statistic"):
                raise InputError(f"{path}: cell {ident}: kind must be count, share or statistic, not {kind!r}")
            population = _population(entry.get("population"), dims, path, ident, "population")
            denominator = None
            if kind == "share":
                denominator = _population(entry.get("denominator"), dims, path, ident, "denominator")
            value, digits, readable = read_value(kind, parser.spans[ident])
            if not readable:
                text = parser.spans[ident][:40]
                problems.append(SiteFinding(doc, ident, "unreadable", None, None, f"a {kind} that is not a number: {text!r}"))
            read.append((doc, ident, PublishedCell(f"{doc}#{ident}", kind, population, value, denominator, digits)))
    limit = min_cell if min_cell is not None else max(limits, default=5)
    cells, conflicts = _merge(read, dims)
    report = AuditReport(
        documents=[p.name for p in pages],
        n_cells=len(read),
        n_hidden=sum(cell.value is None for _, _, cell in read),
        n_populations=len({canonical(cell.population, dims) for _, _, cell in read}),
    )
    implicit = implicit_cells(cells, dims)
    found = findings(dims, cells + implicit, min_cell=limit, protection=protection, time_limit=time_limit)
    report.findings = problems + conflicts + [_locate(f) for f in _nested_dropped(found, cells + implicit, dims)]
    report.seconds = time.perf_counter() - started
    return report


def _merge(read: list[tuple[str, str, PublishedCell]], dims: dict) -> tuple[list[PublishedCell], list[SiteFinding]]:
    """One unknown per population: a second, different visible count of a population is a conflict (and left out)."""
    shown: dict[tuple, tuple[float, str]] = {}
    cells, conflicts = [], []
    for doc, ident, cell in read:
        if cell.kind == "count" and cell.value is not None:
            key = canonical(cell.population, dims)
            if key in shown and shown[key][0] != cell.value:
                first, where = shown[key]
                conflicts.append(SiteFinding(doc, ident, "conflict", None, None,
                                             f"shows {cell.value:g} people, {where} shows {first:g} for the same population"))  # fmt: skip
                continue
            shown.setdefault(key, (cell.value, cell.id))
        cells.append(cell)
    return cells, conflicts


def _nested_dropped(found: list[Finding], cells: list[PublishedCell], dims: dict) -> list[Finding]:
    """Leave out an implicit cell that lies inside a population already reported (it adds nothing)."""
    keys = {cell.id: dict(canonical(cell.population, dims)) for cell in cells}
    reported = [keys[f.cell] for f in found if f.cell in keys and not f.cell.startswith("(implicit)")]

    def inside(inner: dict, outer: dict) -> bool:
        return all(dim in inner and set(inner[dim]) <= set(levels) for dim, levels in outer.items())

    return [f for f in found
            if not (f.cell.startswith("(implicit)") and any(inside(keys[f.cell], outer) for outer in reported))]  # fmt: skip


def _locate(finding: Finding) -> SiteFinding:
    document, _, cell = finding.cell.partition("#")
    return SiteFinding(document if cell else "(site)", cell or finding.cell, finding.rule, finding.low, finding.high,
                       finding.message)  # fmt: skip
