"""Access to finished results for the documents: load tables, read effects in plain language.

The documents never compute a statistic: they read the tidy tables and ``metrics.json`` files
of ``results/<stage>/`` as the analysis stages wrote them, hide what is about fewer than
``min_cell`` people (:mod:`reporting.suppress`) and put words to the numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from pipeline.errors import InputError
from reporting import fmt
from reporting.texts import higher_is_better, phrase, size_word


@dataclass(frozen=True)
class Results:
    """The results directory a document reads (``results/`` as written in ``dvc.yaml``)."""

    root: Path
    min_cell: int = 5

    def has(self, stage: str, name: str | None = None) -> bool:
        """Whether a stage (or one of its files) has been written."""
        path = self.root / stage if name is None else self.root / stage / name
        return path.exists()

    def table(self, stage: str, name: str) -> pd.DataFrame:
        """Read ``results/<stage>/<name>.csv``; a missing file is an :class:`InputError` naming it."""
        path = self.root / stage / f"{name}.csv"
        if not path.is_file():
            raise InputError(f"{path} is missing: run the {stage} stage first (dvc repro)")
        return pd.read_csv(path, keep_default_na=True)

    def optional(self, stage: str, name: str) -> pd.DataFrame | None:
        """Read a table a document shows only when its stage has run."""
        return self.table(stage, name) if self.has(stage, f"{name}.csv") else None

    def metrics(self, stage: str) -> dict:
        """Read ``results/<stage>/metrics.json`` (empty when the stage wrote none)."""
        path = self.root / stage / "metrics.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def figure(self, stage: str, name: str) -> Path | None:
        """The path of ``results/<stage>/figures/<name>.png`` when it exists."""
        path = self.root / stage / "figures" / f"{name}.png"
        return path if path.is_file() else None


def reading(
    effect: float, low: float, high: float, scale: str, lang: str, *, std_effect: float | None = None, short: bool = False
) -> str:
    """Put an effect in words: size, direction for the reader (improvement or not) and the CI.

    The size follows Cohen (1988) on the standardised effect (``std_effect``, or ``effect``
    itself when it is already standardised, e.g. Hedges' g).  A higher score is better on
    resilience and engagement, worse on burnout scales.  When the 95% CI includes zero the
    reading is "no clear difference".  ``short`` leaves out the words on the CI (for tables
    that print the CI beside the reading).

    Reference: Cohen J. *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed. 1988.
    """
    if any(pd.isna(v) for v in (effect, low, high)):
        return fmt.NONE
    std = effect if std_effect is None else std_effect
    if low <= 0 <= high:
        return phrase("no_clear", lang) if short else f"{phrase('no_clear', lang)} ({phrase('ci_includes', lang)})"
    good = (effect > 0) == higher_is_better(scale)
    word = phrase("improvement" if good else "deterioration", lang)
    text = f"{size_word(std, lang)} {word}"
    return text if short else f"{text} ({phrase('ci_excludes', lang)})"


def beneficial(effect: float, low: float, high: float, scale: str) -> bool | None:
    """True when the CI excludes zero on the good side, False on the bad side, None when it includes zero."""
    if pd.isna(low) or pd.isna(high) or low <= 0 <= high:
        return None
    return (effect > 0) == higher_is_better(scale)


def effect_row(effects: pd.DataFrame, outcome: str, term: str) -> pd.Series | None:
    """One fixed effect of the growth models (``effects.csv``), or None when absent."""
    hit = effects[(effects["outcome"] == outcome) & (effects["term"] == term)]
    return None if hit.empty else hit.iloc[0]


def open_results(results: str, params_file: str) -> tuple[Results, dict]:
    """The results a document reads and the parsed ``params.yaml`` (``reports.min_cell`` sets suppression)."""
    params_path = Path(params_file)
    if not params_path.is_file():
        raise InputError(f"{params_path} is missing: the reports read their choices from params.yaml")
    params = yaml.safe_load(params_path.read_text(encoding="utf-8")) or {}
    min_cell = int((params.get("reports") or {}).get("min_cell", 5))
    return Results(Path(results), min_cell=min_cell), params
