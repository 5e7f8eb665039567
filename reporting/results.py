"""Access to finished results for the documents: load tables, read effects in plain language.

The documents never compute a statistic: they read the tidy tables and ``metrics.json`` files
of ``results/<stage>/`` as the analysis stages wrote them, hide what is about fewer than
``min_cell`` people (:mod:`reporting.suppress`) and put words to the numbers.  What the study
*is* (its waves, programmes, arms and outcomes) they read from the design the ``design`` stage
wrote (:func:`pipeline.design.load_design`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from pipeline.design import Design, load_design
from pipeline.errors import InputError
from reporting import fmt
from reporting.texts import phrase, pick, size_word

#: the columns of every stage's ``skipped.csv``
SKIPPED_COLUMNS = ["stage", "analysis", "outcome", "reason"]
#: the order the stages run in (skipped analyses are listed in this order)
STAGE_ORDER = ("quality", "reliability", "invariance", "change", "mediation", "power", "growth", "implementation", "careless",
               "sensitivity", "survival")  # fmt: skip


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
        try:
            return pd.read_csv(path, keep_default_na=True)
        except pd.errors.EmptyDataError:  # a file without even a header: nothing to show
            return pd.DataFrame()

    def optional(self, stage: str, name: str) -> pd.DataFrame | None:
        """Read a table a document shows only when its stage has run."""
        return self.table(stage, name) if self.has(stage, f"{name}.csv") else None

    def usable(self, stage: str, name: str, columns: tuple[str, ...] = ()) -> pd.DataFrame | None:
        """A table with at least one row (and the named columns), or None when absent, empty or incomplete."""
        table = self.optional(stage, name)
        if table is None or table.empty or any(c not in table.columns for c in columns):
            return None
        return table

    def metrics(self, stage: str) -> dict:
        """Read ``results/<stage>/metrics.json`` (empty when the stage wrote none)."""
        path = self.root / stage / "metrics.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def figure(self, stage: str, name: str) -> Path | None:
        """The path of ``results/<stage>/figures/<name>.png`` when it exists."""
        path = self.root / stage / "figures" / f"{name}.png"
        return path if path.is_file() else None

    def skipped(self) -> pd.DataFrame:
        """Every stage's ``skipped.csv`` in one table (stages in the order they run), rows as written.

        A column ``directory`` names the ``results/`` directory each row was read from.
        """
        frames = []
        if self.root.is_dir():
            stages = sorted((p for p in self.root.iterdir() if (p / "skipped.csv").is_file()),
                            key=lambda p: (STAGE_ORDER.index(p.name) if p.name in STAGE_ORDER else len(STAGE_ORDER),
                                           p.name))  # fmt: skip
            for stage in stages:
                table = self.optional(stage.name, "skipped")
                if table is not None and not table.empty:
                    table = table.reindex(columns=SKIPPED_COLUMNS)
                    table["stage"] = table["stage"].fillna(stage.name)
                    table["directory"] = stage.name
                    frames.append(table)
        if not frames:
            return pd.DataFrame(columns=[*SKIPPED_COLUMNS, "directory"])
        out = pd.concat(frames, ignore_index=True)
        return out.fillna({"outcome": "", "analysis": "", "reason": ""})

    def skip_reason(self, stage: str, outcome: str | None = None) -> str | None:
        """The reason a stage gave for leaving something out (for ``outcome``, or for all), else None."""
        skipped = self.skipped()
        rows = skipped[(skipped["stage"] == stage) | (skipped["directory"] == stage)]
        if outcome is not None:
            own = rows[rows["outcome"].astype(str) == outcome]
            rows = own if not own.empty else rows[rows["outcome"].astype(str) == ""]
        return str(rows["reason"].iloc[0]) if not rows.empty else None


def absent(res: Results, stage: str, lang: str, *, what: tuple[str, str] | None = None, outcome: str | None = None) -> str:
    """The one plain sentence a section prints instead of its results when they are absent.

    Names the stage's reason from ``skipped.csv`` when there is one (in English: the stages write
    their reasons in English, so the Dutch sentence points to the methods appendix instead).
    """
    reason = res.skip_reason(stage, outcome)
    subject = pick(what, lang) if what else pick(("Dit onderdeel", "This part"), lang)
    if reason:
        return pick((f"*{subject} kon voor deze studie niet worden berekend; de reden staat in de methodenbijlage.*\n",
                     f"*{subject} could not be computed for this study: {reason.rstrip('.')}.*\n"), lang)  # fmt: skip
    return pick((f"*{subject} is voor deze studie niet beschikbaar.*\n",
                 f"*{subject} is not available for this study.*\n"), lang)  # fmt: skip


def reading(
    effect: float, low: float, high: float, better_higher: bool, lang: str, *, std_effect: float | None = None,
    short: bool = False, change: bool = False,
) -> str:
    """Put an effect in words: size, direction for the reader (improvement or not) and the CI.

    The size follows Cohen (1988) on the standardised effect (``std_effect``, or ``effect``
    itself when it is already standardised, e.g. Hedges' g).  ``better_higher`` says whether a
    higher score is the better one (the scale's instrument file).  When the 95% CI includes zero
    the reading is "no clear difference" (``change``: "no clear change", for change within one
    group).  ``short`` leaves out the words on the CI (for tables that print the CI beside it).

    Reference: Cohen J. *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed. 1988.
    """
    if any(pd.isna(v) for v in (effect, low, high)):
        return fmt.NONE
    std = effect if std_effect is None or pd.isna(std_effect) else std_effect
    if low <= 0 <= high:
        none = phrase("no_clear_change" if change else "no_clear", lang)
        return none if short else f"{none} ({phrase('ci_includes', lang)})"
    good = (effect > 0) == better_higher
    word = phrase("improvement" if good else "deterioration", lang)
    text = f"{size_word(std, lang)} {word}"
    return text if short else f"{text} ({phrase('ci_excludes', lang)})"


def beneficial(effect: float, low: float, high: float, better_higher: bool) -> bool | None:
    """True when the CI excludes zero on the good side, False on the bad side, None when it includes zero (or is missing)."""
    if any(pd.isna(v) for v in (effect, low, high)) or low <= 0 <= high:
        return None
    return bool((effect > 0) == better_higher)


def effect_row(effects: pd.DataFrame | None, outcome: str, term: str) -> pd.Series | None:
    """One fixed effect of the growth models (``effects.csv``), or None when absent or not estimated."""
    if effects is None or effects.empty or not {"outcome", "term", "estimate"} <= set(effects.columns):
        return None
    hit = effects[(effects["outcome"] == outcome) & (effects["term"] == term)]
    if hit.empty or pd.isna(hit["estimate"].iloc[0]):
        return None
    return hit.iloc[0]


def open_results(results: str, params_file: str, design_file: str) -> tuple[Results, dict, Design]:
    """The results a document reads, the parsed ``params.yaml`` and the study's design.

    ``reports.min_cell`` of ``params.yaml`` sets the suppression; the design is the
    ``design.json`` the design stage wrote.
    """
    params_path = Path(params_file)
    if not params_path.is_file():
        raise InputError(f"{params_path} is missing: the reports read their choices from params.yaml")
    params = yaml.safe_load(params_path.read_text(encoding="utf-8")) or {}
    min_cell = int((params.get("reports") or {}).get("min_cell", 5))
    design = load_design(Path(design_file))
    return Results(Path(results), min_cell=min_cell), params, design
