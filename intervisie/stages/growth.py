"""The long-term effects stage (``intervisie analyze growth``): growth models, wave means, figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analyses.adjusted_growth import ADJUSTED_COLUMNS, adjusted_growth_results
from analyses.data import covariate_frame
from analyses.figures import forest_figure, save_png, trajectory_figure
from analyses.growth import growth_results
from intervisie.stages.adjusted import AdjustedParams, clean_covariates, design_covariates
from intervisie.stages.common import (
    DESIGN_FILE,
    AnalysisParams,
    Progress,
    analysis_scores,
    choice_section,
    flagged_responses,
    load_analysis_params,
    stage_workers,
    write_skipped,
    write_table,
)
from pipeline.atomic import write_text
from pipeline.design import Design
from pipeline.errors import InputError


def months_text(months: float) -> str:
    """``6 months``, ``1 month``, ``1.5 months``."""
    return f"{months:g} month" + ("" if months == 1 else "s")


def term_title(term: str, design: Design) -> str:
    """A reader's title for an effect term, built from the design (the short-term wave's months, the arms).

    ``short:armintervisie`` -> "intervisie vs comparison, difference in change from baseline to 6 months";
    ``short`` of a single-arm design -> "change within intervisie, baseline to 6 months". Other terms
    are shown as they are named.
    """
    when = months_text(design.wave_months[design.short_term])
    time, _, arm = term.partition(":")
    if time not in ("short", "long") or arm not in ("", "armintervisie"):
        return term
    if arm:
        what = f"change from baseline to {when}" if time == "short" else f"yearly slope after {when}"
        return f"intervisie vs comparison, difference in {what}"
    return f"change within intervisie, {f'baseline to {when}' if time == 'short' else f'yearly slope after {when}'}"


def effect_comparison(all_effects: pd.DataFrame, screened: pd.DataFrame, terms: list[str]) -> pd.DataFrame:
    """Return the effect terms with and without flagged responses side by side (a sensitivity table).

    ``n_dropped`` is the number of scores the screened model lost (``n_obs`` all minus screened).
    """
    keep = ["outcome", "term", "estimate", "ci95_low", "ci95_high", "p_val", "n_obs"]
    both = all_effects[keep].merge(screened[keep], on=["outcome", "term"], how="inner", suffixes=("_all", "_screened"))
    both = both[both["term"].isin(terms)].reset_index(drop=True)
    both["difference"] = both["estimate_screened"] - both["estimate_all"]
    both["n_dropped"] = both["n_obs_all"] - both["n_obs_screened"]
    return both


def run_growth(
    clean_dir: Path,
    instruments_dir: Path,
    params_path: Path,
    out_dir: Path,
    progress: Progress,
    *,
    exclude_flagged: Path | None = None,
    compare_with: Path | None = None,
) -> None:
    """Long-term effects: piecewise growth models per outcome, wave means, figures, moderation tests.

    The model, its effect terms and moderation terms follow the study's design (``design.json``):
    two arms or one, two to six waves, one programme or several. What the design or the data
    cannot support is listed in ``skipped.csv`` with its reason, never a crash. With
    ``exclude_flagged`` (``careless.parquet``) the responses it flags are left out (a sensitivity
    run); with ``compare_with`` (the full run's ``effects.csv``) ``comparison.csv`` sets the effect
    terms of both runs side by side (:func:`effect_comparison`). ``instruments_dir`` is not read:
    scale names come from the design.
    """
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    design = params.design
    exclude = flagged_responses(exclude_flagged) if exclude_flagged is not None else None
    _participants, scores = analysis_scores(clean_dir, params, exclude=exclude)
    spec = params.growth
    terms = list(spec["effect_terms"])
    results = growth_results(
        scores,
        scales=params.outcomes(),
        fixed=spec["fixed"],
        random=list(spec["random"]),
        moderation=spec["moderation"],
        waves=design.wave_months,
        baseline=params.baseline,
        knot=params.knot_months,
        effect_terms=terms,
        programmes=design.programme_ids,
        workers=stage_workers(),
    )
    skipped = results.pop("skipped").to_dict("records")
    for name, table in results.items():
        write_table(out_dir / f"{name}.csv", table)
    if exclude is None:  # the careless-responding sensitivity run compares the unadjusted effects only
        adjusted, adjusted_skipped = adjusted_growth(clean_dir, params, params_path, scores)
        write_table(out_dir / "adjusted_effects.csv", adjusted)
        skipped.extend(adjusted_skipped)
    notes = _figures(results, design, params.outcomes(), terms, out_dir / "figures")
    write_text(out_dir / "figures" / "README.txt", "\n".join(notes) + "\n")
    effects = results["effects"]
    metrics: dict[str, object] = {}
    for scale in params.primary:
        for term in terms:
            hit = effects[(effects["outcome"] == scale) & (effects["term"] == term)].dropna(subset=["estimate"])
            if len(hit):
                metrics[f"{scale}__{term.replace(':', '_')}"] = round(float(hit["estimate"].iloc[0]), 6)
                metrics[f"{scale}__{term.replace(':', '_')}__p_val"] = float(f"{hit['p_val'].iloc[0]:.6g}")
    if exclude is not None:
        metrics["responses_excluded"] = len(exclude)
    if compare_with is not None:
        if not compare_with.exists():
            raise InputError(f"{compare_with} is missing: run the growth stage on all responses first")
        comparison = effect_comparison(pd.read_csv(compare_with), effects, terms)
        write_table(out_dir / "comparison.csv", comparison)
    write_skipped(out_dir, "growth_careless" if exclude is not None else "growth", skipped)
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    fitted = effects.dropna(subset=["estimate"])["outcome"].nunique()
    progress(f"wrote growth models of {fitted} outcomes ({len(skipped)} analyses skipped) to {out_dir}")


def adjusted_growth(
    clean_dir: Path, params: AnalysisParams, params_path: Path, scores: pd.DataFrame
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """The adjusted long-term effects of a non-randomised design, and the analyses skipped.

    Propensity weights (``analyses.adjusted.estimand`` in params.yaml, overlap weights by
    default) and the declared baseline covariates x time in the design's growth model
    (:mod:`analyses.adjusted_growth`). Only for a design that was not randomised, has a
    comparison cohort and a wave after the short-term wave; otherwise no rows and the reason.
    The covariates are ``covariates.parquet`` beside the clean tables (none when it is absent).
    """
    design = params.design
    why = None
    if design.randomised:
        why = f"the design is {design.assignment.replace('_', ' ')}: the unadjusted growth model is the primary analysis"
    elif not design.has_comparison:
        why = "no comparison cohort: there is no difference between arms to adjust"
    elif not design.long_term:
        why = "no wave after the short-term wave: there is no long-term effect to adjust"
    if why is not None:
        return pd.DataFrame(columns=ADJUSTED_COLUMNS), [{"analysis": "adjusted long-term effects", "reason": why}]
    options = choice_section(params, "adjusted", AdjustedParams, params_path)
    covariates = design_covariates(design)
    wide = covariate_frame(clean_covariates(clean_dir), {c.name: c.kind for c in covariates})
    spec = params.growth
    results = adjusted_growth_results(
        scores,
        wide,
        covariates,
        scales=params.outcomes(),
        fixed=spec["fixed"],
        random=list(spec["random"]),
        terms=list(spec["effect_terms"]),
        baseline=params.baseline,
        programmes=design.programme_ids,
        estimand=options.estimand,
        workers=stage_workers(),
    )
    return results["effects"], results["skipped"].to_dict("records")


def _figures(results: dict[str, pd.DataFrame], design: Design, scales: list[str], terms: list[str], folder: Path) -> list[str]:
    """Draw the trajectories and forest plots that the results allow; return the lines of ``README.txt``."""
    effects, means = results["effects"], results["wave_means"]
    comparison = design.has_comparison
    notes = [
        "Figures of the growth stage: estimated means per wave (trajectory_<outcome>.png) and the",
        "standardised effects of all outcomes per effect term (forest_<term>.png)."
        if comparison
        else "standardised change within intervisie of all outcomes per term (forest_<term>.png); the study has no "
        "comparison cohort, so no difference between arms is shown.",
    ]
    for scale in scales:
        part = means[means["outcome"] == scale]
        if not len(part):
            notes.append(f"no trajectory of {scale}: its growth model could not be fitted (see skipped.csv)")
            continue
        name = design.scales[scale].name_en if scale in design.scales else scale
        title = name if comparison else f"{name}: change within intervisie"
        save_png(trajectory_figure(part, title=title, ylabel=scale), folder / f"trajectory_{scale}.png")
    for term in terms:
        rows = effects[(effects["term"] == term)].dropna(subset=["std_estimate"]) if "std_estimate" in effects else effects[:0]
        if not len(rows):
            notes.append(f"no forest plot of {term}: no outcome has a standardised estimate (see skipped.csv)")
            continue
        forest = pd.DataFrame(
            {
                "label": [design.scales[o].name_en if o in design.scales else o for o in rows["outcome"]],
                "estimate": rows["std_estimate"],
                "ci95_low": rows["std_ci95_low"],
                "ci95_high": rows["std_ci95_high"],
            }
        )
        xlabel = "standardised effect" if comparison else "standardised change (SD of the baseline scores)"
        save_png(
            forest_figure(forest, title=term_title(term, design), xlabel=xlabel),
            folder / f"forest_{term.replace(':', '_')}.png",
        )
    return notes
