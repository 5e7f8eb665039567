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
    participants = participants.astype({"participant": str})
    roster = participants.groupby(["arm", "programme"], observed=True).size().rename("n").reset_index()
    roster["stage"] = "roster"
    answered = answered_waves(scores).astype({"participant": str})
    answered = answered.merge(participants[["participant", "arm", "programme"]], on="participant")
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
    """Count each pattern of answered waves, per arm: one digit per wave of ``waves``, in order.

    With the design's four waves ``"1101"`` means answered all but the third; with two waves the
    patterns are ``"11"``, ``"10"``, ``"01"`` and ``"00"``. Scores at a wave not in ``waves``
    are ignored. Columns ``arm``, ``pattern``, ``n``, ``share`` (of the arm), ``waves_answered``.
    """
    participants = participants.astype({"participant": str})
    answered = answered_waves(scores).astype({"participant": str, "wave": str})
    grid = pd.DataFrame(0, index=pd.Index(participants["participant"], name="participant"), columns=list(waves))
    for wave in waves:
        grid[wave] = grid.index.isin(answered.loc[answered["wave"] == wave, "participant"]).astype(int)
    pattern = grid.astype(str).agg("".join, axis=1).rename("pattern") if len(grid) else pd.Series(
        [], dtype=str, name="pattern", index=grid.index
    )
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


#: the columns of :func:`baseline_differences` (written with its header even without rows)
BASELINE_COLUMNS = [
    "scale", "arm", "n_completers", "n_dropouts", "mean_completers", "sd_completers", "mean_dropouts",
    "sd_dropouts", "difference", "t_val", "df", "p_val", "hedges_g", "note",
]  # fmt: skip


def baseline_differences(
    scores: pd.DataFrame, *, scales: list[str], baseline: str, last: str, min_n: int = 2
) -> pd.DataFrame:
    """Compare baseline scores of those who answered the last wave (completers) and those who did not.

    For each scale and arm: n, mean and SD of both groups, the mean difference
    (completers - dropouts), Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``; R:
    ``t.test(x, y)``) and Hedges' g.  A group with fewer than ``min_n`` people, or baseline
    scores without variance in both groups, gives NaN and a ``note`` saying why.
    """
    answered_last = set(scores.loc[scores["wave"] == last, "participant"])
    rows = []
    for scale in scales:
        base = scores[(scores["scale"] == scale) & (scores["wave"] == baseline)]
        for arm, part in base.groupby("arm", observed=True):
            stayed = part["participant"].isin(answered_last).to_numpy()
            x, y = part["score"].to_numpy(float)[stayed], part["score"].to_numpy(float)[~stayed]
            row = {"scale": scale, "arm": arm, "n_completers": len(x), "n_dropouts": len(y), "note": None}
            if len(x) < min_n or len(y) < min_n:
                row["note"] = (f"not estimable: {len(x)} completer(s) and {len(y)} dropout(s); at least {min_n} "
                               "of each are needed")
            elif np.ptp(x) == 0 and np.ptp(y) == 0:
                row["note"] = "not estimable: the baseline scores are tied within both groups (no variance)"
            else:
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
    return pd.DataFrame(rows).reindex(columns=BASELINE_COLUMNS)
