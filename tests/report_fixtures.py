"""Small designs and result tables for the report tests: what the stages would write, made by hand.

The documents read only ``design.json`` and ``results/<stage>/*.csv``; these helpers write both
for odd designs (one arm, two waves, one programme) so the documents can be tested without
running the pipeline.  Numbers are planted: a test can check that a document prints exactly
them (it never computes a statistic).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.design import Design, ScaleInfo
from tests.design_factory import make_test_design

SCALES = {
    "brs": ScaleInfo(id="brs", instrument="brs", name_nl="Veerkracht (BRS)", name_en="Resilience (BRS)",
                     higher_is_better=True, occasion="wave", min=1, max=5),
    "cbi_work": ScaleInfo(id="cbi_work", instrument="cbi", name_nl="Werkgerelateerde burn-out (CBI)",
                          name_en="Work-related burnout (CBI)", higher_is_better=False, occasion="wave", min=0, max=100),
    "gras": ScaleInfo(id="gras", instrument="gras", name_nl="Reflectievermogen (GRAS)", name_en="Reflective ability (GRAS)",
                      higher_is_better=True, occasion="wave", min=23, max=115),
}  # fmt: skip
PROGRAMMES = {
    "coschappen": ("coschappen", "clerkships (coschappen)"),
    "anios": ("a(n)ios", "residents (a(n)ios)"),
    "buitenlandse_artsen": ("buitenlandse artsen", "foreign-trained doctors"),
}


def make_design(*, comparison: bool, waves: dict[str, float], programmes: list[str], title: str = "Pilot X",
                assignment: str = "self_selected", covariates: tuple = ()) -> Design:  # fmt: skip
    """A design as the design stage would write it (scales: BRS and CBI primary, GRAS secondary)."""
    return make_test_design(
        waves=waves, programmes={p: PROGRAMMES[p] for p in programmes}, comparison=comparison, scales=SCALES,
        primary=["brs", "cbi_work"], secondary=["gras"], study_id="pilot", title=title, demo=False,
        assignment=assignment, covariates=covariates,
        wave_label=lambda _w, m: ("Start", "Baseline") if m == 0 else (f"{m:g} maanden", f"{m:g} months"),
    )  # fmt: skip


def write(root: Path, stage: str, name: str, rows: list[dict] | pd.DataFrame, columns: list[str] | None = None) -> None:
    """Write ``root/<stage>/<name>.csv`` (header only when ``rows`` is empty)."""
    (root / stage).mkdir(parents=True, exist_ok=True)
    table = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=columns)
    table.to_csv(root / stage / f"{name}.csv", index=False)


EFFECT_COLUMNS = ["outcome", "term", "estimate", "std_error", "df", "p_val", "ci95_low", "ci95_high", "n", "n_obs",
                  "std_estimate", "std_ci95_low", "std_ci95_high"]  # fmt: skip
SKIPPED_COLUMNS = ["stage", "analysis", "outcome", "reason"]
#: the planted numbers of power/sample_size.csv (arbitrary, so a test can see they were read, not computed)
ENROL_D02, GROUPS_D02, ENROL_D05 = 5183, 817, 843


def single_arm_two_wave_results(root: Path, *, n: int = 60) -> Path:
    """Results of a single-arm study with waves t0 and t1 (the long term and the arms cannot be estimated).

    BRS improves clearly (0.45 SD [0.30, 0.60]); CBI work's CI runs from 0.35 SD of benefit to 0.25 SD of
    harm (too wide to tell).  No implementation, sensitivity or survival results; the stages said why.
    """
    write(root, "growth", "effects", [
        {"outcome": "brs", "term": "(Intercept)", "estimate": 3.4, "ci95_low": 3.3, "ci95_high": 3.5, "n": n},
        {"outcome": "brs", "term": "short", "estimate": 0.27, "std_error": 0.05, "df": 50.0, "p_val": 0.0001,
         "ci95_low": 0.18, "ci95_high": 0.36, "n": n, "n_obs": 2 * n, "std_estimate": 0.45, "std_ci95_low": 0.30,
         "std_ci95_high": 0.60},
        {"outcome": "cbi_work", "term": "short", "estimate": -0.8, "std_error": 4.0, "df": 50.0, "p_val": 0.84,
         "ci95_low": -5.6, "ci95_high": 4.0, "n": n, "n_obs": 2 * n, "std_estimate": -0.05, "std_ci95_low": -0.35,
         "std_ci95_high": 0.25},
        {"outcome": "gras", "term": "short", "estimate": 2.0, "std_error": 1.0, "df": 50.0, "p_val": 0.05,
         "ci95_low": 0.0, "ci95_high": 4.0, "n": n, "n_obs": 2 * n, "std_estimate": 0.2, "std_ci95_low": 0.0,
         "std_ci95_high": 0.4},
    ], EFFECT_COLUMNS)  # fmt: skip
    write(root, "growth", "wave_means", [
        {"outcome": o, "wave": w, "months": m, "estimate": e, "std_error": 0.1, "df": 50, "ci95_low": e - 0.2,
         "ci95_high": e + 0.2} for o, base in (("brs", 3.4), ("cbi_work", 45.0)) for w, m, e in
        (("t0", 0, base), ("t1", 3, base + 0.3))])  # fmt: skip
    write(root, "growth", "structures", [{"outcome": o, "formula": "y ~ short + (1 | participant)", "status": "accepted",
                                          "reason": ""} for o in ("brs", "cbi_work", "gras")])  # fmt: skip
    write(root, "growth", "moderation", [], ["outcome", "terms", "chisq", "df", "p_val"])
    write(root, "growth", "random_effects", [{"outcome": "brs", "structure": "s", "group": "participant",
                                              "term": "(Intercept)", "term2": None, "sd": 0.5, "corr": None}])  # fmt: skip
    write(root, "growth", "model_fit", [{"outcome": "brs", "structure": "s", "n_obs": 2 * n, "n_participant": n,
                                         "loglik_reml": -10.0, "aic": 30.0, "bic": 40.0, "converged": True,
                                         "singular": False}])  # fmt: skip
    write(root, "growth", "skipped", [
        {"stage": "growth", "analysis": "long-term slope", "outcome": "",
         "reason": "no wave after the short-term wave: the long-term change cannot be estimated"},
        {"stage": "growth", "analysis": "moderation by programme", "outcome": "",
         "reason": "one programme: nothing to compare"}], SKIPPED_COLUMNS)  # fmt: skip
    write(root, "change", "between_arms", [], ["outcome", "programme", "level_a", "level_b", "n_a", "n_b", "mean_a",
                                               "mean_b", "mean_diff", "d", "g", "ci95_low", "ci95_high"])  # fmt: skip
    write(root, "change", "within_change", [
        {"outcome": o, "arm": "intervisie", "programme": "all", "n": n, "mean_pre": 3.0, "mean_post": 3.2,
         "mean_change": 0.2, "g_av": g, "ci95_low": g - 0.2, "ci95_high": g + 0.2} for o, g in
        (("brs", 0.41), ("cbi_work", -0.03), ("gras", 0.2))])  # fmt: skip
    write(root, "change", "reliable_change", [
        {"arm": "intervisie", "category": c, "count": k, "n": n, "share": k / n, "ci95_low": 0.0, "ci95_high": 1.0,
         "programme": "all", "scale": s, "reliability": 0.8} for s in ("brs", "cbi_work") for c, k in
        (("improved", n // 5), ("unchanged", n - n // 5 - 2 * n // 15), ("deteriorated", 2 * n // 15))])  # fmt: skip
    write(root, "change", "responsiveness", [
        {"outcome": o, "arm": "intervisie", "programme": "all", "n": n, "mean_change": 0.2, "sd_change": 0.5,
         "srm": 0.4, "ci95_low": 0.2, "ci95_high": 0.6} for o in ("brs", "cbi_work", "gras")])  # fmt: skip
    write(root, "change", "skipped", [{"stage": "change", "analysis": "difference between arms", "outcome": "",
                                       "reason": "no comparison cohort: the difference between arms cannot be estimated"}])  # fmt: skip
    write(root, "power", "sample_size", [
        {"outcome": "cbi_work", "horizon": h, "wave": "t1", "basis": b, "effect_d": d, "n_enrol": e, "groups_needed": g,
         "retention": 0.8, "alpha": 0.05, "power": 0.8}
        for h in ("short", "long") for b, d, e, g in (("observed", 0.05, 99999, 9999), ("d=0.2", 0.2, ENROL_D02, GROUPS_D02),
                                                       ("d=0.5", 0.5, ENROL_D05, 131))])  # fmt: skip
    write(root, "power", "components", [{"outcome": "cbi_work", "horizon": h, "wave": "t1", "icc_change": 0.02}
                                        for h in ("short", "long")])  # fmt: skip
    write(root, "quality", "response_flow", [
        {"arm": "intervisie", "programme": "coschappen", "stage": s, "n": k, "share_of_roster": k / 80}
        for s, k in (("roster", 80), ("t0", 70), ("t1", 60))])  # fmt: skip
    write(root, "quality", "missing_patterns", [
        {"arm": "intervisie", "pattern": p, "n": k, "share": k / 80, "waves_answered": str(p).count("1")}
        for p, k in ((11, 55), (10, 15), (1, 5), (0, 5))])  # fmt: skip
    write(root, "quality", "baseline_differences", [], ["scale", "arm", "n_completers", "n_dropouts", "difference",
                                                        "hedges_g", "p_val"])  # fmt: skip
    (root / "quality" / "metrics.json").write_text(json.dumps({"retention_intervisie_t1": 0.75}), encoding="utf-8")
    write(root, "reliability", "reliability", [
        {"instrument": s, "scale": s, "wave": "t0", "programme": "all", "n": 70, "k": 6, "alpha": 0.8, "ci95_low": 0.7,
         "ci95_high": 0.9, "omega_total": 0.8, "min_r_item_rest": 0.4, "flag_below_threshold": False}
        for s in ("brs", "cbi_work", "gras")])  # fmt: skip
    write(root, "implementation", "factors_ranked", [], ["outcome", "factor", "level", "effect", "ci_low", "ci_high",
                                                         "p_val", "direction", "rank"])  # fmt: skip
    write(root, "implementation", "skipped", [{"stage": "implementation", "analysis": "implementation factors",
                                               "outcome": "", "reason": "the study has no session log"}])  # fmt: skip
    return root
