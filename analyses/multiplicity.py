r"""Multiplicity: Holm across the primary outcomes, Benjamini-Hochberg across the secondary ones.

The study tests the effect of intervisie on several outcomes.  The primary outcomes (resilience,
work-related burnout) carry the confirmatory claims, so their family-wise error rate is held
at :math:`\alpha` with Holm's step-down procedure; the secondary outcomes are exploratory, so
their false discovery rate is held at :math:`\alpha` with the Benjamini-Hochberg step-up
procedure.

Families.  Each effect term of the study's design is its own family: the short-term effect
(difference in change from baseline to the short-term wave, or the change within intervisie
when the study has no comparison cohort) and, when a wave follows the short-term wave, the
long-term effect (the yearly slope afterwards) answer two different research questions, each
of which the report states on its own ("does intervisie help in the first months?", "does it
keep helping?").  Within a term,
the primary outcomes form one family and the secondary outcomes another.  Pooling the two
terms in one family would make each question's answer depend on how many other questions the
study happens to ask.

References
----------
Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat 6(2):65-70.
Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate: a practical and powerful
approach to multiple testing. J R Stat Soc B 57(1):289-300.
EMA (2017). Guideline on multiplicity issues in clinical trials (draft), EMA/CHMP/44762/2017.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from pipeline.errors import InputError

#: family name -> (statsmodels method, the name R's ``p.adjust`` gives it)
FAMILY_METHODS = {"primary": ("holm", "holm"), "secondary": ("fdr_bh", "BH")}

MULTIPLICITY_COLUMNS = [
    "outcome",
    "family",
    "term",
    "estimate",
    "ci_low",
    "ci_high",
    "p_val",
    "p_adj",
    "method",
    "reject",
]


def p_adjust(p_values: np.ndarray | pd.Series | list[float], *, method: str) -> np.ndarray:
    r"""Adjust p-values for multiplicity, as R's ``p.adjust(p, method)``.

    Holm (``method="holm"``), with :math:`p_{(1)} \le \dots \le p_{(k)}`:

    .. math:: \tilde p_{(i)} = \min\Bigl(1, \max_{j \le i} (k - j + 1)\, p_{(j)}\Bigr)

    Benjamini-Hochberg (``method="BH"``):

    .. math:: \tilde p_{(i)} = \min\Bigl(1, \min_{j \ge i} \tfrac{k}{j}\, p_{(j)}\Bigr)

    Parameters
    ----------
    p_values : array-like of float
        Unadjusted p-values in [0, 1]; missing values are not allowed.
    method : {"holm", "BH"}
        R's names of the procedures.

    Returns
    -------
    ndarray
        Adjusted p-values in the order given.

    Examples
    --------
    R: ``p.adjust(c(0.01, 0.04, 0.03), method = "holm")`` gives 0.03, 0.06, 0.06.

    >>> p_adjust([0.01, 0.04, 0.03], method="holm")
    array([0.03, 0.06, 0.06])
    """
    methods = {r_name: sm_name for sm_name, r_name in FAMILY_METHODS.values()}
    if method not in methods:
        raise InputError(f"unknown p-value adjustment {method!r}: use one of {sorted(methods)}")
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise InputError(f"p-values to adjust must lie in [0, 1] without missing values, got {p.tolist()}")
    return multipletests(p, method=methods[method])[1]


def adjust_effects(
    effects: pd.DataFrame,
    *,
    primary: list[str],
    secondary: list[str],
    terms: list[str],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Adjust the p-values of the effect terms: Holm within the primary, BH within the secondary family.

    Parameters
    ----------
    effects : DataFrame
        The growth models' fixed effects (``results/growth/effects.csv``): columns ``outcome``,
        ``term``, ``estimate``, ``ci95_low``, ``ci95_high`` and ``p_val`` (Satterthwaite).
    primary, secondary : list of str
        Outcome scale ids of each family (``params.yaml``: ``analyses.primary``, ``analyses.secondary``).
    terms : list of str
        The effect terms; each term is adjusted as its own family (see the module notes).
    alpha : float, default 0.05
        Family-wise error rate (primary) or false discovery rate (secondary).

    Returns
    -------
    DataFrame
        One row per outcome x term: ``outcome, family, term, estimate, ci_low, ci_high, p_val,
        p_adj, method, reject`` (``method`` as R's ``p.adjust`` names it; ``reject`` is
        ``p_adj < alpha``).  Outcomes without a fitted model, or whose term was not estimable
        (NaN p-value), are left out: the family is the tests actually made.

    Raises
    ------
    InputError
        If a column is missing, an outcome is in both families, or ``alpha`` is not in (0, 1).
    """
    needed = {"outcome", "term", "estimate", "ci95_low", "ci95_high", "p_val"}
    missing = needed - set(effects.columns)
    if missing:
        raise InputError(f"the growth effects table lacks column(s) {sorted(missing)}")
    both = sorted(set(primary) & set(secondary))
    if both:
        raise InputError(f"outcome(s) {both} are listed as both primary and secondary in params.yaml")
    if not 0 < alpha < 1:
        raise InputError(f"analyses.sensitivity.alpha must lie between 0 and 1, got {alpha}")
    rows = []
    for term in terms:
        for family, outcomes in (("primary", primary), ("secondary", secondary)):
            part = effects[(effects["term"] == term) & effects["outcome"].isin(outcomes)]
            part = part[part["p_val"].notna()]  # not estimable: not a test of the family
            part = part.set_index("outcome").reindex([o for o in outcomes if o in set(part["outcome"])])
            if part.empty:
                continue
            method = FAMILY_METHODS[family][1]
            p_adj = p_adjust(part["p_val"].to_numpy(), method=method)
            rows.append(
                pd.DataFrame(
                    {
                        "outcome": part.index,
                        "family": family,
                        "term": term,
                        "estimate": part["estimate"].to_numpy(float),
                        "ci_low": part["ci95_low"].to_numpy(float),
                        "ci_high": part["ci95_high"].to_numpy(float),
                        "p_val": part["p_val"].to_numpy(float),
                        "p_adj": p_adj,
                        "method": method,
                        "reject": p_adj < alpha,
                    }
                )
            )
    if not rows:
        return pd.DataFrame(columns=MULTIPLICITY_COLUMNS)
    return pd.concat(rows, ignore_index=True)[MULTIPLICITY_COLUMNS]
