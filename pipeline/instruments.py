"""The instrument library: one YAML file per questionnaire, checked against one schema.

A methodologist adds an outcome instrument by writing ``instruments/<id>.yaml``; nothing
else changes.  :func:`load_instrument` turns a file into an :class:`Instrument`;
:func:`check_file` reports *every* problem of a file with its line number, so that
``intervisie instruments check`` can list them all at once.

The file format (see ``instruments/README.md`` for a worked example)::

    id: brs                      # lower-case identifier, equal to the file name
    version: "1.0"
    name: {nl: ..., en: ...}
    construct: resilience
    citation: "..."              # primary source of items and scoring key
    licence: "..."
    occasion: wave               # wave (survey waves) or session (after each session)
    response_sets:
      agree5:
        min: 1
        max: 5
        labels: {1: {nl: ..., en: ...}, ..., 5: {...}}
        scores: {1: 100, ...}    # optional: scored value of each code (default: the code)
        missing_codes: [99, -9, "n.v.t."]
    items:
      - {id: brs_1, label: {nl: ..., en: ...}}
      - {id: brs_2, label: {...}, reverse: true, response_set: agree5}
    scales:
      - id: brs
        name: {nl: ..., en: ...}
        items: [brs_1, brs_2, ...]
        method: mean             # mean | sum | prorated_sum | pomp
        min_items: 4
        below_min: missing       # missing | flag
        direction: higher_better # higher_better | higher_worse
        multiplier: 4            # optional: the combined score times this (WHO-5: sum x 4)
        cutoffs:
          - {operator: ">=", threshold: 50, label: {...}, source: "..."}
      - id: cope_problem_focused # a composite: the mean of the items of its scored subscales
        name: {nl: ..., en: ...}
        subscales: [cope_active, cope_planning, cope_instrumental_support]
        min_subscales: 2         # fewest subscales with a score (its items and min_items follow)
        method: mean
        direction: higher_better
        source: "..."            # the published grouping
    examples:                    # hand-worked answer sheets (checked by `intervisie instruments check`)
      - answers: [5, 1, 4, 2, 3, 3]          # codes in item order; null = not answered
        scores: {brs: 4.0}                   # expected score per scale; null = no score
        working: "items 2, 4, 6 reversed (6 - s): 5 5 4 4 3 3; 24 / 6 = 4.0"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.composites import composite_problems, expand_composites

IDENTIFIER = r"^[a-z][a-z0-9_]*$"
#: libyaml's safe loader where PyYAML was built with it (same results, ten times faster)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A short text in Dutch and English."""

    nl: str = Field(min_length=1)
    en: str = Field(min_length=1)


class ResponseSet(_Strict):
    """The answer options of a group of items.

    Codes are the integers ``min..max`` that an export holds; ``scores`` maps a code to
    its scored value where the two differ (the CBI scores its five options 100..0).
    """

    min: int
    max: int
    labels: dict[int, Text]
    scores: dict[int, float] | None = None
    missing_codes: list[int | str] = Field(default_factory=list)


class Item(_Strict):
    """One questionnaire item: an identifier and a short label (never the item text)."""

    id: str = Field(pattern=IDENTIFIER)
    label: Text
    reverse: bool = False
    response_set: str | None = None


class Cutoff(_Strict):
    """A published threshold on a scale score, with its source."""

    operator: Literal[">=", ">", "<=", "<"]
    threshold: float
    label: Text
    source: str = Field(min_length=1)


class Scale(_Strict):
    """A scale or subscale: which items, how they are combined, and when a score is valid."""

    id: str = Field(pattern=IDENTIFIER)
    name: Text
    items: list[str]
    method: Literal["mean", "sum", "prorated_sum", "pomp"]
    min_items: int = Field(ge=1)
    below_min: Literal["missing", "flag"] = "missing"
    direction: Literal["higher_better", "higher_worse"]
    level: Literal["individual", "group"] = "individual"
    #: the combined score is multiplied by this (a published linear transform, e.g. WHO-5: raw sum x 4)
    multiplier: float | None = Field(default=None, gt=0)
    cutoffs: list[Cutoff] = Field(default_factory=list)
    #: a composite: the scales of this file it combines (its ``items`` and ``min_items`` follow from them)
    subscales: list[str] | None = None
    #: a composite's fewest subscales with a score (status ``ok``) for a score of its own
    min_subscales: int | None = Field(default=None, ge=1)
    #: where the scale comes from when the instrument's citation does not define it (required for a composite)
    source: str | None = Field(default=None, min_length=1)

    @property
    def is_composite(self) -> bool:
        """Whether the scale combines other scales of its instrument (``subscales``)."""
        return self.subscales is not None


