"""Implementation factors per intervisie participant: group aggregates, within-group deviations, dose.

The round table asks which conditions promote or hinder intervisie.  This module turns the
clean tables into one row per intervisie participant with every factor as a model covariate;
:mod:`analyses.moderators` fits the models.

Ratings (coach quality and session structure after each session, psychological safety at the
waves) are split by group-mean centring (Enders & Tofighi 2007; Raudenbush & Bryk 2002, ch. 5):

.. math::

    \\bar x_i = \\text{mean of member } i\\text{'s ratings}, \\qquad
    \\bar x_g = \\frac{1}{n_g}\\sum_{i \\in g} \\bar x_i, \\qquad
    \\bar x_p = \\frac{1}{J_p}\\sum_{g \\in p} \\bar x_g

    \\text{within}_i = (\\bar x_i - \\bar x_g) / s_w, \\qquad
    \\text{between}_g = (\\bar x_g - \\bar x_p) / s_b

with :math:`\\bar x_p` the unweighted mean of the group means of programme :math:`p`,
:math:`s_b` the SD (n - 1) of the programme-centred group means over all groups and
:math:`s_w` the SD of the within deviations over all members: one unit is one SD of the
group aggregate (between) or of a member's deviation from it (within).  The
"right amount of structure" is tested with the square of the standardised between-group
structure, ``structure_between_sq`` (an inverted U has a negative coefficient).

Dose is the share of the sessions listed for a member in the first ``knot_months`` after the
member's start (``participants.start_date``) that the member attended, split the same way
(within = own share - group mean share, between = group mean - programme mean) and kept in
its unit (a share, 0-1; one unit = all sessions versus none).  Group size (``n_members``,
per SD), online (``format == "online"``, 1 vs 0) and the group's modal method (one 0/1
column per method, the most common modal method as reference; methods that are modal in
fewer than ``method_min_groups`` groups are pooled as ``other``) are group properties, centred
within programme like every covariate, so that the programme terms of the growth model keep
each programme's average change.

:func:`aggregation_table` runs the aggregation checks of :mod:`analyses.aggregation` on the
members' mean ratings (one row per member: the unit that is averaged to the group).

References
----------
Enders, C. K., & Tofighi, D. (2007). Centering predictor variables in cross-sectional multilevel
models: A new look at an old issue. Psychological Methods, 12(2), 121-138.

Raudenbush, S. W., & Bryk, A. S. (2002). Hierarchical linear models (2nd ed.). Sage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analyses.aggregation import aggregation_check
from pipeline.errors import InputError

DAYS_PER_MONTH = 365.25 / 12
#: the factors measured by member ratings (order of the columns in the factor table)
RATED = ("coach_quality", "structure", "safety")
KEY = ["participant", "group", "programme"]


def _need(table: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{name}: column(s) {', '.join(missing)} missing (see docs/canonical-form.md)")


def intervisie_members(participants: pd.DataFrame) -> pd.DataFrame:
    """Return the intervisie participants that belong to a group: ``participant, group, programme``."""
    _need(participants, "participants", ["participant", "group", "programme", "arm"])
    keep = (participants["arm"].astype(str) == "intervisie") & participants["group"].notna()
    return participants.loc[keep, KEY].astype(str).reset_index(drop=True)


def member_ratings(
    members: pd.DataFrame,
    scale_scores: pd.DataFrame,
    item_responses: pd.DataFrame,
    *,
    scale: str,
    items: Sequence[str],
) -> pd.DataFrame:
    """Each member's mean rating of one scale and mean answer to each of its items.

    Every valid rating counts (all sessions for session ratings, all waves for wave ratings).

    Returns
    -------
    pandas.DataFrame
        ``participant, group, programme, n_ratings, score`` and one column per item (the mean
        answer of the member over the ratings), one row per member with at least one rating.
    """
    _need(scale_scores, "scale_scores", ["response_id", "participant", "scale", "score", "score_status"])
    _need(item_responses, "item_responses", ["response_id", "item", "response"])
    rated = scale_scores[(scale_scores["scale"].astype(str) == scale) & (scale_scores["score_status"] == "ok")]
    rated = rated[["response_id", "participant", "score"]].astype({"participant": str})
    answers = item_responses[item_responses["item"].astype(str).isin(items)]
    wide = answers.pivot_table(index="response_id", columns="item", values="response", aggfunc="first", observed=True)
    wide = wide.reindex(columns=list(items))
    rated = rated.merge(wide.reset_index(), on="response_id", how="left")
    per_member = rated.groupby("participant", sort=True).agg(
        n_ratings=("score", "size"), score=("score", "mean"), **{i: (i, "mean") for i in items}
    )
    return members.merge(per_member.reset_index(), on="participant", how="inner")


def _programme_centred(values: pd.Series, programme: pd.Series) -> pd.Series:
    return values - values.groupby(programme, observed=True).transform("mean")


def _standardise(values: pd.Series) -> pd.Series:
    sd = float(values.std(ddof=1))
    return values / sd if np.isfinite(sd) and sd > 0 else values * np.nan


def split_levels(person: pd.DataFrame, *, value: str, scale: bool = True) -> tuple[pd.Series, pd.Series]:
    """Group-mean centring of a member-level value: ``within`` and ``between`` parts (see module notes).

    Parameters
    ----------
    person : pandas.DataFrame
        ``participant, group, programme`` and the column ``value`` (one row per member; rows
        with a missing ``value`` are left out).
    value : str
    scale : bool, keyword-only
        Divide both parts by their SD (ratings); ``False`` keeps the unit (dose).

    Returns
    -------
    within : pandas.Series
        Indexed by participant: the member's value minus the group mean.
    between : pandas.Series
        Indexed by group: the group mean minus the programme's mean of group means.
    """
    clean = person.dropna(subset=[value])
    group_mean = clean.groupby("group")[value].mean()
    programme = clean.drop_duplicates("group").set_index("group")["programme"].reindex(group_mean.index)
    between = _programme_centred(group_mean, programme)
    within = pd.Series((clean[value] - clean["group"].map(group_mean)).to_numpy(), index=clean["participant"])
    if scale:
        between, within = _standardise(between), _standardise(within)
    return within, between


def attendance_dose(
    members: pd.DataFrame,
    participants: pd.DataFrame,
    sessions: pd.DataFrame,
    attendance: pd.DataFrame,
    *,
    knot_months: float,
) -> pd.DataFrame:
    """Share of the sessions listed for each member in the first ``knot_months`` that the member attended.

    A session counts when it took place less than ``knot_months * 365.25 / 12`` days after the
    member's ``start_date``; members with no such session get NaN.

    Returns
    -------
    pandas.DataFrame
        ``participant, n_listed, n_attended, dose``.
    """
    _need(participants, "participants", ["participant", "start_date"])
    _need(sessions, "sessions", ["session", "date"])
    _need(attendance, "attendance", ["session", "participant", "attended"])
    rows = attendance.astype({"participant": str, "session": str}).merge(
        sessions[["session", "date"]].astype({"session": str}), on="session", how="inner"
    )
    start = participants.astype({"participant": str}).set_index("participant")["start_date"]
    days = (rows["date"] - rows["participant"].map(start)).dt.days
    early = rows[days < knot_months * DAYS_PER_MONTH]
    counts = early.groupby("participant")["attended"].agg(n_listed="size", n_attended="sum")
    out = members[["participant"]].merge(counts.reset_index(), on="participant", how="left")
    out[["n_listed", "n_attended"]] = out[["n_listed", "n_attended"]].fillna(0).astype(int)
    out["dose"] = np.where(out["n_listed"] > 0, out["n_attended"] / out["n_listed"].where(out["n_listed"] > 0), np.nan)
    return out


def group_properties(
    groups: pd.DataFrame, sessions: pd.DataFrame | None, *, method_min_groups: int
) -> pd.DataFrame:
    """Group size, online and modal method of each group.

    The modal method is the method of most of the group's sessions (ties: alphabetical first);
    methods modal in fewer than ``method_min_groups`` groups become ``other``.  The methods are
    whatever the session log names (nothing is assumed about them).  Without a session log
    (``sessions`` None or without ``method``) every method is missing; without a ``format``
    column every ``online`` is missing.

    Returns
    -------
    pandas.DataFrame
        ``group, programme, n_members, online, method``.
    """
    _need(groups, "groups", ["group", "programme", "n_members"])
    out = groups[["group", "programme", "n_members"]].astype({"group": str, "programme": str})
    out["n_members"] = out["n_members"].astype(float)
    if "format" in groups.columns:
        fmt = groups["format"].astype("string")
        out["online"] = (fmt == "online").astype(float).where(fmt.notna()).to_numpy()
    else:
        out["online"] = np.nan
    out["method"] = pd.Series(np.nan, index=out.index, dtype=object)
    if sessions is not None and {"group", "method"} <= set(sessions.columns):
        logged = sessions.dropna(subset=["method"]).astype({"group": str, "method": str})
        counts = logged.groupby(["group", "method"]).size().rename("n").reset_index()
        counts = counts.sort_values(["group", "n", "method"], ascending=[True, False, True], kind="stable")
        modal = counts.drop_duplicates("group").set_index("group")["method"]
        out["method"] = out["group"].map(modal)
        rare = out["method"].map(out["method"].value_counts()) < method_min_groups
        out.loc[rare & out["method"].notna(), "method"] = "other"
    return out.reset_index(drop=True)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def factor_table(
    members: pd.DataFrame,
    ratings: Mapping[str, pd.DataFrame],
    dose: pd.DataFrame | None,
    properties: pd.DataFrame,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """One row per intervisie participant with every implementation factor as a covariate.

    Parameters
    ----------
    members : pandas.DataFrame
        :func:`intervisie_members`.
    ratings : mapping of str to pandas.DataFrame
        Factor name (``coach_quality``, ``structure``, ``safety``) -> :func:`member_ratings`.
    dose : pandas.DataFrame or None
        :func:`attendance_dose`; None without sessions and attendance (no dose factor).
    properties : pandas.DataFrame
        :func:`group_properties`.  ``online`` is a factor only when the groups meet in both
        formats, ``method`` only when at least two methods are modal somewhere.

    Returns
    -------
    table : pandas.DataFrame
        ``participant, group, programme`` and the covariates (see the module notes):
        ``<factor>_within``, ``<factor>_between`` per rated factor, ``structure_between_sq``,
        ``dose_within``, ``dose_between``, ``group_size``, ``online``, ``method_<name>``.
        Every covariate is centred within programme (the within parts are by construction).
    factors : dict of str to list of str
        Factor -> its covariate columns (the terms of the factor's own model).  Covariates
        without variation are kept here; :func:`usable_factors` leaves them out.
    """
    table = members[KEY].copy()
    factors: dict[str, list[str]] = {}
    for name, person in ratings.items():
        within, between = split_levels(person, value="score")
        table[f"{name}_within"] = table["participant"].map(within)
        table[f"{name}_between"] = table["group"].map(between)
        factors[name] = [f"{name}_within", f"{name}_between"]
    if "structure" in ratings:
        square = table.drop_duplicates("group")[["group", "programme", "structure_between"]].dropna()
        square["sq"] = _programme_centred(square["structure_between"] ** 2, square["programme"])
        table["structure_between_sq"] = table["group"].map(square.set_index("group")["sq"])
        factors["structure"].append("structure_between_sq")
    if dose is not None:
        person = members.merge(dose[["participant", "dose"]], on="participant")
        within, between = split_levels(person, value="dose", scale=False)
        table["dose_within"] = table["participant"].map(within)
        table["dose_between"] = table["group"].map(between)
        factors["dose"] = ["dose_within", "dose_between"]
    one = properties.reset_index(drop=True)
    size = _standardise(_programme_centred(one["n_members"], one["programme"]))
    table["group_size"] = table["group"].map(pd.Series(size.to_numpy(), index=one["group"]))
    factors["group_size"] = ["group_size"]
    if one["online"].dropna().nunique() > 1:
        table["online"] = table["group"].map(
            pd.Series(_programme_centred(one["online"], one["programme"]).to_numpy(), index=one["group"])
        )
        factors["online"] = ["online"]
    methods = one["method"].dropna()
    if methods.nunique() > 1:
        reference = methods.value_counts().sort_index().sort_values(ascending=False, kind="stable").index[0]
        columns = []
        for method in sorted(set(methods) - {reference}):
            column = f"method_{_slug(method)}"
            dummy = (one["method"] == method).astype(float).where(one["method"].notna())
            centred = _programme_centred(dummy, one["programme"])
            table[column] = table["group"].map(pd.Series(centred.to_numpy(), index=one["group"]))
            columns.append(column)
        factors["method"] = columns
    return table, factors


def usable_factors(
    table: pd.DataFrame, factors: Mapping[str, Sequence[str]]
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Leave out covariates that cannot enter a model: missing for everyone, or without variation.

    A within part varies over members, a between part or group property over groups; a
    covariate with a single value (e.g. every group the same size within its programme, or one
    group per programme) has no effect to estimate.

    Returns
    -------
    factors : dict of str to list of str
        The factors with their usable covariates (factors with none left out).
    dropped : list of (str, str)
        ``(factor, reason)`` for every covariate left out.
    """
    kept: dict[str, list[str]] = {}
    dropped: list[tuple[str, str]] = []
    for name, columns in factors.items():
        usable = []
        for column in columns:
            unit = "participant" if column.endswith("_within") else "group"
            values = table.drop_duplicates(unit)[column].dropna()
            if values.nunique() < 2 or float(values.std(ddof=1)) < 1e-12:
                where = "members of a group" if unit == "participant" else "groups (within programme)"
                dropped.append((name, f"{column}: no data or no variation between {where}, so no effect to estimate"))
            else:
                usable.append(column)
        if usable:
            kept[name] = usable
    return kept, dropped


#: the columns of :func:`aggregation_table` (``aggregation.csv``), in order
AGGREGATION_COLUMNS = [
    "construct", "n_groups", "mean_group_size", "icc1", "icc2", "rwg_j_median", "rwg_j_share_70", "justified",
    "note", "programme", "n_obs", "group_size_min", "group_size_max", "ms_between", "ms_within", "F",
    "df_between", "df_within", "p_val", "rwg_mean", "n_truncated", "k_needed", "icc1_ok", "icc2_ok", "rwg_ok",
]


def aggregation_table(
    ratings: Mapping[str, pd.DataFrame],
    *,
    items: Mapping[str, Sequence[str]],
    n_options: Mapping[str, int],
    icc1_min: float,
    icc2_min: float,
    rwg_min: float,
    min_groups: int = 2,
) -> pd.DataFrame:
    """Aggregation checks per rated construct (ICC(1), ICC(2), rwg(j); Bliese 2000), overall and per programme.

    Runs :func:`analyses.aggregation.aggregation_check` on the members' mean ratings (one row
    per member: the member's mean scale score as ``dv``, the member's mean item answers for
    rwg(j) against a uniform null over ``n_options`` answers).  Averaging a member's ratings over
    sessions or waves lowers the item variances, so rwg(j) here describes agreement between the
    members' overall perceptions, not between single session ratings.  The per-programme rows
    show where small groups (e.g. groups of at most 4) make the group means unreliable
    (ICC(2) below ``icc2_min``); programmes with fewer than ``min_groups`` rated groups are left
    out.  When all programmes together have fewer than ``min_groups`` rated groups (or no group
    has two raters), the ``all`` row has NaN statistics, ``justified`` False and a ``note``
    saying why the check is not estimable.

    Returns
    -------
    pandas.DataFrame
        ``construct, n_groups, mean_group_size, icc1, icc2, rwg_j_median, rwg_j_share_70,
        justified, note, programme`` (``all`` first, then each programme) and the further
        columns of ``aggregation_check`` (``k_needed``, the F test, ...); ``note`` is its
        plain-language verdict.
    """
    rows = []
    for name, person in ratings.items():
        parts = [("all", person)] + [(str(p), part) for p, part in person.groupby("programme", sort=True)]
        if person["programme"].nunique() < 2:
            parts = parts[:1]
        for programme, part in parts:
            n_groups = int(part["group"].nunique())
            reason = ""
            if n_groups < max(min_groups, 2):
                reason = f"not estimable: {n_groups} rated group(s), at least {max(min_groups, 2)} needed"
            elif len(part) <= n_groups:
                reason = "not estimable: no group has two members with a rating"
            if reason:
                if programme == "all":
                    rows.append(pd.DataFrame([{"construct": name, "programme": programme, "n_groups": n_groups,
                                               "n_obs": len(part), "justified": False, "note": reason}]))
                continue
            check = aggregation_check(
                part,
                dv="score",
                items=list(items[name]),
                group="group",
                n_options=int(n_options[name]),
                icc1_min=icc1_min,
                icc2_min=icc2_min,
                rwg_min=rwg_min,
            )
            renamed = {"rwg_median": "rwg_j_median", "share_rwg_ok": "rwg_j_share_70", "verdict": "note"}
            rows.append(
                check.rename(columns=renamed).drop(columns=["rwg_n_groups"]).assign(construct=name, programme=programme)
            )
    if not rows:
        return pd.DataFrame(columns=AGGREGATION_COLUMNS)
    return pd.concat(rows, ignore_index=True).reindex(columns=AGGREGATION_COLUMNS)
