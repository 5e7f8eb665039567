"""The analysis data set: scale scores in long form with the design variables beside them.

Everything here is a pure function of tables in the canonical form (``docs/canonical-form.md``),
so the analyses run the same on the pipeline's ``data_clean/`` and on scored data a research
team supplies itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WAVE_COLUMNS = ["participant", "group", "coach", "programme", "arm", "format", "wave", "months", "scale", "score"]


def piecewise_time(months: pd.Series | np.ndarray, *, knot: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Split time since baseline into a short-term and a long-term part.

    ``short = min(months, knot) / knot`` runs from 0 at baseline to 1 at the knot (about three
    months); ``long = max(months - knot, 0) / 12`` counts years after the knot.  A growth model
    ``score ~ arm * (short + long)`` then has the short-term change as the coefficient of
    ``short`` and the yearly long-term slope as that of ``long`` (a piecewise linear, or
    "spline with one knot", growth model; Singer & Willett 2003, ch. 6).
    """
    m = np.asarray(months, dtype=float)
    return np.minimum(m, knot) / knot, np.maximum(m - knot, 0.0) / 12.0


def wave_scores(
    participants: pd.DataFrame, responses: pd.DataFrame, scale_scores: pd.DataFrame, *, knot: float = 3.0
) -> pd.DataFrame:
    """Return valid wave scores in long form (participant x wave x scale) with design variables.

    Session evaluations and scores without a valid value (too few items answered) are left
    out; the design columns come from ``participants`` (programme, arm, group, coach, format).
    """
    needed = {"participant", "wave", "scale", "score", "score_status", "response_id"}
    missing = needed - set(scale_scores.columns)
    if missing:
        raise ValueError(f"scale_scores lacks column(s) {sorted(missing)}")
    scores = scale_scores[scale_scores["wave"].notna() & (scale_scores["score_status"].astype(str) == "ok")]
    scores = scores.merge(responses[["response_id", "months"]], on="response_id", how="left", validate="many_to_one")
    design = participants[["participant", "group", "coach", "programme", "arm", "format"]].astype({"participant": str})
    out = scores.assign(
        participant=scores["participant"].astype(str),
        scale=scores["scale"].astype(str),
        wave=scores["wave"].astype(str),
    )
    out = out.merge(design, on="participant", how="inner", validate="many_to_one")
    out["short"], out["long"] = piecewise_time(out["months"], knot=knot)
    out["intervisie"] = (out["arm"] == "intervisie").astype(float)
    columns = [*WAVE_COLUMNS, "short", "long", "intervisie"]
    return out[columns].sort_values(["scale", "participant", "months"], kind="stable").reset_index(drop=True)


def change_table(scores: pd.DataFrame, *, scale: str, pre: str, post: str) -> pd.DataFrame:
    """Return one row per participant with both waves of one scale: ``pre`` and ``post`` scores."""
    part = scores[(scores["scale"] == scale) & scores["wave"].isin([pre, post])]
    wide = part.pivot_table(index="participant", columns="wave", values="score", aggfunc="first")
    if pre not in wide or post not in wide:
        return pd.DataFrame(columns=["participant", "programme", "arm", "pre", "post"])
    wide = wide[[pre, post]].dropna().rename(columns={pre: "pre", post: "post"}).reset_index()
    design = part.drop_duplicates("participant")[["participant", "programme", "arm", "group"]]
    return wide.merge(design, on="participant", how="left").rename_axis(None, axis=1)


def covariate_frame(covariates: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Return the baseline covariates wide: one row per participant, one column per covariate.

    ``covariates`` is the long clean table (``participant, covariate, value, level``);
    ``kinds`` maps each covariate the design declares to its kind (``numeric``, ``binary``,
    ``categorical``), in the declared order.  Numeric and binary covariates are floats (binary
    1 = true), categorical ones strings; a value not known is missing.  A covariate without any
    row is an all-missing column, so the columns are always those of ``kinds``.
    """
    people = pd.Index(sorted(covariates["participant"].astype(str).unique()), name="participant")
    out = pd.DataFrame(index=people)
    for name, kind in kinds.items():
        part = covariates[covariates["covariate"].astype(str) == name]
        who = pd.Index(part["participant"].astype(str))
        if kind == "categorical":
            out[name] = pd.Series(part["level"].to_numpy(dtype=object), index=who).reindex(people).astype("string")
        else:
            out[name] = pd.Series(part["value"].to_numpy(dtype=float), index=who).reindex(people)
    return out.reset_index()