class Example(_Strict):
    """A hand-worked answer sheet: the codes a respondent gave and the scores worked out by hand.

    ``answers`` holds one code per item in questionnaire order (``None`` = not answered);
    ``scores`` the expected score of some or all scales (``None`` = no score, too few items
    answered), as a number or an arithmetic expression such as ``"300 / 7"``; ``working`` the
    arithmetic in words.  :mod:`pipeline.instrument_examples` scores the sheet and compares.
    """

    answers: list[float | None]
    scores: dict[str, float | str | None] = Field(min_length=1)
    working: str = Field(min_length=1)


class Instrument(_Strict):
    """A questionnaire as the pipeline knows it (``construct_`` is the file's ``construct``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=IDENTIFIER)
    version: str
    name: Text
    #: short name readers know it by, written after a scale's name in the reports (default: the id in capitals)
    abbreviation: str | None = Field(default=None, min_length=1, max_length=20)
    construct_: str = Field(alias="construct", min_length=1)
    citation: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    occasion: Literal["wave", "session"] = "wave"
    response_sets: dict[str, ResponseSet]
    items: list[Item]
    scales: list[Scale]
    notes: str | None = None
    #: hand-worked answer sheets (required by `intervisie instruments check`, see instruments/README.md)
    examples: list[Example] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: object) -> object:
        return expand_composites(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        problems = consistency_problems(self)
        if problems:
            raise ValueError("; ".join(f"{_dotted(loc)}: {msg}" for loc, msg in problems))
        return self

    def response_set_of(self, item: Item) -> ResponseSet:
        """Return the response set an item is answered on."""
        name = item.response_set or next(iter(self.response_sets))
        return self.response_sets[name]

    def item_ids(self) -> list[str]:
        """Return the item identifiers in questionnaire order."""
        return [item.id for item in self.items]


Loc = tuple[str | int, ...]


def consistency_problems(inst: Instrument) -> list[tuple[Loc, str]]:
    """Return every rule of the format that a structurally valid instrument breaks.

    These are the rules a type checker cannot see: duplicate identifiers, scales that name
    missing items, ranges that are empty, labels and scores that do not cover the codes.
    """
    problems: list[tuple[Loc, str]] = []
    if not inst.response_sets:
        problems.append((("response_sets",), "at least one response set is required"))
    for name, rs in inst.response_sets.items():
        loc: Loc = ("response_sets", name)
        if rs.min > rs.max:
            problems.append(((*loc, "min"), f"min ({rs.min}) is greater than max ({rs.max})"))
            continue
        codes = set(range(rs.min, rs.max + 1))
        missing_labels = sorted(codes - set(rs.labels))
        extra_labels = sorted(set(rs.labels) - codes)
        if missing_labels:
            problems.append(((*loc, "labels"), f"no label for code(s) {missing_labels}"))
        if extra_labels:
            problems.append(((*loc, "labels"), f"label for code(s) {extra_labels} outside {rs.min}..{rs.max}"))
        if rs.scores is not None and set(rs.scores) != codes:
            problems.append(((*loc, "scores"), f"scores must give a value for each code {rs.min}..{rs.max}"))
        clash = [c for c in rs.missing_codes if isinstance(c, int) and c in codes]
        if clash:
            problems.append(((*loc, "missing_codes"), f"missing code(s) {clash} are valid answers"))
    if not inst.items:
        problems.append((("items",), "at least one item is required"))
    problems += _duplicates(("items",), [i.id for i in inst.items], "item")
    problems += _duplicates(("scales",), [s.id for s in inst.scales], "scale")
    for n, item in enumerate(inst.items):
        if item.response_set is None and len(inst.response_sets) > 1:
            problems.append((("items", n, "response_set"), "required when there are several response sets"))
        elif item.response_set is not None and item.response_set not in inst.response_sets:
            problems.append(
                (("items", n, "response_set"), f"'{item.response_set}' is not a response set of this instrument")
            )
    known = {i.id for i in inst.items}
    if not inst.scales:
        problems.append((("scales",), "at least one scale is required"))
    for n, scale in enumerate(inst.scales):
        loc = ("scales", n)
        if scale.subscales is not None:
            continue  # items follow from the subscales, checked there and by composite_problems
        if not scale.items:
            problems.append(((*loc, "items"), f"scale '{scale.id}' has no items"))
        for k, item_id in enumerate(scale.items):
            if item_id not in known:
                problems.append(((*loc, "items", k), f"'{item_id}' is not an item of this instrument"))
        problems += _duplicates((*loc, "items"), scale.items, "item in scale")
        if scale.items and scale.min_items > len(scale.items):
            problems.append(
                ((*loc, "min_items"), f"min_items ({scale.min_items}) exceeds the {len(scale.items)} items")
            )
        sets = {inst.items[[i.id for i in inst.items].index(i)].response_set for i in scale.items if i in known}
        if len(sets) > 1 and scale.method in ("sum", "prorated_sum"):
            problems.append(((*loc, "method"), "a sum needs all its items on one response set"))
    problems += composite_problems(inst)
    scale_ids = {s.id for s in inst.scales}
    for n, example in enumerate(inst.examples):
        loc = ("examples", n)
        if len(example.answers) != len(inst.items):
            problems.append(
                (
                    (*loc, "answers"),
                    f"{len(example.answers)} answer(s) for the {len(inst.items)} items (one per item, null = not answered)",
                )
            )
        for scale_id in example.scores:
            if scale_id not in scale_ids:
                problems.append(((*loc, "scores", scale_id), f"'{scale_id}' is not a scale of this instrument"))
    return problems


def _duplicates(loc: Loc, ids: Sequence[str], what: str) -> list[tuple[Loc, str]]:
    seen: Counter[str] = Counter()
    out: list[tuple[Loc, str]] = []
    for n, i in enumerate(ids):
        seen[i] += 1
        if seen[i] == 2:
            out.append(((*loc, n), f"duplicate {what} id '{i}'"))
    return out


def _dotted(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an instrument file, located to a line."""

    file: Path
    line: int
    where: str
    message: str

    def __str__(self) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"{self.file}:{self.line}:{where} {self.message}"


