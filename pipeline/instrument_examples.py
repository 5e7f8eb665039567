"""Hand-worked answer sheets (``examples:``) of the instrument files, scored and compared.

Every instrument file carries at least two answer sheets with the scores worked out by hand
(instruments/README.md, *Worked examples*).  :func:`example_problems` scores each sheet with
:func:`pipeline.scoring.score` and reports every expected score that the scoring does not
reproduce; :func:`coverage_problems` reports what a file's sheets leave untested.  Both give
:class:`~pipeline.instruments.Problem` lines (``file:line: where: problem``), so a methodologist
runs ``intervisie instruments check`` and never writes Python; the test suite runs the same
checks on every file of ``instruments/``.

The checks are not part of :func:`pipeline.instruments.load_library`: a typo in a worked
example is a fault of the documentation of the key, not of the data, and does not stop a run.
"""

from __future__ import annotations

import ast
import math
import operator
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.instruments import _LOADER, Instrument, Problem, _line_of, check_directory
from pipeline.scoring import ScoringError, score

#: absolute tolerance of an expected score (write a repeating decimal as a fraction: "13 / 6")
TOLERANCE = 1e-9
MIN_EXAMPLES = 2
README = "instruments/README.md#worked-examples"

_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def expected_value(value: float | str | None) -> float | None:
    """Return an expected score as a number: a number, ``None``, or arithmetic such as ``"67 / 19 * 23"``.

    Only numbers, ``+ - * /`` and parentheses are allowed (the expression is parsed, never run);
    anything else raises :class:`ValueError`.
    """
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)

    def evaluate(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](evaluate(node.left), evaluate(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -evaluate(node.operand)
        raise ValueError(f"'{value}' is not arithmetic on numbers (only + - * / and parentheses)")

    try:
        return evaluate(ast.parse(value.strip(), mode="eval").body)
    except (SyntaxError, ZeroDivisionError) as exc:
        raise ValueError(f"'{value}' is not arithmetic on numbers: {exc}") from exc


def example_problems(path: Path, inst: Instrument) -> list[Problem]:
    """Return every expected score of the file's examples that :func:`~pipeline.scoring.score` does not give.

    Each sheet is scored as one row; an expected ``null`` must come out missing, a number must
    agree within :data:`TOLERANCE` (absolute).
    """
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_LOADER)
    problems: list[Problem] = []
    for n, example in enumerate(inst.examples):
        where = f"examples[{n}]"
        row = pd.DataFrame([[np.nan if a is None else a for a in example.answers]], columns=inst.item_ids())
        try:
            scored = score(row, inst).set_index("scale")
        except ScoringError as exc:
            problems.append(Problem(path, _line_of(root, ("examples", n, "answers")), f"{where}.answers", str(exc)))
            continue
        for scale_id, value in example.scores.items():
            loc = ("examples", n, "scores", scale_id)
            try:
                expected = expected_value(value)
            except ValueError as exc:
                problems.append(Problem(path, _line_of(root, loc), f"{where}.scores.{scale_id}", str(exc)))
                continue
            got = float(scored.loc[scale_id, "score"])
            status = scored.loc[scale_id, "score_status"]
            if expected is None and math.isnan(got):
                continue
            if expected is not None and not math.isnan(got) and abs(got - expected) <= TOLERANCE:
                continue
            worked = "no score" if expected is None else f"{expected:.10g}"
            found = f"no score ({status})" if math.isnan(got) else f"{got:.10g} ({status})"
            problems.append(
                Problem(
                    path,
                    _line_of(root, loc),
                    f"{where}.scores.{scale_id}",
                    f"worked out by hand as {worked}, but the scoring rules of this file give {found}: "
                    "check the arithmetic, the reverse-keyed items, method, min_items and multiplier",
                )
            )
    return problems


def coverage_problems(path: Path, inst: Instrument) -> list[Problem]:
    """Return what the file's examples leave untested (each problem says what to add).

    Required: at least :data:`MIN_EXAMPLES` sheets; every scale has an expected score in some
    sheet; some sheet leaves an item unanswered (the ``min_items`` rule); and, when the
    instrument has reverse-keyed items, some sheet answers one of them with a code that its
    reversal changes (not the middle of the range); and, for each composite, some sheet gives it
    an expected score (a number or ``null``) while one of its subscales is left without one
    (the ``min_subscales`` rule).
    """
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_LOADER)
    line = (
        _line_of(root, ("examples",)) if inst.examples else max(1, len(path.read_text(encoding="utf-8").splitlines()))
    )
    add = f"add them under `examples:` in {path.name} (see {README})"
    if len(inst.examples) < MIN_EXAMPLES:
        return [
            Problem(
                path,
                line,
                "examples",
                f"{len(inst.examples)} hand-worked answer sheet(s); at least {MIN_EXAMPLES} are required: {add}",
            )
        ]
    problems: list[Problem] = []
    covered = {scale_id for example in inst.examples for scale_id in example.scores}
    untested = [s.id for s in inst.scales if s.id not in covered]
    if untested:
        problems.append(Problem(path, line, "examples", f"no worked score for scale(s) {untested}: {add}"))
    if not any(a is None for example in inst.examples for a in example.answers):
        problems.append(
            Problem(path, line, "examples", f"no sheet leaves an item unanswered (to test min_items): {add}")
        )
    problems += [Problem(path, line, "examples", f"{msg}: {add}") for msg in _composite_gaps(inst)]
    reversed_items = [n for n, item in enumerate(inst.items) if item.reverse]
    if reversed_items:
        flipped = False
        for example in inst.examples:
            for n in reversed_items:
                code = example.answers[n] if n < len(example.answers) else None
                rs = inst.response_set_of(inst.items[n])
                if code is not None and 2 * code != rs.min + rs.max:
                    flipped = True
        if not flipped:
            problems.append(
                Problem(
                    path,
                    line,
                    "examples",
                    f"no sheet answers a reverse-keyed item off the middle of its range (to test the key): {add}",
                )
            )
    return problems


def _composite_gaps(inst: Instrument) -> list[str]:
    """Composites no sheet tests with a subscale left unscored (too few of its items answered)."""
    position = {item_id: n for n, item_id in enumerate(inst.item_ids())}
    by_id = {s.id: s for s in inst.scales}
    gaps = []
    for composite in (s for s in inst.scales if s.is_composite):
        tested = False
        for example in inst.examples:
            if composite.id not in example.scores:
                continue
            for sub in (by_id[i] for i in composite.subscales or [] if i in by_id):
                answered = [example.answers[position[i]] for i in sub.items if position[i] < len(example.answers)]
                tested |= sum(a is not None for a in answered) < sub.min_items
        if not tested:
            gaps.append(
                f"no sheet scores composite '{composite.id}' with one of its subscales unscored (to test min_subscales)"
            )
    return gaps


def check_library(directory: Path) -> dict[Path, list[Problem]]:
    """Check a directory like :func:`~pipeline.instruments.check_directory`, and the examples of each valid file."""
    results = check_directory(directory)
    for path, problems in results.items():
        if problems:
            continue  # the worked examples are judged once the file itself is valid
        inst = Instrument.model_validate(yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER))
        problems.extend(example_problems(path, inst) + coverage_problems(path, inst))
    return results
