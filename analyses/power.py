"""What a programme needs to measure effects well: sample sizes from the study's own variance estimates.

A programme that wants to show its effect needs to know how many participants (and groups) to
enrol, given how much scores change by chance, how much members of one group change alike, and
how many people stop answering.  This module turns the study's own estimates of these three
quantities into the number of participants per arm a future study needs:

* :func:`change_components` -- for one outcome and follow-up wave: the SD of change, the ICC(1)
  of change within intervisie groups, the mean group size, retention per arm and the observed
  difference in change between the arms;
* :func:`design_effect_partial` -- the variance inflation of a partially nested design (only the
  intervisie arm meets in groups);
* :func:`sample_size` -- participants per arm for a two-sided test of the difference in change,
  then inflated for clustering and attrition;
* :func:`within_components`, :func:`n_paired`, :func:`sample_size_within` -- the same for the
  within-person change of a single-arm design (no comparison cohort).

Style as in :mod:`analyses.change`: long data plus column names, keyword-only options, tidy
DataFrames, nothing rounded except the final counts (people come in whole numbers, rounded up).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.power import TTestIndPower, TTestPower

from analyses.aggregation import icc_aggregation
from analyses.data import change_table


def design_effect_partial(icc: float, cluster_size: float) -> float:
    """Variance inflation of the difference in means when only one arm is clustered.

    Parameters
    ----------
    icc : float
        ICC(1) of the outcome (here: of change) among members of one group; negative estimates
        are treated as 0.
    cluster_size : float
        Mean number of members per group who contribute the outcome.

    Returns
    -------
    float
        :math:`(DE + 1) / 2` with :math:`DE = 1 + (m - 1)\\rho`: with equal arms of :math:`n`, the
        variance of the difference in means is :math:`\\sigma^2 (DE/n + 1/n)`, which equals the
        unclustered :math:`2\\sigma^2/n` times :math:`(DE + 1)/2`.

    Notes
    -----
    In a partially nested design the treated arm is clustered (members of an intervisie group
    share a coach and a group) while the comparison arm is not (Roberts & Roberts 2005; Moerbeek
    & Wong 2008).  The treated arm's variance of the mean is inflated by the usual design effect
    :math:`1 + (m-1)\\rho` (Donner & Klar 2000), the comparison arm's is not.

    References
    ----------
    Donner, A., & Klar, N. (2000). Design and analysis of cluster randomization trials in health
    research. Arnold.

    Roberts, C., & Roberts, S. A. (2005). Design and analysis of clinical trials with clustering
    effects due to treatment. Clinical Trials, 2(2), 152-162.

    Moerbeek, M., & Wong, W. K. (2008). Sample size formulae for trials comparing group and
    individual treatments in a multilevel model. Statistics in Medicine, 27(15), 2850-2864.

    Examples
    --------
    >>> round(design_effect_partial(0.05, 7), 6)   # DE = 1.3
    1.15
    """
    if not np.isfinite(icc) or not np.isfinite(cluster_size) or cluster_size < 1:
        raise ValueError(f"need a finite ICC and a group size >= 1, got icc={icc}, cluster_size={cluster_size}")
    de = 1.0 + (cluster_size - 1.0) * max(float(icc), 0.0)
    return (de + 1.0) / 2.0


def n_per_arm(effect_size: float, *, alpha: float = 0.05, power: float = 0.80) -> float:
    """Participants per arm (not rounded) for a two-sided two-sample t test of a standardised difference.

    Solves the noncentral-t power equation for equal arms (Cohen 1988, ch. 2): power =
    :math:`P(|T| > t_{1-\\alpha/2, 2n-2})` with :math:`T \\sim t'(2n-2, d\\sqrt{n/2})`, via
    :class:`statsmodels.stats.power.TTestIndPower`.  R equivalent: ``power.t.test(delta = d, sd = 1,
    sig.level = alpha, power = power)$n``.

    References
    ----------
    Cohen, J. (1988). Statistical power analysis for the behavioral sciences (2nd ed.). Erlbaum.
    """
    if not effect_size or not np.isfinite(effect_size):
        return math.inf
    solved = TTestIndPower().solve_power(effect_size=abs(effect_size), alpha=alpha, power=power, ratio=1.0)
    return float(np.asarray(solved).item())


def _icc_of_change(change: pd.DataFrame) -> tuple[float, float, str | None]:
    """ICC(1) of change within groups and the adjusted mean group size, or NaN and why not."""
    grouped = change[change["group"].notna()]
    sizes = grouped.groupby("group").size()
    size = float(sizes.mean()) if len(sizes) else math.nan
    try:
        icc = icc_aggregation(grouped, dv="change", group="group").iloc[0]
    except (ValueError, ZeroDivisionError) as exc:  # too few groups, or no variance of change at all
        reason = str(exc) or "no variance of change"
        return math.nan, size, f"ICC of change not estimable ({reason})"
    if not np.isfinite(icc["icc1"]):
        return math.nan, size, "ICC of change not estimable (no variance of change)"
    return float(icc["icc1"]), float(icc["mean_group_size"]), None


def change_components(
    scores: pd.DataFrame, *, scale: str, baseline: str, follow_up: str, treated: str = "intervisie"
) -> dict[str, float | str | None]:
    """The study's own variance estimates for one outcome's change from ``baseline`` to ``follow_up``.

    Parameters
    ----------
    scores : pandas.DataFrame
        Long wave scores (:func:`analyses.data.wave_scores`): participant, group, arm, wave, scale, score.
    scale, baseline, follow_up : str, keyword-only
        The outcome and the two waves.
    treated : str, keyword-only
        The arm that meets in groups.

    Returns
    -------
    dict
        ``n_treated``, ``n_comparison`` (people with both waves), ``sd_change`` (pooled within-arm
        SD of change), ``diff_change`` (mean change, treated minus comparison), ``d_observed``
        (``diff_change / sd_change``), ``icc_change`` (ICC(1) of change within treated groups,
        one-way ANOVA, :func:`analyses.aggregation.icc_aggregation`), ``cluster_size`` (its
        adjusted mean group size :math:`k_0`), ``retention_treated`` / ``retention_comparison``
        (share of the people with a baseline score who also have the follow-up score) and
        ``note`` (why the ICC is NaN: fewer than 2 groups, groups of one, no variance; else None).
    """
    change = change_table(scores, scale=scale, pre=baseline, post=follow_up)
    change["change"] = change["post"] - change["pre"]
    arm = change["arm"] == treated
    a, b = change.loc[arm, "change"], change.loc[~arm, "change"]
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"{scale} {baseline}->{follow_up}: fewer than 2 people with both waves in an arm")
    pooled = math.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2))
    icc, size, note = _icc_of_change(change[arm])
    part = scores[scores["scale"] == scale]
    at_base = part.loc[part["wave"] == baseline, ["participant", "arm"]].drop_duplicates("participant")
    followed = set(part.loc[part["wave"] == follow_up, "participant"])
    kept = at_base["participant"].isin(followed)
    base_arm = at_base["arm"] == treated
    diff = float(a.mean() - b.mean())
    return {
        "n_treated": float(len(a)),
        "n_comparison": float(len(b)),
        "sd_change": pooled,
        "diff_change": diff,
        "d_observed": diff / pooled if pooled > 0 else math.nan,
        "icc_change": icc,
        "cluster_size": size,
        "retention_treated": float(kept[base_arm].mean()),
        "retention_comparison": float(kept[~base_arm].mean()),
        "note": note,
    }


def sample_size(
    components: dict[str, float | str | None],
    *,
    effect_sizes: Sequence[float],
    alpha: float = 0.05,
    power: float = 0.80,
) -> pd.DataFrame:
    """Participants and groups a future study needs, for the observed and for chosen effect sizes.

    For each standardised difference in change :math:`d` (the observed one, then each of
    ``effect_sizes``): :math:`n_0` per arm for an unclustered two-sample t test
    (:func:`n_per_arm`); :math:`n = n_0 (DE+1)/2` analysed per arm for the partially nested design
    (:func:`design_effect_partial` with the study's ICC of change and group size); enrolled per arm
    :math:`n / r` with the arm's retention :math:`r` (the lower of the two arms' retention, so both
    arms reach :math:`n`); intervisie groups :math:`\\lceil n / m \\rceil` with :math:`m` the study's
    mean number of members per group who answered both waves (so attrition within groups is
    already in :math:`m`).

    Returns
    -------
    pandas.DataFrame
        One row per effect size: ``basis`` (``observed`` or ``d=<value>``), ``effect_d``,
        ``effect_raw`` (in score units: :math:`d \\times SD_{change}`, signed as observed),
        ``design_effect``, ``retention``, ``n_unclustered`` (per arm, not rounded), ``n_analysed``
        and ``n_enrol`` (per arm, rounded up), ``groups_needed``, ``alpha``, ``power`` and ``note``
        (why a count is NaN: no observed effect, an ICC that could not be estimated, no retention).
    """
    icc, size = float(components["icc_change"]), float(components["cluster_size"])
    deff = design_effect_partial(icc, size) if np.isfinite(icc) and np.isfinite(size) else math.nan
    retention = min(float(components["retention_treated"]), float(components["retention_comparison"]))
    return _size_rows(components, n_per_arm, deff, retention, effect_sizes=effect_sizes, alpha=alpha, power=power)


def _size_rows(
    components: dict[str, float | str | None],
    n_for: Callable[..., float],
    deff: float,
    retention: float,
    *,
    effect_sizes: Sequence[float],
    alpha: float,
    power: float,
) -> pd.DataFrame:
    """One row per effect size: unclustered n, inflated by ``deff``, divided by ``retention``, in groups."""
    d_observed = float(components["d_observed"])
    size = float(components["cluster_size"])
    sign = 1.0 if not np.isfinite(d_observed) or d_observed >= 0 else -1.0
    rows = []
    bases = [("observed", abs(d_observed))] + [(f"d={d:g}", float(d)) for d in effect_sizes]
    for basis, d in bases:
        n0 = n_for(d, alpha=alpha, power=power)
        n = n0 * deff
        enrol = n / retention if retention > 0 else math.inf
        finite = bool(np.isfinite(enrol))
        notes = []
        if basis == "observed" and not (np.isfinite(d) and d > 0):
            notes.append("observed effect not estimable or zero: no sample size")
        elif not np.isfinite(deff):
            notes.append(f"{components.get('note') or 'ICC of change not estimable'}: only n_unclustered is given")
        elif not retention > 0:
            notes.append("nobody answered the follow-up wave: retention 0")
        rows.append(
            {
                "basis": basis,
                "effect_d": d,
                "effect_raw": sign * d * float(components["sd_change"]),
                "design_effect": deff,
                "retention": retention,
                "n_unclustered": n0,
                "n_analysed": math.ceil(n) if np.isfinite(n) else math.nan,
                "n_enrol": math.ceil(enrol) if finite else math.nan,
                "groups_needed": math.ceil(math.ceil(n) / size) if finite and np.isfinite(size) else math.nan,
                "alpha": alpha,
                "power": power,
                "note": "; ".join(notes) or None,
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- one arm: within-person change


def n_paired(effect_size: float, *, alpha: float = 0.05, power: float = 0.80) -> float:
    """Participants (not rounded) for a two-sided paired t test of a standardised mean change :math:`d_z`.

    :math:`d_z = \\bar\\Delta / \\sigma_\\Delta` (mean change over the SD of change). Solves the
    noncentral-t power equation of the one-sample t test of the changes: power =
    :math:`P(|T| > t_{1-\\alpha/2, n-1})` with :math:`T \\sim t'(n-1, d_z\\sqrt n)` (Cohen 1988, ch. 2;
    :class:`statsmodels.stats.power.TTestPower`). It is slightly above the normal approximation
    :math:`n = ((z_{1-\\alpha/2} + z_{1-\\beta}) / d_z)^2` (Julious 2004), by about
    :math:`z_{1-\\alpha/2}^2 / 2` (2 people at the 5% level). R equivalent:
    ``power.t.test(delta = d, sd = 1, sig.level = alpha, power = power, type = "paired")$n``.

    References
    ----------
    Cohen, J. (1988). Statistical power analysis for the behavioral sciences (2nd ed.). Erlbaum.

    Julious, S. A. (2004). Sample sizes for clinical trials with Normal data. Statistics in
    Medicine, 23(12), 1921-1986.
    """
    if not effect_size or not np.isfinite(effect_size):
        return math.inf
    solved = TTestPower().solve_power(effect_size=abs(effect_size), alpha=alpha, power=power)
    return float(np.asarray(solved).item())


def within_components(
    scores: pd.DataFrame, *, scale: str, baseline: str, follow_up: str, arm: str = "intervisie"
) -> dict[str, float | str | None]:
    """The study's own variance estimates for the within-person change of one arm (a single-arm design).

    Returns ``n_treated`` (people of ``arm`` with both waves), ``mean_change``, ``sd_change``,
    ``d_observed`` (:math:`d_z` = mean / SD of change), ``icc_change`` and ``cluster_size`` (as in
    :func:`change_components`), ``retention_treated`` and ``note``. ``ValueError`` with fewer than
    2 people with both waves.
    """
    change = change_table(scores, scale=scale, pre=baseline, post=follow_up)
    change = change[change["arm"] == arm].assign(change=lambda f: f["post"] - f["pre"])
    if len(change) < 2:
        raise ValueError(f"{scale} {baseline}->{follow_up}: {len(change)} {arm} participant(s) with both waves")
    sd = float(change["change"].std(ddof=1))
    icc, size, note = _icc_of_change(change)
    part = scores[(scores["scale"] == scale) & (scores["arm"] == arm)]
    at_base = part.loc[part["wave"] == baseline, "participant"].drop_duplicates()
    kept = at_base.isin(set(part.loc[part["wave"] == follow_up, "participant"]))
    mean = float(change["change"].mean())
    return {
        "n_treated": float(len(change)),
        "mean_change": mean,
        "sd_change": sd,
        "d_observed": mean / sd if sd > 0 else math.nan,
        "icc_change": icc,
        "cluster_size": size,
        "retention_treated": float(kept.mean()) if len(kept) else math.nan,
        "note": note,
    }


def sample_size_within(
    components: dict[str, float | str | None],
    *,
    effect_sizes: Sequence[float],
    alpha: float = 0.05,
    power: float = 0.80,
) -> pd.DataFrame:
    """Participants and groups needed to detect within-person change in one arm that meets in groups.

    For each standardised mean change :math:`d_z` (observed, then ``effect_sizes``, read as
    mean change / SD of change): :math:`n_0` from the paired t test (:func:`n_paired`; about
    :math:`((z_{1-\\alpha/2} + z_{1-\\beta})\\, \\sigma_\\Delta / \\delta)^2`), inflated by the full
    design effect :math:`DE = 1 + (m - 1)\\rho` of a design in which every participant is in a
    group (Donner & Klar 2000; :math:`\\rho` the ICC of change, :math:`m` the mean group size),
    then divided by retention; groups :math:`\\lceil n / m \\rceil`. Same columns as
    :func:`sample_size` (counts are for the one arm).

    A within-person change without a comparison cohort is not an effect of intervisie: it also
    contains maturation and regression to the mean (Shadish, Cook & Campbell 2002).

    References
    ----------
    Donner, A., & Klar, N. (2000). Design and analysis of cluster randomization trials in health
    research. Arnold.

    Shadish, W. R., Cook, T. D., & Campbell, D. T. (2002). Experimental and quasi-experimental
    designs for generalized causal inference. Houghton Mifflin.
    """
    icc, size = float(components["icc_change"]), float(components["cluster_size"])
    deff = 1.0 + (size - 1.0) * max(icc, 0.0) if np.isfinite(icc) and np.isfinite(size) else math.nan
    retention = float(components["retention_treated"])
    return _size_rows(components, n_paired, deff, retention, effect_sizes=effect_sizes, alpha=alpha, power=power)