class InstrumentError(Exception):
    """An instrument file that cannot be used; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _line_of(node: yaml.Node | None, loc: Loc) -> int:
    """Return the 1-based line of the YAML node at ``loc`` (or of its nearest parent).

    A mapping value is located by its key, so that ``labels:`` followed by a block of codes
    reports the line of ``labels:``, not that of the first code; a sequence element by its
    own start (the ``-`` line).
    """
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in loc:
        child, child_line = None, line
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    child, child_line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            child_line = child.start_mark.line + 1
        if child is None:
            break
        node, line = child, child_line
    return line


def check_file(path: Path) -> list[Problem]:
    """Return every problem of one instrument file (an empty list when it is valid)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(path, 1, "", f"cannot be read: {exc}")]
    try:
        root = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        context = getattr(exc, "context_mark", None)
        if mark is not None and context is not None and mark.index >= len(text):
            mark = context  # an unclosed quote or bracket: point at where it opened, not at the end
        opened = _runaway_quote(text, mark)
        if opened is not None:
            hint = f" (a quote opened on line {opened.line + 1} seems not to be closed)"
            return [Problem(path, opened.line + 1, "", f"is not valid YAML{hint}: {_yaml_reason(exc)}")]
        return [Problem(path, (mark.line + 1) if mark else 1, "", f"is not valid YAML: {_yaml_reason(exc)}")]
    if not isinstance(data, dict):
        return [Problem(path, 1, "", "must be a mapping of instrument fields")]
    problems: list[Problem] = []
    try:
        Instrument.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            if err["type"] == "value_error" and not loc:
                continue  # the cross-field rules: reported below, each with its own line
            problems.append(Problem(path, _line_of(root, loc), _dotted(loc), err["msg"]))
        # the cross-field rules still apply to the parts that are valid on their own
        broken = {tuple(e["loc"][:2]) for e in exc.errors() if e["loc"]}
        partial = Instrument.model_construct(**_valid_parts(expand_composites(data)))
        for loc, msg in consistency_problems(partial):
            if loc[:2] in broken:
                continue  # a consequence of a problem already reported for that part
            if "response set" in msg and ("response_sets",) in broken:
                continue
            problems.append(Problem(path, _line_of(root, loc), _dotted(loc), msg))
    if data.get("id") != path.stem:
        problems.append(Problem(path, _line_of(root, ("id",)), "id", f"'{data.get('id')}' differs from the file name"))
    return problems


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """Return a YAML error on one line (the problem is listed as ``file:line: problem``).

    PyYAML's own text spans lines, quoting the offending text; the line is already given.
    """
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    reason = "; ".join(str(p) for p in parts if p)
    return reason or " ".join(str(exc).split())


