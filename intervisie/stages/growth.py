"""The long-term effects stage (``intervisie analyze growth``): growth models, wave means, figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analyses.figures import forest_figure, save_png, trajectory_figure
from analyses.growth import growth_results
from intervisie.stages.common import (
    DESIGN_FILE,
    Progress,
    analysis_scores,
    flagged_responses,
    load_analysis_params,
    write_table,
)
from pipeline.atomic import write_text
from pipeline.errors import InputError
from pipeline.instruments import load_library

#: readable titles of the effect terms of the default model (others are shown as they are named)
TERM_TITLES = {
    "short:armintervisie": "short term (difference in change, baseline to 3 months)",
    "long:armintervisie": "long term (difference in yearly slope after 3 months)",
}


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

    With ``exclude_flagged`` (``careless.parquet``) the responses it flags are left out (a sensitivity
    run); with ``compare_with`` (the full run's ``effects.csv``) ``comparison.csv`` sets the effect
    terms of both runs side by side (:func:`effect_comparison`).
    """
    params = load_analysis_params(params_path, clean_dir / DESIGN_FILE)
    exclude = flagged_responses(exclude_flagged) if exclude_flagged is not None else None
    _participants, scores = analysis_scores(clean_dir, params, exclude=exclude)
    library = load_library(instruments_dir)
    names = {s.id: s.name.en for inst in library.values() for s in inst.scales}
    waves = scores.drop_duplicates("wave").set_index("wave")["months"].reindex(params.waves).dropna().to_dict()
    spec = params.growth
    results = growth_results(
        scores,
        scales=params.outcomes(),
        fixed=spec["fixed"],
        random=list(spec["random"]),
        moderation=spec["moderation"],
        waves=waves,
        baseline=params.baseline,
        knot=params.knot_months,
    )
    for name, table in results.items():
        write_table(out_dir / f"{name}.csv", table)
    effects, means = results["effects"], results["wave_means"]
    for scale in params.outcomes():
        part = means[means["outcome"] == scale]
        if len(part):
            save_png(
                trajectory_figure(part, title=names.get(scale, scale), ylabel=scale),
                out_dir / "figures" / f"trajectory_{scale}.png",
            )
    for term in spec["effect_terms"]:
        rows = effects[effects["term"] == term].rename(
            columns={"std_estimate": "estimate_", "estimate": "raw", "std_ci95_low": "low", "std_ci95_high": "high"}
        )
        forest = pd.DataFrame(
            {
                "label": rows["outcome"],
                "estimate": rows["estimate_"],
                "ci95_low": rows["low"],
                "ci95_high": rows["high"],
            }
        )
        save_png(
            forest_figure(
                forest, title=f"intervisie vs comparison, {TERM_TITLES.get(term, term)}", xlabel="standardised effect"
            ),
            out_dir / "figures" / f"forest_{term.replace(':', '_')}.png",
        )
    metrics = {}
    for scale in params.primary:
        for term in spec["effect_terms"]:
            hit = effects[(effects["outcome"] == scale) & (effects["term"] == term)]
            if len(hit):
                metrics[f"{scale}__{term.replace(':', '_')}"] = round(float(hit["estimate"].iloc[0]), 6)
                metrics[f"{scale}__{term.replace(':', '_')}__p_val"] = float(f"{hit['p_val'].iloc[0]:.6g}")
    if exclude is not None:
        metrics["responses_excluded"] = len(exclude)
    if compare_with is not None:
        if not compare_with.exists():
            raise InputError(f"{compare_with} is missing: run the growth stage on all responses first")
        comparison = effect_comparison(pd.read_csv(compare_with), effects, list(spec["effect_terms"]))
        write_table(out_dir / "comparison.csv", comparison)
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    progress(f"wrote growth models of {effects['outcome'].nunique()} outcomes to {out_dir}")
