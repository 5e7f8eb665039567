"""Formatting finished numbers for readers: Dutch or English decimals, CIs, p-values, Pandoc tables.

Nothing is computed here but the display: a number is rounded for print only.  A cell that
disclosure control has hidden prints as ``×`` (the CBS sign for "secret"), a number that
does not exist as ``–``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from reporting.texts import check_lang

HIDDEN = "×"
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
NONE = "–"


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: object, digits: int = 2, lang: str = "nl", *, hidden: bool = False, signed: bool = False) -> str:
    """A number with ``digits`` decimals (decimal comma in Dutch); ``×`` when hidden, ``–`` when missing."""
    if hidden:
        return HIDDEN
    if _missing(x):
        return NONE
    value = float(x)
    if round(value, digits) == 0:
        value = 0.0  # no "-0.00": a board member would read a minus where there is none
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    text = text.replace("-", "−")  # a real minus sign: it does not break across lines
    return text.replace(".", ",") if check_lang(lang) == "nl" else text


def count(x: object, *, hidden: bool = False) -> str:
    """A whole number of people (thin-space thousands are avoided: tables stay narrow)."""
    if hidden:
        return HIDDEN
    return NONE if _missing(x) else str(round(float(x)))


def pct(share: object, lang: str = "nl", *, hidden: bool = False, digits: int = 0) -> str:
    """A share (0-1) as a percentage."""
    if hidden:
        return HIDDEN
    if _missing(share):
        return NONE
    return num(100 * float(share), digits, lang) + "%"


def ci(low: object, high: object, digits: int = 2, lang: str = "nl", *, hidden: bool = False) -> str:
    """A confidence interval: ``[0,25; 0,66]`` in Dutch, ``[0.25, 0.66]`` in English."""
    if hidden:
        return HIDDEN
    separator = "; " if check_lang(lang) == "nl" else ", "
    return f"[{num(low, digits, lang)}{separator}{num(high, digits, lang)}]"


def pval(p: object, lang: str = "nl") -> str:
    """A p-value as usually reported: ``p < 0.001`` below a thousandth, else three decimals."""
    if _missing(p):
        return NONE
    if float(p) < 0.001:
        return "p < " + num(0.001, 3, lang)
    return "p = " + num(p, 3, lang)


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    align: str | None = None,
    widths: Sequence[int] | None = None,
    caption: str | None = None,
) -> str:
    """A Pandoc pipe table; ``align`` holds one of ``l``/``r``/``c`` per column.

    ``widths`` are relative column widths (Pandoc reads them from the number of dashes of the
    separator line when the table is wider than the page, which it then fills).
    """
    n = len(header)
    align = align or "l" + "r" * (n - 1)
    if widths is None:  # proportional to the longest entry of each column (capped: long text wraps)
        widths = [min(40, max(3, len(str(h)), *(len(str(r[i])) for r in rows))) for i, h in enumerate(header)]
    marks = {"l": (":", "-"), "r": ("-", ":"), "c": (":", ":")}
    separator = []
    for a, w in zip(align, widths, strict=True):
        left, right = marks[a]
        separator.append(left + "-" * max(1, w) + right)

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_UNESCAPED_PIPE.sub(r"\\|", str(c)) for c in cells) + " |"

    lines = [line(header), "|" + "|".join(separator) + "|", *(line(r) for r in rows)]
    if caption:
        lines += ["", f": {caption}"]
    return "\n".join(lines) + "\n"
