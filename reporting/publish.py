"""One disclosure-control layer for every number about people that the documents publish.

Every count, share and statistic about people that a document (board report, methods appendix,
handout; every language) prints is first written into one *catalogue*, built the same way in
every document from the result tables (the "cell sources" of :func:`default_sources`).  Each
catalogue cell is about a *population*: the participants matching some levels of the study's
dimensions (``arm``, ``programme``, ``wave:<id>`` answered or not, ...).  Suppression is decided
for the whole catalogue at once:

1. *Primary*: a count ``0 < n < min_cell`` is hidden, a share whose numerator or denominator is
   about fewer than ``min_cell`` people, and every statistic about fewer than ``min_cell`` people.
2. *Complementary*: the published numbers are attacked as a reader would, with integer linear
   programming over all documents together (:func:`reporting.disclosure_lp.findings`); while a
   hidden cell can be pinned to an interval narrower than the protection level, the smallest
   visible cell that shares a relation with it is hidden too (a sibling first: the same
   dimensions, one level different; then a margin; then any overlapping cell), and the check is
   repeated.  A statistic is shown only when its population is provably about at least
   ``min_cell`` people from what is published.

The documents then print each number with :meth:`Publication.count`, :meth:`Publication.share`
or :meth:`Publication.statistic`: a Pandoc span ``[34]{#dc-flow-7}`` (``[×]{#dc-flow-8}`` when
hidden) and, once at the end, :meth:`Publication.script`, a JSON block that names the population of
every span (the contract the disclosure audit reads; see the README).

Reference: Hundepool A, Domingo-Ferrer J, Franconi L, et al. *Statistical Disclosure Control*.
Wiley, 2012, ch. 4.2-4.3 (threshold rule, secondary suppression, protection intervals).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.atomic import write_text
from pipeline.design import Design
from pipeline.errors import InputError
from reporting import fmt
from reporting.catalogue import KINDS, Part, Population, Source, Spec, default_sources, design_dims
from reporting.disclosure_lp import Finding, InconsistentPublication, Key, PublishedCell, canonical, implicit_cells
from reporting.disclosure_split import SplitProgram, intervals
from reporting.results import Results

#: bump when the suppression rules change (a cached decision of older rules is not reused)
CACHE_VERSION = 1


@dataclass(frozen=True)
class _Cell:
    """A catalogue cell: one identity (kind, population[, denominator, digits]) however often it is printed."""

    index: int
    topic: str
    kind: str
    population: Key
    n: float | None
    denominator: Key | None
    den_n: float | None
    share: float | None
    digits: int


def _plain(key: Key) -> dict[str, str | list[str]]:
    return {dim: levels[0] if len(levels) == 1 else list(levels) for dim, levels in key}


class Publication:
    """The joint suppression of a whole catalogue, and the spans that print it (one per document kernel).

    Build it once per document with :meth:`build`; every document builds the same catalogue from the
    same results, so every document hides the same cells.
    """

    def __init__(self, dims: Mapping[str, Sequence[str]], specs: Sequence[Spec], *, min_cell: int = 5,
                 protection: int | None = None) -> None:  # fmt: skip
        self.dims = {d: list(levels) for d, levels in sorted(dims.items())}
        self.min_cell = min_cell
        self.protection = min_cell - 1 if protection is None else protection
        self.cells: dict[tuple, _Cell] = {}
        forced: set[tuple] = set()
        for spec in specs:
            identity, _cell = self._add(spec)
            if spec.hidden:
                forced.add(identity)
        self.hidden: set[tuple] = set()
        self.leftover: list[Finding] = []
        self._by_index = {c.index: i for i, c in self.cells.items()}
        self._decide(forced, specs)
        self._emitted: list[tuple[str, _Cell]] = []
        #: populations a document printed that no cell source listed (printed hidden; a test keeps this empty)
        self.unlisted: list[tuple] = []
        self._ids: dict[str, int] = {}

    # ----------------------------------------------------------------------------------- catalogue
    def _key(self, population: Population) -> Key:
        return canonical(population, self.dims)

    def _identity(self, kind: str, population: Population, denominator: Population | None = None, digits: int = 0):
        key = self._key(population)
        if kind == "share":
            if denominator is None:
                raise ValueError("a share needs a denominator")
            return (kind, key, self._key(denominator), digits)
        return (kind, key)

    def _add(self, spec: Spec) -> tuple[tuple, _Cell]:
        if spec.kind not in KINDS:
            raise ValueError(f"{spec.topic}: unknown kind {spec.kind!r}")
        identity = self._identity(spec.kind, spec.population, spec.denominator, spec.digits)
        old = self.cells.get(identity)
        if old is not None:
            if spec.n is not None and old.n is not None and round(spec.n) != round(old.n) and spec.kind == "count":
                raise ValueError(f"{spec.topic} and {old.topic} give the population {_plain(old.population)} "
                                 f"{round(spec.n)} and {round(old.n)} people: the cell sources disagree")  # fmt: skip
            return identity, old
        share = spec.share
        if spec.kind == "share" and share is None and spec.n is not None and spec.den_n:
            share = spec.n / spec.den_n
        cell = _Cell(len(self.cells), spec.topic, spec.kind, identity[1], spec.n,
                     identity[2] if spec.kind == "share" else None, spec.den_n, share, spec.digits)  # fmt: skip
        self.cells[identity] = cell
        return identity, cell

    # --------------------------------------------------------------------------------- suppression
    def _small(self, n: float | None) -> bool:
        return n is not None and 0 < round(n) < self.min_cell

    def _published(self, *, lean: bool = False) -> list[PublishedCell]:
        """Every count and share as a reader sees it (``lean``: without the shares that visible counts imply)."""
        known = self._known() if lean else {}
        out = []
        for identity, cell in self.cells.items():
            if cell.kind == "statistic":
                continue
            value = None if identity in self.hidden else self._seen(cell)
            if lean and cell.kind == "share" and value is not None and cell.population in known and (
                    cell.denominator in known):  # fmt: skip
                continue  # both counts are published: the share adds nothing an attacker does not know
            out.append(PublishedCell(str(cell.index), cell.kind, _plain(cell.population), value,
                                     _plain(cell.denominator) if cell.denominator is not None else None,
                                     cell.digits))  # fmt: skip
        return out

    def _seen(self, cell: _Cell) -> float | None:
        """What a reader sees: the count, or the share rounded as printed (percent)."""
        if cell.kind == "count":
            return None if cell.n is None else float(round(cell.n))
        if cell.share is None:
            return None
        return float(f"{100 * cell.share:.{cell.digits}f}")

    def _decide(self, forced: set[tuple], specs: Sequence[Spec]) -> None:
        """Suppress, or read the decision an earlier document made for the very same catalogue.

        The decision depends only on the catalogue, ``min_cell`` and the protection level, so each
        document of one rendering reuses it from a cache file named by a hash of all three
        (``INTERVISIE_DISCLOSURE_CACHE`` or the system's temporary folder); it is never published.
        """
        for extra in implicit_cells(self._published(), self.dims):  # rows a table leaves out: audited as hidden
            identity, _cell = self._add(Spec("implicit", "count", extra.population))
            forced.add(identity)
        self._by_index = {c.index: i for i, c in self.cells.items()}
        code = "".join(Path(m.__file__).read_text(encoding="utf-8") for m in _RULES())
        body = json.dumps({"v": CACHE_VERSION, "code": hashlib.sha256(code.encode()).hexdigest(), "dims": self.dims, "min": self.min_cell, "p": self.protection,
                           "specs": [_spec_json(s) for s in specs]}, sort_keys=True, default=str)  # fmt: skip
        folder = Path(os.environ.get("INTERVISIE_DISCLOSURE_CACHE") or Path(tempfile.gettempdir()) / "intervisie-disclosure")
        path = folder / (hashlib.sha256(body.encode()).hexdigest() + ".json")
        if path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                self.hidden = {self._by_index[i] for i in saved["hidden"]}
                self._stat_visible = {tuple((d, tuple(levels)) for d, levels in key) for key in saved["stat"]}
                return
            except (ValueError, KeyError, OSError):
                self.hidden = set()
        self._suppress(forced)
        if self.leftover:
            return
        saved = {"hidden": sorted(self.cells[i].index for i in self.hidden),
                 "stat": sorted([[d, list(levels)] for d, levels in key] for key in self._stat_visible)}  # fmt: skip
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_text(path, json.dumps(saved, sort_keys=True))
        except OSError:
            pass  # a cache that cannot be written only costs time

    def _suppress(self, forced: set[tuple]) -> None:
        """Primary suppression, then complements until no hidden cell is pinned (see the module docstring).

        Hiding a cell only removes constraints, so a hidden cell found protected stays protected: each
        round re-attacks only the cells that were pinned and those newly hidden; a last full check
        (every rule of the audit) closes the loop.
        """
        counts = {c.population: i for i, c in self.cells.items() if c.kind == "count"}
        for identity, cell in self.cells.items():
            if identity in forced or (self._seen(cell) is None and cell.kind != "statistic"):
                self.hidden.add(identity)
            elif cell.kind == "count" and self._small(cell.n):
                self.hidden.add(identity)
            elif cell.kind == "share" and (self._small(cell.n) or (cell.den_n is not None and cell.den_n < self.min_cell)):
                self.hidden.add(identity)
        self._siblings()
        self._couple(counts)
        pending = set(self.hidden)
        for _round in range(len(self.cells) + 2):
            found = self._attack(sorted(pending, key=lambda i: self.cells[i].index)) if pending else self._visible()
            if not found:
                self.leftover = []
                if not pending:
                    break
                pending = set()  # every hidden cell is protected: check the visible shares next
                continue
            before = set(self.hidden)
            self._fix(found)
            self._couple(counts)
            pending = {self._by_index[int(f.cell)] for f in found if f.rule == "unprotected"} | (self.hidden - before)
            if self.hidden == before:
                break
        self._stat_visible = self._statistics()

    def _siblings(self) -> None:
        """The classic first pass (no program solved): in every group of sibling counts (one dimension's levels,
        the rest equal) that adds up to a count the documents show, with one hidden cell, or hidden cells about fewer than ``min_cell`` people together,
        hide the smallest visible sibling about somebody; repeat until no group changes."""
        groups: dict[tuple, list[tuple]] = {}
        for identity, cell in self.cells.items():
            if cell.kind != "count":
                continue
            for k, (dim, _levels) in enumerate(cell.population):
                groups.setdefault((dim, cell.population[:k] + cell.population[k + 1:]), []).append(identity)
        counts = {c.population for c in self.cells.values() if c.kind == "count"}
        backed = {c.population for c in self.cells.values() if c.kind == "statistic"}
        margins = []
        for (dim, rest), members in groups.items():
            union = sorted({level for i in members for level in dict(self.cells[i].population)[dim]})
            if len(members) > 1 and self._key({**_plain(rest), dim: tuple(union)}) in counts:
                margins.append(members)  # the members add up to a count the documents show
        changed = True
        while changed:
            changed = False
            for members in margins:
                while True:  # cells of unknown size (rows a table leaves out) are left to the integer program
                    secret = [i for i in members if i in self.hidden and self.cells[i].n is not None]
                    visible = [i for i in members if i not in self.hidden and (self.cells[i].n or 0) > 0]
                    total = sum(self.cells[i].n or 0 for i in secret)
                    if not secret or not visible or (len(secret) > 1 and total >= self.min_cell):
                        break
                    self.hidden.add(min(visible, key=lambda i: (self.cells[i].population in backed, self.cells[i].n,
                                                                self.cells[i].index)))  # fmt: skip
                    changed = True

    def _attack(self, hidden: list[tuple]) -> list[Finding]:
        """The ``unprotected`` findings among ``hidden`` cells only (the audit's rule).

        The smallest feasible count is solved first: a cell provably about ``min_cell`` or more
        people is safe however narrow its interval, so its largest count is not needed.
        """
        targets = sorted({self.cells[i].population for i in hidden})
        program = SplitProgram(self.dims, self._published(lean=True), targets)
        bounds: dict[Key, tuple[int, int | None]] = {}
        for key, j in zip(targets, program.target_index, strict=True):
            low = program.solve(j, +1) or 0
            bounds[key] = (low, None if low >= self.min_cell else program.solve(j, -1))
        out = []
        for identity in hidden:
            low, high = bounds[self.cells[identity].population]
            if low >= self.min_cell:
                continue
            width = float("inf") if high is None else high - low
            if width < self.protection and high != 0:
                out.append(Finding(str(self.cells[identity].index), "unprotected", low, high, "pinned"))
        return out

    def _fix(self, found: list[Finding]) -> None:
        """Hide each too-small visible number; give each pinned hidden cell a complement (one per related group)."""
        picked: list[_Cell] = []
        self.leftover = []  # what this round could not protect
        for f in sorted(found, key=lambda f: int(f.cell) if f.cell.isdigit() else -1):
            identity = self._by_index[int(f.cell)]
            if identity not in self.hidden:
                self.hidden.add(identity)
                continue
            cell = self.cells[identity]
            complement = self._complement(cell)
            if complement is None:
                self.leftover.append(f)
                continue
            self.hidden.add(complement)
            picked.append(cell)

    def _couple(self, counts: dict[Key, tuple]) -> None:
        """A share of a hidden count is hidden too (it would give the count back from its denominator)."""
        for identity, cell in self.cells.items():
            if cell.kind == "share" and identity not in self.hidden:
                count = counts.get(cell.population)
                if count is not None and count in self.hidden:
                    self.hidden.add(identity)

    def _complement(self, cell: _Cell) -> tuple | None:
        """The visible cell to hide with ``cell``: a sibling, else a direct margin, else a related cell; smallest first.

        Related: it can share people with ``cell`` and restricts one of its dimensions (a cell about
        other dimensions only, e.g. another scale's analysis, constrains ``cell`` through totals at most).
        """
        best, best_rank = None, None
        backed = {c.population for c in self.cells.values() if c.kind == "statistic"}
        for identity, other in self.cells.items():
            if other.kind == "statistic" or identity in self.hidden or not _overlap(cell, other):
                continue
            tier = _tier(cell.population, other.population)
            if tier == 3 and any(":" in d and not d.startswith("wave:") for d, _ in other.population):
                continue  # unrelated: another analysis's people (the shared counts remain, as a last resort)
            size = other.n if other.n is not None else float("inf")
            # a count that statistics rest on is hidden last: without it they could not be shown either
            rank = (other.population in backed, tier, other.kind != "count", size <= 0, size, other.index)
            if best_rank is None or rank < best_rank:
                best, best_rank = identity, rank
        return best

    def _known(self) -> dict[Key, float]:
        """Populations whose count a reader sees exactly (a visible count)."""
        return {c.population: float(round(c.n)) for i, c in self.cells.items()
                if c.kind == "count" and i not in self.hidden and c.n is not None}  # fmt: skip

    def _minima(self, keys: Iterable[Key]) -> dict[Key, tuple[int, int | None]]:
        """Feasible intervals of populations; a visibly published count is its own interval (no program solved)."""
        known = self._known()
        wanted = sorted({k for k in keys if k not in known})
        bounds = intervals(self.dims, self._published(lean=True), [_plain(k) for k in wanted]) if wanted else []
        out: dict[Key, tuple[int, int | None]] = {k: (round(v), round(v)) for k, v in known.items()}
        out.update(zip(wanted, bounds, strict=True))
        return out

    def _visible(self) -> list[Finding]:
        """Visible shares whose numerator or denominator may be about fewer than ``min_cell`` people."""
        shares = [(i, c) for i, c in self.cells.items() if c.kind == "share" and i not in self.hidden]
        minima = self._minima([k for _, c in shares for k in (c.population, c.denominator) if k is not None])
        out = []
        for _identity, cell in shares:
            low, high = minima[cell.population]
            den_low = minima[cell.denominator][0] if cell.denominator is not None else self.min_cell
            if (low < self.min_cell and high != 0) or den_low < self.min_cell:
                out.append(Finding(str(cell.index), "small-population", low, high, "a share about too few people"))
        return out

    def _statistics(self) -> set[Key]:
        """Populations whose statistics may be shown: at least ``min_cell`` people, provably from what is published."""
        wanted = {c.population for c in self.cells.values() if c.kind == "statistic"
                  and not (c.n is not None and c.n < self.min_cell)}  # fmt: skip
        minima = self._minima(wanted)
        return {key for key in wanted if minima[key][0] >= self.min_cell}

    # ------------------------------------------------------------------------------------ emission
    @classmethod
    def build(cls, res: Results, design: Design, sources: Sequence[Source] | None = None) -> Publication:
        """The catalogue of every document, from the results and the design, with its suppression decided."""
        parts = [design_dims(res, design), *(source(res, design) for source in (sources or default_sources()))]
        merged = Part()
        for part in parts:
            for name, levels in part.dims.items():
                merged.dim(name, levels)
        try:
            return cls(merged.dims, [spec for part in parts for spec in part.specs], min_cell=res.min_cell)
        except InconsistentPublication as exc:
            raise InputError(f"the result tables in {res.root} contradict each other ({exc}): some were made by an "
                             "earlier run; run the pipeline again (dvc repro) before rendering") from None

    def _span(self, text: str, cell: _Cell | None, topic: str | None = None) -> str:
        topic = (cell.topic if cell is not None else topic) or "x"
        number = self._ids.get(topic, 0) + 1
        self._ids[topic] = number
        ident = f"dc-{topic}-{number}"
        if cell is not None:
            self._emitted.append((ident, cell))
        escaped = text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        return f"[{escaped}]{{#{ident}}}"

    def _lookup(self, identity: tuple) -> _Cell:
        """The catalogue cell; one no source listed is printed hidden (and noted in :attr:`unlisted`)."""
        cell = self.cells.get(identity)
        if cell is None:
            self.unlisted.append(identity)
            cell = _Cell(-1, "x", identity[0], identity[1], None, identity[2] if identity[0] == "share" else None,
                         None, None, identity[3] if identity[0] == "share" else 0)  # fmt: skip
            self.hidden.add(identity)
        return cell

    def hidden_count(self, population: Population) -> bool:
        """Whether the count of ``population`` is hidden (a document may leave out words that would give it away)."""
        return self._identity("count", population) in self.hidden

    def count(self, population: Population) -> str:
        """The span of a count of people (``×`` when hidden)."""
        identity = self._identity("count", population)
        cell = self._lookup(identity)
        text = fmt.HIDDEN if identity in self.hidden else fmt.count(cell.n)
        return self._span(text, cell)

    def share(self, population: Population, denominator: Population, lang: str, *, digits: int = 0) -> str:
        """The span of a share in percent of ``denominator`` (``×`` when hidden)."""
        identity = self._identity("share", population, denominator, digits)
        cell = self._lookup(identity)
        text = fmt.HIDDEN if identity in self.hidden else fmt.pct(cell.share, lang, digits=digits)
        return self._span(text, cell)

    def shown(self, *populations: Population) -> bool:
        """Whether statistics about every one of ``populations`` may be shown."""
        return all(self._key(p) in self._stat_visible for p in populations)

    def publishes(self, kind: str, population: Population) -> bool:
        """Whether a cell source listed a ``kind`` ("count"/"statistic") about ``population``."""
        return self._identity(kind, population) in self.cells

    def statistic(self, text: str, population: Population, *also: Population) -> str:
        """The span of a statistic about ``population`` (and, for a comparison, the groups ``also``): ``×`` unless shown.

        ``text`` is the formatted number (or ``fmt.NONE`` when it does not exist).
        """
        cell = self._lookup(self._identity("statistic", population))
        for other in also:
            self._lookup(self._identity("statistic", other))
        return self._span(text if self.shown(population, *also) else fmt.HIDDEN, cell)

    def script(self) -> str:
        """The document's JSON block (raw HTML): every span's id, kind and population, the dims and ``min_cell``."""
        cells = {}
        for ident, cell in self._emitted:
            entry: dict[str, object] = {"kind": cell.kind, "population": _plain(cell.population)}
            if cell.kind == "share":
                entry["denominator"] = _plain(cell.denominator or ())
                entry["digits"] = cell.digits
            cells[ident] = entry
        payload = {"version": 1, "min_cell": self.min_cell, "dims": self.dims, "cells": cells}
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
        return f'\n```{{=html}}\n<script type="application/json" id="disclosure-cells">{text}</script>\n```\n'


def publication(res: Results, design: Design, pub: Publication | None) -> Publication:
    """The document's publication (built here when a caller has none, e.g. a test of one section)."""
    return pub if pub is not None else Publication.build(res, design)


def _RULES() -> list:
    """The modules whose code decides the suppression (a change to them invalidates cached decisions)."""
    import sys

    from reporting import disclosure_atoms, disclosure_lp, disclosure_split

    return [sys.modules[__name__], disclosure_atoms, disclosure_lp, disclosure_split]


def _spec_json(spec: Spec) -> list:
    def plain(population: Population | None) -> object:
        if population is None:
            return None
        return sorted([d, [v] if isinstance(v, str) else sorted(v)] for d, v in population.items())

    return [spec.topic, spec.kind, plain(spec.population), spec.n, plain(spec.denominator), spec.den_n, spec.share,
            spec.digits, spec.hidden]


def _compatible(a: Key, b: Key) -> bool:
    """Whether two populations can share people (every dim both restrict has a level in common)."""
    other = dict(b)
    return all(not set(levels).isdisjoint(other[dim]) for dim, levels in a if dim in other)


def _overlap(a: _Cell, b: _Cell) -> bool:
    keys_a = [a.population] + ([a.denominator] if a.denominator is not None else [])
    keys_b = [b.population] + ([b.denominator] if b.denominator is not None else [])
    return any(_compatible(x, y) for x in keys_a for y in keys_b)


def _tier(a: Key, b: Key) -> int:
    """0: siblings (same dims, one level different); 1: a direct margin (one dim more or less, else equal);
    2: related (they restrict a dimension in common, other than ``arm``); 3: unrelated."""
    da, db = dict(a), dict(b)
    if set(da) == set(db) and sum(da[d] != db[d] for d in da) == 1:
        return 0
    small, large = (da, db) if len(da) < len(db) else (db, da)
    if len(large) == len(small) + 1 and all(large.get(d) == levels for d, levels in small.items()):
        return 1
    private_a = {d for d in da if ":" in d and not d.startswith("wave:")}
    private_b = {d for d in db if ":" in d and not d.startswith("wave:")}
    if private_a != private_b and (private_a or private_b):
        return 3
    return 2 if (set(da) & set(db)) - {"arm"} else 3


_SPAN = re.compile(r"\[((?:\\.|[^\]\\])*)\]\{#dc-[A-Za-z0-9_-]+\}")


def plain(markdown: str) -> str:
    """``markdown`` as a reader sees it: each published-cell span replaced by its text (escapes undone)."""
    return _SPAN.sub(lambda m: re.sub(r"\\(.)", r"\1", m.group(1)), markdown)
