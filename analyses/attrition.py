"""Data quality and attrition: who answered which wave, and whether those who stayed differ.

Three tidy tables for the methods report and the board's caveats paragraph:

* :func:`response_flow` -- from the roster to each wave, per arm and programme;
* :func:`missing_patterns` -- which combinations of waves participants answered;
* :func:`baseline_differences` -- baseline scores of completers vs dropouts (Welch t-test and
  Hedges' g), the usual check on whether attrition is selective (e.g. Little 1988; Enders 2010).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def answered_waves(scores: pd.DataFrame) -> pd.DataFrame:
    """Return one row per participant x wave with at least one valid scale score."""
    return scores[["participant", "wave"]].drop_duplicates()


def response_flow(participants: pd.DataFrame, scores: pd.DataFrame, *, waves: list[str]) -> pd.DataFrame:
    """Count the roster and the respondents of each wave, per arm and programme.

    Returns columns ``arm``, ``programme``, ``stage`` (``roster`` or a wave id), ``n`` and
    ``share_of_roster`` (respondents / roster of that arm and programme).
    """
    roster = participants.groupby(["arm", "programme"], observed=True).size().rename("n").reset_index()
    roster["stage"] = "roster"
    answered = answered_waves(scores).merge(participants[["participant", "arm", "programme"]], on="participant")
    per_wave = answered.groupby(["arm", "programme", "wave"], observed=True).size().rename("n").reset_index()
    per_wave = per_wave.rename(columns={"wave": "stage"})
    flow = pd.concat([roster, per_wave[per_wave["stage"].isin(waves)]], ignore_index=True)
    base = roster.set_index(["arm", "programme"])["n"]
    flow["share_of_roster"] = flow["n"] / flow.set_index(["arm", "programme"]).index.map(base).to_numpy()
    order = {stage: k for k, stage in enumerate(["roster", *waves])}
    flow["_order"] = flow["stage"].map(order)
    flow = flow.sort_values(["arm", "programme", "_order"], kind="stable").drop(columns="_order")
    return flow.astype({"n": "int64"}).reset_index(drop=True)[["arm", "programme", "stage", "n", "share_of_roster"]]


def missing_patterns(participants: pd.DataFrame, scores: pd.DataFrame, *, waves: list[str]) -> pd.DataFrame:
    """Count each pattern of answered waves (``"1101"`` = answered all but the third), per arm."""
    answered = answered_waves(scores)
    grid = pd.crosstab(answered["participant"], answered["wave"]).reindex(columns=waves, fill_value=0)
    grid = grid.reindex(participants["participant"], fill_value=0)
    pattern = grid.gt(0).astype(int).astype(str).agg("".join, axis=1).rename("pattern")
    table = pattern.to_frame().join(participants.set_index("participant")["arm"])
    counts = table.groupby(["arm", "pattern"], observed=True).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby("arm")["n"].transform("sum")
    counts["waves_answered"] = counts["pattern"].str.count("1")
    return counts.sort_values(["arm", "n", "pattern"], ascending=[True, False, True], kind="stable").reset_index(
        drop=True
    )


def hedges_g_independent(x: np.ndarray, y: np.ndarray) -> float:
    """Hedges' g for two independent samples: :math:`J (\\bar x - \\bar y) / s_p`.

    :math:`s_p` is the pooled SD and :math:`J = 1 - 3 / (4 (n_x + n_y) - 9)` the small-sample
    correction (Hedges 1981; Borenstein et al. 2009, eq. 4.22).
    """
    nx, ny = len(x), len(y)
    pooled = np.sqrt(((nx - 1) * np.var(x, ddof=1) + (ny - 1) * np.var(y, ddof=1)) / (nx + ny - 2))
    correction = 1 - 3 / (4 * (nx + ny) - 9)
    return float(correction * (np.mean(x) - np.mean(y)) / pooled)


def baseline_differences(
    scores: pd.DataFrame, *, scales: list[str], baseline: str, last: str, min_n: int = 2
) -> pd.DataFrame:
    """Compare baseline scores of those who answered the last wave (completers) and those who did not.

    For each scale and arm: n, mean and SD of both groups, the mean difference
    (completers - dropouts), Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``; R:
    ``t.test(x, y)``) and Hedges' g.  A group with fewer than ``min_n`` people gives NaN.
    """
    answered_last = set(scores.loc[scores["wave"] == last, "participant"])
    rows = []
    for scale in scales:
        base = scores[(scores["scale"] == scale) & (scores["wave"] == baseline)]
        for arm, part in base.groupby("arm", observed=True):
            stayed = part["participant"].isin(answered_last).to_numpy()
            x, y = part["score"].to_numpy()[stayed], part["score"].to_numpy()[~stayed]
            row = {
                "scale": scale,
                "arm": arm,
                "n_completers": len(x),
                "n_dropouts": len(y),
                "mean_completers": np.nan,
                "sd_completers": np.nan,
                "mean_dropouts": np.nan,
                "sd_dropouts": np.nan,
                "difference": np.nan,
                "t_val": np.nan,
                "df": np.nan,
                "p_val": np.nan,
                "hedges_g": np.nan,
            }
            if len(x) >= min_n and len(y) >= min_n:
                test = stats.ttest_ind(x, y, equal_var=False)
                row.update(
                    mean_completers=x.mean(),
                    sd_completers=x.std(ddof=1),
                    mean_dropouts=y.mean(),
                    sd_dropouts=y.std(ddof=1),
                    difference=x.mean() - y.mean(),
                    t_val=float(test.statistic),
                    df=float(test.df),
                    p_val=float(test.pvalue),
                    hedges_g=hedges_g_independent(x, y),
                )
            rows.append(row)
    return pd.DataFrame(rows)
