"""lme4 model formulas for the mixed-model engine: R's fixed-effect algebra and R-style names.

The engine (``mixedlm``) reads lme4 formulas but its fixed-effect parser knows only ``+``,
``:`` and ``*`` between plain variables. R users write ``arm * (short + long)`` or
``(a + b + c)^2``; :func:`parse_formula` expands such fixed parts with R's rules
(``terms.formula``: ``a*b = a + b + a:b``, ``a/b = a + a:b``, ``(..)^k`` = interactions up to
order *k*, ``-`` removes a term, ``0``/``-1`` drop the intercept, terms ordered by degree)
and passes random-effect terms such as ``(1 + time | participant)`` or
``(1 | group/participant)`` through unchanged: the engine expands ``/`` in grouping factors
itself, into ``(1 | group) + (1 | group:participant)`` as lme4 does.

:func:`r_coefficient_name` turns the engine's column names of treatment-coded factors
(``arm.1``) into R's (``armcoach``), so tables read as ``summary(lmer(...))`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations

__all__ = ["ParsedFormula", "parse_formula", "r_coefficient_name"]

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z._][A-Za-z0-9._]*|`[^`]+`)|(?P<num>\d+)|(?P<op>[-+*:/^()]))")


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4 formula split into its parts.

    Attributes
    ----------
    response : str
        The response column.
    intercept : bool
        Whether the fixed part has an intercept.
    fixed_terms : tuple of tuple of str
        Fixed-effect terms in R's order (by degree, then by first appearance); each term is the
        tuple of its variables, ordered as R labels them.
    random_terms : tuple of str
        The random-effect terms, verbatim, e.g. ``"(1 + time | participant)"``.
    """

    response: str
    intercept: bool
    fixed_terms: tuple[tuple[str, ...], ...]
    random_terms: tuple[str, ...]

    @property
    def fixed_variables(self) -> list[str]:
        """Fixed-effect variables, in order of first appearance."""
        return list(dict.fromkeys(v for term in self.fixed_terms for v in term))

    @property
    def random_variables(self) -> list[str]:
        """Variables used by the random terms: slopes and grouping factors (``a/b``, ``a:b`` split)."""
        names: list[str] = []
        for term in self.random_terms:
            inner = term.strip()[1:-1]
            lhs, _, rhs = inner.partition("||") if "||" in inner else inner.partition("|")
            for part in (lhs, rhs):
                names.extend(t.strip("`") for t in re.findall(r"[A-Za-z._][A-Za-z0-9._]*|`[^`]+`", part))
        return list(dict.fromkeys(names))

    @property
    def variables(self) -> list[str]:
        """Every data column the model needs."""
        return list(dict.fromkeys([self.response, *self.fixed_variables, *self.random_variables]))

    def engine_formula(self) -> str:
        """The formula written out for the engine: fixed terms expanded, random terms as given."""
        parts = ["1" if self.intercept else "0", *(":".join(term) for term in self.fixed_terms)]
        return f"{self.response} ~ " + " + ".join([*parts, *self.random_terms])


def _split_top_level(rhs: str) -> tuple[list[str], str]:
    """Split the right-hand side at top-level ``+``; return the random terms and the fixed rest."""
    chunks: list[str] = []
    depth, current = 0, []
    for ch in rhs:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            raise ValueError(f"Unbalanced parentheses in formula right-hand side: {rhs!r}")
        if ch == "+" and depth == 0:
            chunks.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise ValueError(f"Unbalanced parentheses in formula right-hand side: {rhs!r}")
    chunks.append("".join(current))
    random_terms: list[str] = []
    fixed: list[str] = []
    for chunk in (c.strip() for c in chunks):
        if chunk.startswith("(") and chunk.endswith(")") and "|" in chunk:
            random_terms.append(" ".join(chunk.split()))
        elif "|" in chunk:
            raise ValueError(f"A random-effect term must be written in parentheses, as (1 | group): {chunk!r}")
        elif chunk:
            fixed.append(chunk)
        else:
            raise ValueError(f"Empty term in formula right-hand side: {rhs!r}")
    return random_terms, " + ".join(fixed)


