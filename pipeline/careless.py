"""Careless-responding indices of questionnaire submissions (one value per response).

Each function takes a wide table, one row per response and one column per item in
questionnaire order (missing answers as NaN), as the R package ``careless`` does, and
returns one value per row.  The indices and their recommended use follow Curran (2016):
several indices side by side, a response flagged when it stands out on more than one.

References
----------
Curran, P. G. (2016). Methods for the detection of carelessly invalid responses in survey
data. *Journal of Experimental Social Psychology*, 66, 4-19.
Dunn, A. M., Heggestad, E. D., Shanock, L. R., & Theilgard, N. (2018). Intra-individual
response variability as an indicator of insufficient effort responding. *Journal of Business
and Psychology*, 33, 105-121.
Johnson, J. A. (2005). Ascertaining the validity of individual protocols from web-based
personality inventories. *Journal of Research in Personality*, 39, 103-129.
Meade, A. W., & Craig, S. B. (2012). Identifying careless responses in survey data.
*Psychological Methods*, 17, 437-455.
Yentes, R. D., & Wilhelm, F. (2023). careless: Procedures for computing indices of careless
responding. R package version 1.2.2.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats

from pipeline.errors import InputError


def _values(data: pd.DataFrame, what: str) -> np.ndarray:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"{what}: expected a response x item table (DataFrame), got {type(data).__name__}")
    try:
        return data.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: every item column must hold numeric answer codes ({exc})") from None


def longstring(data: pd.DataFrame) -> pd.Series:
    """Return the longest run of identical consecutive answers of each response.

    ``longstring_i = max_r L_ir``, the length of the longest run ``r`` of consecutive
    items (in column order) that response ``i`` answered with the same code.  A missing
    answer belongs to no run (it ends the run before it), as in R's ``rle`` on which
    ``careless::longstring`` is built.

    Parameters
    ----------
    data : DataFrame
        Responses x items, answer codes in questionnaire order, NaN where not answered.

    Returns
    -------
    Series
        ``longstring`` per response (0 when nothing was answered), indexed as ``data``.

    References
    ----------
    Johnson (2005); Curran (2016), section 4.2.

    Examples
    --------
    R equivalent: ``careless::longstring(x)``, i.e. ``max(rle(x[i, ])$lengths)`` per row.
    """
    x = _values(data, "longstring")
    n, k = x.shape
    if k == 0:
        return pd.Series(np.zeros(n, dtype=np.int64), index=data.index, name="longstring")
    answered = ~np.isnan(x)
    same = np.zeros_like(answered)
    same[:, 1:] = (x[:, 1:] == x[:, :-1]) & answered[:, 1:] & answered[:, :-1]
    run = answered.astype(np.int64)  # running length of the current run at each item
    for j in range(1, k):
        run[:, j] = np.where(same[:, j], run[:, j - 1] + 1, run[:, j])
    return pd.Series(run.max(axis=1), index=data.index, name="longstring")


def irv(data: pd.DataFrame) -> pd.Series:
    """Return the intra-individual response variability (IRV) of each response.

    ``IRV_i = sqrt( sum_j (x_ij - xbar_i)^2 / (k_i - 1) )``, the standard deviation of the
    ``k_i`` answers a response gave (Dunn et al., 2018).  Low values mean the same or
    nearly the same answer throughout.  Rescale the codes first (e.g. to a proportion of
    each item's range) when the items have different ranges.

    Parameters
    ----------
    data : DataFrame
        Responses x items, NaN where not answered.

    Returns
    -------
    Series
        ``irv`` per response; NaN with fewer than two answers.

    References
    ----------
    Dunn et al. (2018); Curran (2016), section 4.3.

    Examples
    --------
    R equivalent: ``careless::irv(x)``, i.e. ``apply(x, 1, sd, na.rm = TRUE)``.
    """
    x = _values(data, "irv")
    k = np.sum(~np.isnan(x), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(x, axis=1) / k
        ss = np.nansum((x - mean[:, None]) ** 2, axis=1)
        out = np.where(k >= 2, np.sqrt(ss / np.maximum(k - 1, 1)), np.nan)
    return pd.Series(out, index=data.index, name="irv")


def mahalanobis(data: pd.DataFrame) -> pd.DataFrame:
    """Return each complete response's squared Mahalanobis distance from the sample centroid.

    ``D2_i = (x_i - xbar)' S^{-1} (x_i - xbar)`` with ``xbar`` and ``S`` (divisor ``n - 1``)
    the mean and covariance of the complete responses, and ``p_i = 1 - F_chi2(D2_i; df)``
    with ``df`` the number of items (Meade & Craig, 2012; Curran, 2016).  Only complete
    responses (every item answered) get a distance; others get NaN.  When ``S`` is singular
    (an item every complete response answered alike, or items that are sums of others) the
    Moore-Penrose inverse is used and ``df`` is the rank of ``S``.  The chi-square p-value is
    the usual screening approximation: for the sample's own members ``D2 n/(n-1)^2`` follows
    a Beta(df/2, (n-df-1)/2) law, so with few responses per item the chi-square tail is too
    heavy and flags more.

    Parameters
    ----------
    data : DataFrame
        Responses x items, NaN where not answered.

    Returns
    -------
    DataFrame
        ``mahalanobis_d2``, ``mahalanobis_p`` and ``mahalanobis_df`` per response, indexed as
        ``data``; NaN for incomplete responses, and for all when fewer than ``df + 2``
        responses are complete.

    References
    ----------
    Mahalanobis, P. C. (1936). On the generalised distance in statistics. *Proceedings of the
    National Institute of Sciences of India*, 2, 49-55.  Meade & Craig (2012); Curran (2016), 4.5.

    Examples
    --------
    R equivalent: ``stats::mahalanobis(x, colMeans(x), cov(x))`` on complete rows, which is
    ``psych::outlier(x, plot = FALSE)`` (used by ``careless::mahad``).
    """
    x = _values(data, "mahalanobis")
    complete = ~np.isnan(x).any(axis=1)
    out = pd.DataFrame({"mahalanobis_d2": np.nan, "mahalanobis_p": np.nan, "mahalanobis_df": np.nan}, index=data.index)
    rows = x[complete]
    if x.shape[1] == 0 or len(rows) < 3:
        return out
    centred = rows - rows.mean(axis=0)
    cov = np.atleast_2d(np.cov(rows, rowvar=False, ddof=1))
    inverse, rank = linalg.pinvh(cov, return_rank=True)
    if len(rows) < rank + 2:
        return out
    d2 = np.einsum("ij,jk,ik->i", centred, inverse, centred)
    out.loc[complete, "mahalanobis_d2"] = d2
    out.loc[complete, "mahalanobis_p"] = stats.chi2.sf(d2, rank)
    out.loc[complete, "mahalanobis_df"] = float(rank)
    return out


def even_odd(data: pd.DataFrame, scales: Sequence[Sequence[str]], *, min_scales: int = 3) -> pd.Series:
    """Return the even-odd consistency of each response (Spearman-Brown corrected).

    For each scale ``s`` (its items in questionnaire order) the mean of its odd-numbered
    items ``o_is`` and of its even-numbered items ``e_is`` are taken over the answered
    items; ``r_i`` is the Pearson correlation of ``(o_is)`` with ``(e_is)`` over the scales
    where both halves have an answer, and the index is ``2 r_i / (1 + r_i)``, set to -1 where
    that falls below -1 (Johnson, 2005; Meade & Craig, 2012; as ``careless::evenodd``).
    High values mean a consistent response; careless responding gives values near 0.
    Items must be keyed in one direction (reverse-keyed items reversed) beforehand.

    Parameters
    ----------
    data : DataFrame
        Responses x items (keyed), NaN where not answered.
    scales : sequence of sequence of str
        The item columns of each scale, in questionnaire order; scales with fewer than two
        items are left out (they have no even half).
    min_scales : int
        Fewest scales with both halves answered for a value (at least 3: a correlation of
        two points is always +-1).

    Returns
    -------
    Series
        ``even_odd`` per response; NaN with fewer than ``min_scales`` usable scales, or when
        the odd or the even half-means do not vary across scales.

    References
    ----------
    Johnson (2005); Meade & Craig (2012); Curran (2016), section 4.4.

    Examples
    --------
    R equivalent: ``-careless::evenodd(x, factors)`` (careless >= 1.2.0 reports the negative,
    so that higher means more careless there), for items ordered scale by scale.
    """
    if min_scales < 3:
        raise InputError(f"even_odd: min_scales must be at least 3, not {min_scales}")
    missing = sorted({item for scale in scales for item in scale} - set(data.columns))
    if missing:
        raise InputError(f"even_odd: scale item(s) {missing[:5]} are not columns of the item table")
    usable = [list(scale) for scale in scales if len(scale) >= 2]
    n = len(data)
    if len(usable) < min_scales:
        return pd.Series(np.full(n, np.nan), index=data.index, name="even_odd")
    if n == 0:
        return pd.Series(np.zeros(0), index=data.index, name="even_odd")
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a half with no answer: NaN, as intended
        odd = np.column_stack([np.nanmean(_values(data[s[0::2]], "even_odd"), axis=1) for s in usable])
        even = np.column_stack([np.nanmean(_values(data[s[1::2]], "even_odd"), axis=1) for s in usable])
    both = ~np.isnan(odd) & ~np.isnan(even)
    m = both.sum(axis=1)
    o = np.where(both, odd, 0.0)
    e = np.where(both, even, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        o_c = np.where(both, o - o.sum(axis=1, keepdims=True) / m[:, None], 0.0)
        e_c = np.where(both, e - e.sum(axis=1, keepdims=True) / m[:, None], 0.0)
        ss_o, ss_e = (o_c**2).sum(axis=1), (e_c**2).sum(axis=1)
        # halves that do not vary (up to rounding) have no correlation; r is kept within [-1, 1]
        flat = (ss_o <= 1e-20 * (1 + (o**2).sum(axis=1))) | (ss_e <= 1e-20 * (1 + (e**2).sum(axis=1)))
        r = np.where(flat, np.nan, np.clip((o_c * e_c).sum(axis=1) / np.sqrt(ss_o * ss_e), -1.0, 1.0))
        corrected = np.maximum(2 * r / (1 + r), -1.0)
    corrected = np.where((m >= min_scales) & np.isfinite(r), corrected, np.nan)
    return pd.Series(corrected, index=data.index, name="even_odd")