def _runaway_quote(text: str, mark: yaml.Mark | None) -> yaml.Mark | None:
    """Return where a quoted string opened when it ran on over lines up to a syntax error.

    An unclosed quote swallows the following lines until the next quote character, and the
    parser only fails there; the line worth reporting is the one where the quote opened.
    """
    if mark is None:
        return None
    last = None
    try:
        for token in yaml.scan(text):
            if token.start_mark.index >= mark.index:
                break
            last = token
    except yaml.YAMLError:
        pass
    if isinstance(last, yaml.ScalarToken) and last.style in ('"', "'") and last.end_mark.line > last.start_mark.line:
        return last.start_mark
    return None


def _valid_parts(data: dict) -> dict:
    """Return the response sets, items, scales and examples of ``data`` that are valid on their own."""

    def valid(model: type[BaseModel], value: object) -> BaseModel | None:
        try:
            return model.model_validate(value)
        except ValidationError:
            return None

    sets = data.get("response_sets")
    items = data.get("items")
    scales = data.get("scales")
    # An invalid part is kept as a placeholder: its own problems are already reported (and
    # are skipped by the caller), while the other parts are still checked against it, so an
    # item naming a broken response set or a second scale naming a missing item is judged
    # as it should be, and the positions of the others do not shift.
    parsed_sets = {
        k: valid(ResponseSet, v) or ResponseSet.model_construct(min=0, max=0, labels={}, scores=None, missing_codes=[])
        for k, v in (sets.items() if isinstance(sets, dict) else [])
    }
    parsed_items = [
        valid(Item, i) or Item.model_construct(id=str(i.get("id", "")) if isinstance(i, dict) else "")
        for i in (items if isinstance(items, list) else [])
    ]
    parsed_scales = [valid(Scale, s) or _placeholder_scale(s) for s in (scales if isinstance(scales, list) else [])]
    examples = data.get("examples")
    parsed_examples = [
        valid(Example, e) or Example.model_construct(answers=[None] * len(parsed_items), scores={}, working="")
        for e in (examples if isinstance(examples, list) else [])
    ]
    return {
        "response_sets": parsed_sets,
        "items": parsed_items,  # positions kept, so that problems point at the right line
        "scales": parsed_scales,
        "examples": parsed_examples,
    }


def _placeholder_scale(raw: object) -> Scale:
    """Stand in for an invalid scale, keeping what a composite needs of it (its id, items and min_items)."""
    raw = raw if isinstance(raw, dict) else {}
    items = raw.get("items")
    m = raw.get("min_items")
    return Scale.model_construct(
        id=str(raw.get("id", "")),
        items=[str(i) for i in items] if isinstance(items, list) else [],
        method="mean",
        min_items=m if isinstance(m, int) and m >= 1 else 1,
    )


def check_directory(directory: Path) -> dict[Path, list[Problem]]:
    """Check every ``*.yaml`` file of an instrument directory, and the rule across files.

    Scale ids must be unique across the library (the scale scores, the analyses and
    ``params.yaml`` name scales by id alone); a clash is reported at the later file's line.
    """
    result = {path: check_file(path) for path in sorted(directory.glob("*.yaml"))}
    owner: dict[str, Path] = {}
    for path, problems in result.items():
        if problems:
            continue
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=_LOADER)
        for n, scale in enumerate(yaml.load(text, Loader=_LOADER)["scales"]):
            first = owner.setdefault(scale["id"], path)
            if first != path:
                problems.append(
                    Problem(
                        path,
                        _line_of(root, ("scales", n, "id")),
                        f"scales[{n}].id",
                        f"scale id '{scale['id']}' is also used by {first.name}; scale ids must be unique",
                    )
                )
    return result


def load_instrument(path: Path) -> Instrument:
    """Load one instrument file, raising :class:`InstrumentError` with every problem."""
    problems = check_file(path)
    if problems:
        raise InstrumentError(problems)
    return Instrument.model_validate(yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER))


def load_library(directory: Path) -> dict[str, Instrument]:
    """Load every instrument of a directory, keyed by id; fail with all problems of all files."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise InstrumentError([Problem(directory, 0, "", "holds no instrument files (*.yaml)")])
    problems = [p for found in check_directory(directory).values() for p in found]
    if problems:
        raise InstrumentError(problems)
    return {
        path.stem: Instrument.model_validate(yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER))
        for path in files
    }