class _FixedParser:
    """Recursive-descent parser for R's fixed-effect formula algebra (a subset of ``terms.formula``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        self.seen: dict[str, int] = {}  # variables in order of first appearance: R's label order
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None:
                raise ValueError(f"Cannot read the fixed part of the formula at {text[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            if kind == "name":
                self.seen.setdefault(m.group(kind).strip("`"), len(self.seen))
            pos = m.end()
        self.i = 0
        self.intercept = True

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise ValueError(f"Formula ends too early: {self.text!r}")
        self.i += 1
        return tok

    def parse(self) -> list[frozenset[str]]:
        if not self.tokens:
            return []
        terms = self._sum()
        if self._peek() is not None:
            raise ValueError(f"Unexpected {self._peek()[1]!r} in formula {self.text!r}")  # type: ignore[index]
        return terms

    def _sum(self) -> list[frozenset[str]]:
        sign = "+"
        if self._peek() == ("op", "-"):
            self._take()
            sign = "-"
        terms: list[frozenset[str]] = []
        while True:
            part = self._product(sign)
            if sign == "+":
                terms.extend(t for t in part if t not in terms)
            else:
                terms = [t for t in terms if t not in part]
            tok = self._peek()
            if tok not in (("op", "+"), ("op", "-")):
                return terms
            sign = self._take()[1]

    def _product(self, sign: str) -> list[frozenset[str]]:
        left = self._power(sign)
        while self._peek() in (("op", "*"), ("op", "/")):
            op = self._take()[1]
            right = self._power(sign)
            cross = [a | b for a in left for b in right]
            if op == "*":
                left = _unique([*left, *right, *cross])
            else:  # a/b = a + a:b, with every variable of a in the interaction
                whole = frozenset().union(*left) if left else frozenset()
                left = _unique([*left, *[whole | b for b in right]])
        return left

    def _power(self, sign: str) -> list[frozenset[str]]:
        base = self._colon(sign)
        if self._peek() == ("op", "^"):
            self._take()
            kind, value = self._take()
            if kind != "num":
                raise ValueError(f"'^' needs a whole number in formula {self.text!r}")
            order = int(value)
            base = _unique([frozenset().union(*c) for k in range(1, order + 1) for c in combinations(base, k)])
        return base

    def _colon(self, sign: str) -> list[frozenset[str]]:
        left = self._atom(sign)
        while self._peek() == ("op", ":"):
            self._take()
            right = self._atom(sign)
            left = _unique([a | b for a in left for b in right])
        return left

    def _atom(self, sign: str) -> list[frozenset[str]]:
        kind, value = self._take()
        if kind == "op" and value == "(":
            inner = self._sum()
            if self._take() != ("op", ")"):
                raise ValueError(f"Missing ')' in formula {self.text!r}")
            return inner
        if kind == "num":
            if value == "0":
                self.intercept = sign == "-"  # "+ 0" drops it, "- 0" keeps it
            elif value == "1":
                self.intercept = sign == "+"
            else:
                raise ValueError(f"Only 0 and 1 may stand alone in a formula, not {value!r}")
            return []
        if kind == "name":
            if self._peek() == ("op", "("):
                raise ValueError(
                    f"Function calls such as {value}(...) are not supported in the fixed part: "
                    f"add the transformed variable to the data as a column and name it in the formula"
                )
            return [frozenset([value.strip("`")])]
        raise ValueError(f"Unexpected {value!r} in formula {self.text!r}")


def _unique(terms: list[frozenset[str]]) -> list[frozenset[str]]:
    return list(dict.fromkeys(t for t in terms if t))


_GROUPING = re.compile(r"\s*(?:[A-Za-z._][A-Za-z0-9._]*|`[^`]+`)\s*(?:[/:]\s*(?:[A-Za-z._][A-Za-z0-9._]*|`[^`]+`)\s*)*")


def _check_random_term(term: str) -> None:
    """Raise ``ValueError`` unless ``term`` reads ``(terms | grouping)`` or ``(terms || grouping)``.

    ``terms`` follow the fixed-effect algebra (``1``, ``0 + short``, ``1 + short``); the
    grouping is one or more column names joined by ``/`` (nesting) or ``:``.
    """
    inner = term.strip()[1:-1]
    bar = "||" if "||" in inner else "|"
    lhs, _, rhs = inner.partition(bar)
    if "|" in rhs or not lhs.strip() or not _GROUPING.fullmatch(rhs):
        raise ValueError(
            f"A random-effect term reads (terms | grouping), e.g. (1 + short | participant), not {term!r}"
        )
    try:
        _FixedParser(lhs).parse()
    except ValueError as exc:
        raise ValueError(f"Cannot read the left of '|' in the random-effect term {term!r}: {exc}") from exc


def parse_formula(formula: str) -> ParsedFormula:
    """Parse an lme4 formula with R's fixed-effect algebra.

    Parameters
    ----------
    formula : str
        For example ``"y ~ arm * (short + long) + (1 | group/participant)"``.

    Returns
    -------
    ParsedFormula
        Response, intercept, fixed terms in R's order and the random terms verbatim.

    Raises
    ------
    ValueError
        If the formula has no ``~``, no random term, unbalanced parentheses or unsupported syntax
        (function calls in the fixed part).

    Examples
    --------
    >>> parse_formula("y ~ arm * (short + long) + (1 | group/participant)").engine_formula()
    'y ~ 1 + arm + short + long + arm:short + arm:long + (1 | group/participant)'
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"A model formula needs the form 'response ~ terms', got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    response = lhs.strip().strip("`")
    if not response or re.search(r"[()+*/^:|~]", response):
        raise ValueError(
            f"The response must be a single column name, got {lhs.strip()!r}: "
            "add a transformed response to the data as a column"
        )
    random_terms, fixed_text = _split_top_level(rhs)
    for term in random_terms:
        _check_random_term(term)
    if not random_terms:
        raise ValueError(
            f"Formula {formula!r} has no random-effect term such as (1 | group): use a linear model instead"
        )
    parser = _FixedParser(fixed_text)
    terms = parser.parse()
    ordered = sorted(terms, key=len)  # stable: R orders by degree, then as written
    labelled = tuple(tuple(sorted(t, key=parser.seen.__getitem__)) for t in ordered)
    return ParsedFormula(response, parser.intercept, labelled, tuple(random_terms))


def r_coefficient_name(
    name: str,
    category_levels: dict[str, list[object]],
    full_rank_factor: str | None = None,
) -> str:
    """Rename an engine coefficient (``arm.1:short``) as R names it (``armcoach:short``).

    Parameters
    ----------
    name : str
        Engine coefficient name; interactions are joined by ``:``.
    category_levels : dict
        Levels of each categorical predictor, reference level first (treatment contrasts).
    full_rank_factor : str, optional
        The factor coded with one column per level (first factor of a model without intercept),
        whose engine columns carry the level (``arm.control``) rather than its index.

    Returns
    -------
    str
        The R name, or ``name`` unchanged when it is not a factor column.
    """
    pieces = []
    for piece in name.split(":"):
        var, dot, suffix = piece.rpartition(".")
        levels = category_levels.get(var) if dot else None
        if levels is not None:
            if var == full_rank_factor:
                piece = f"{var}{suffix}"
            elif suffix.isdigit() and 0 < int(suffix) < len(levels):
                piece = f"{var}{levels[int(suffix)]}"
        pieces.append(piece)
    return ":".join(pieces)
