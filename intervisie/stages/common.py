"""The DVC stages of the analyses (shared parts, and the data-quality stage): read ``data_clean/`` (or supplied canonical tables), write ``results/``.

Each stage takes its paths from the command line (``dvc.yaml``) and its choices from one
section of ``params.yaml``, calls the pure functions of the ``analyses`` modules and writes
tidy CSV tables atomically.  Reports read these tables and never compute a statistic.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from analyses.attrition import baseline_differences, missing_patterns, response_flow
from analyses.data import wave_scores
from analyses.parallel import workers_from
from intervisie.choices import read_params, resolve_analyses
from pipeline.atomic import write_text
from pipeline.design import Design, load_design
from pipeline.errors import InputError

Progress = Callable[[str], None]
Choice = TypeVar("Choice", bound=BaseModel)

#: the study's design beside the clean tables (written by the design stage, read by every analysis)
DESIGN_FILE = "design.json"


class AnalysisParams(BaseModel):
    """The study's design and the researcher's ``analyses`` choices, as every analysis stage reads them.

    ``design`` is the whole design (``data_clean/design.json``, from study.yaml); ``waves`` ...
    ``secondary`` are read from it. The rest are the ``analyses`` choices of ``params.yaml`` with
    every design-dependent default filled in (:func:`intervisie.choices.resolve_analyses`).
    """

    model_config = ConfigDict(extra="allow", frozen=True, arbitrary_types_allowed=True)

    design: Design
    reliability_threshold: float = 0.70
    growth: dict = {}

    @property
    def waves(self) -> list[str]:
        """Wave ids in the order of their months."""
        return self.design.wave_ids

    @property
    def baseline(self) -> str:
        """The baseline wave."""
        return self.design.baseline

    @property
    def short_term(self) -> str:
        """The short-term wave (the growth model's knot)."""
        return self.design.short_term

    @property
    def knot_months(self) -> float:
        """Months from the baseline to the short-term wave."""
        return self.design.knot_months

    @property
    def primary(self) -> list[str]:
        """The primary outcome scales."""
        return list(self.design.primary)

    @property
    def secondary(self) -> list[str]:
        """The secondary outcome scales."""
        return list(self.design.secondary)

    def outcomes(self) -> list[str]:
        """Return the primary, then the secondary outcome scales."""
        return self.design.outcomes()

    def section(self, name: str) -> dict:
        """One resolved sub-section of the choices (``implementation``, ``survival``, ``power``, ...)."""
        return dict((self.model_extra or {}).get(name) or {})


def stage_workers() -> int:
    """The number of processes a stage fits independent models in: ``INTERVISIE_WORKERS``, default one per core.

    Raises
    ------
    InputError
        If the variable is not a whole number >= 1.
    """
    try:
        return workers_from(os.environ)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def load_analysis_params(params_path: Path, design_path: Path) -> AnalysisParams:
    """Read the design (``design.json``) and the ``analyses`` choices of ``params.yaml``, checked together."""
    design = load_design(design_path)
    resolved = resolve_analyses(read_params(params_path).get("analyses") or {}, design, params_path)
    return AnalysisParams(design=design, **resolved)


def choice_section(params: AnalysisParams, name: str, model: type[Choice], params_path: Path) -> Choice:
    """Validate the resolved ``analyses.<name>`` choices as ``model``; every problem names its key."""
    try:
        return model.model_validate(params.section(name))
    except ValidationError as exc:
        lines = [f"  analyses.{name}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise InputError(f"The parameters file {params_path} is not valid:\n" + "\n".join(lines)) from None


SKIPPED_COLUMNS = ["stage", "analysis", "outcome", "reason"]


def write_skipped(out_dir: Path, stage: str, rows: list[dict[str, str]]) -> None:
    """Write ``skipped.csv``: every analysis this design (or these data) could not support, with its reason.

    Each row has ``analysis`` (what was left out), ``outcome`` (empty when it concerns no single
    outcome) and ``reason`` (a plain sentence for the methods appendix). The file is always
    written, with only its header when nothing was skipped, so DVC and the reports can rely on it.
    """
    table = pd.DataFrame(
        [{"stage": stage, "analysis": r["analysis"], "outcome": r.get("outcome", ""), "reason": r["reason"]} for r in rows],
        columns=SKIPPED_COLUMNS,
    )
    write_table(out_dir / "skipped.csv", table.drop_duplicates().reset_index(drop=True))


def read_clean(clean_dir: Path, names: tuple[str, ...] = ("participants", "responses", "scale_scores")) -> dict:
    """Read canonical tables; a missing one is named with where to find the canonical form."""
    tables = {}
    for name in names:
        path = clean_dir / f"{name}.parquet"
        if not path.exists():
            raise InputError(f"{path} is missing: the analyses need {', '.join(names)} (see docs/canonical-form.md)")
        tables[name] = pd.read_parquet(path)
    return tables


def write_table(path: Path, table: pd.DataFrame) -> None:
    """Write a tidy result table as CSV, atomically and byte-for-byte reproducibly."""
    write_text(path, table.to_csv(index=False, lineterminator="\n"))


def analysis_scores(
    clean_dir: Path, params: AnalysisParams, *, exclude: Collection[int] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return participants and the long wave-score table the analyses share.

    ``exclude`` names responses (``response_id``) to leave out, e.g. those the careless-responding
    screen flagged (:func:`flagged_responses`), for a sensitivity run.
    """
    tables = read_clean(clean_dir)
    kept = tables["scale_scores"]
    if exclude is not None:
        kept = kept[~kept["response_id"].isin(list(exclude))]
    scores = wave_scores(tables["participants"], tables["responses"], kept, knot=params.knot_months)
    return tables["participants"], scores


def flagged_responses(path: Path) -> list[int]:
    """Return the ``response_id`` of every response flagged in a careless-screen table (``careless.parquet``)."""
    if not path.exists():
        raise InputError(f"{path} is missing: run `intervisie careless` first (it writes the flags)")
    table = pd.read_parquet(path)
    missing = {"response_id", "flagged"} - set(table.columns)
    if missing:
        raise InputError(f"{path} lacks column(s) {sorted(missing)}: it is not a careless-screen table")
    return sorted(int(i) for i in table.loc[table["flagged"].astype(bool), "response_id"])


CARELESS_SUMMARY_COLUMNS = ["occasion", "wave", "index", "n", "n_flagged", "share"]


def careless_summary(careless: pd.DataFrame) -> pd.DataFrame:
    """Return per occasion, wave and index: responses with the index (``n``), flagged, and their share.

    ``index == "any"`` counts responses flagged overall (``flagged``: at least ``min_flags`` indices).
    """
    values = {
        "longstring": "longstring",
        "irv": "irv",
        "mahalanobis": "mahalanobis_p",
        "even_odd": "even_odd",
        "speed": "seconds_per_item",
    }
    frame = careless.assign(wave=careless["wave"].astype("string").fillna(""))
    rows = []
    for (occasion, wave), part in frame.groupby(["occasion", "wave"], sort=True):
        for index, column in [*values.items(), ("any", None)]:
            n = len(part) if column is None else int(part[column].notna().sum())
            n_flagged = int(part["flagged" if column is None else f"flag_{index}"].sum())
            share = n_flagged / n if n else float("nan")
            rows.append(
                {"occasion": occasion, "wave": wave, "index": index, "n": n, "n_flagged": n_flagged, "share": share}
            )
    return pd.DataFrame(rows, columns=CARELESS_SUMMARY_COLUMNS)


def run_quality(clean_dir: Path, params_path: Path, out_dir: Path, progress: Progress) -> None:
    """Data quality and attrition: response flow, missing patterns, completer vs dropout baselines.

    Works for any design: one or two arms, any number of waves (the missing-data patterns have
    one digit per wave of the design), one or more programmes. Everything it could not compute
    is listed in ``skipped.csv``.
    """
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    participants, scores = analysis_scores(clean_dir, params)
    skipped: list[dict[str, str]] = []
    flow = response_flow(participants, scores, waves=params.waves)
    write_table(out_dir / "response_flow.csv", flow)
    write_table(out_dir / "missing_patterns.csv", missing_patterns(participants, scores, waves=params.waves))
    last = params.waves[-1]
    differences = baseline_differences(scores, scales=params.outcomes(), baseline=params.baseline, last=last)
    write_table(out_dir / "baseline_differences.csv", differences)
    skipped += [
        {"analysis": f"baseline differences, completers vs dropouts ({row.arm})", "outcome": str(row.scale),
         "reason": str(row.note)}
        for row in differences.itertuples()
        if isinstance(row.note, str)
    ]
    careless_path = clean_dir / "careless.parquet"
    if careless_path.exists():  # written by `intervisie careless`; absent in supplied data
        summary = careless_summary(pd.read_parquet(careless_path))
    else:
        summary = pd.DataFrame(columns=CARELESS_SUMMARY_COLUMNS)
        skipped.append({"analysis": "careless-responding summary",
                        "reason": f"{careless_path.name} not found (no item responses were screened)"})
    write_table(out_dir / "careless_summary.csv", summary)
    write_skipped(out_dir, "quality", skipped)
    roster = flow[flow["stage"] == "roster"].groupby("arm")["n"].sum()
    answered = flow[flow["stage"] == last].groupby("arm")["n"].sum().reindex(roster.index, fill_value=0)
    metrics = {f"retention_{arm}_{last}": round(float(answered[arm] / n), 6) for arm, n in roster.items() if n > 0}
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote response flow, missing patterns and baseline differences to {out_dir}")
