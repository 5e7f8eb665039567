"""When is a published estimate a number, and when is it "not estimable"?

A model fitted to few events can return an estimate that is not a finding but an artefact:
an infinite or zero confidence bound, a hazard ratio of 10^18 or 10^-12, a confidence interval
that spans many orders of magnitude.  These arise from *monotone likelihood* (all events in one
level of a factor, or none): the partial likelihood keeps rising as the coefficient runs off to
plus or minus infinity, and the optimiser stops wherever its tolerance says (Heinze & Schemper
2001), or from *sparse-data bias* (Greenland, Mansournia & Altman 2016).  The documents print
such an estimate as "niet te schatten" / "not estimable" with its reason, never as a number.

The rule for a ratio estimate (hazard ratio, time ratio, Weibull shape) with its 95% CI
``[low, high]``, in order (the first that applies is the reason):

1. the analysis did not estimate it (missing estimate or bound, a note saying so) -> its note;
2. it rests on no events (``events == 0``);
3. the fit did not converge (a note saying so);
4. a bound is infinite or not positive;
5. the estimate is *absurd*: outside ``[1 / ABSURD_RATIO, ABSURD_RATIO]`` (a factor that
   multiplies a hazard or a time a hundredfold does not occur among people in training; such
   values are the signature of monotone likelihood);
6. the interval is too wide: the confidence limit ratio ``high / low`` exceeds ``MAX_CLR``
   (Poole 2001 proposed the CLR as the measure of a ratio estimate's precision).  With
   ``MAX_CLR = 100`` the standard error of the log ratio is above ``ln(100) / (2 * 1.96) = 1.17``:
   about what a Cox model gives with fewer than two events in one of two groups
   (``se = sqrt(1/d1 + 1/d2)``), i.e. the data say nothing about the size of the ratio.

A linear estimate (an effect in score points, an estimate after imputation) is not estimable
when the estimate or a bound is missing or infinite, or when the interval has no width or is
inverted (a singular fit).

References
----------
Heinze, G., & Schemper, M. (2001). A solution to the problem of monotone likelihood in Cox
regression. *Biometrics*, 57(1), 114-119.
Greenland, S., Mansournia, M. A., & Altman, D. G. (2016). Sparse data bias: a problem hiding
in plain sight. *BMJ*, 352, i1981.
Poole, C. (2001). Low P-values or narrow confidence intervals: which are more durable?
*Epidemiology*, 12(3), 291-294.
"""

from __future__ import annotations

import math

from reporting.texts import pick

#: a ratio estimate outside [1/ABSURD_RATIO, ABSURD_RATIO] is not a finding (monotone likelihood)
ABSURD_RATIO = 100.0
#: a ratio's confidence interval with high / low above this says nothing about its size (Poole 2001)
MAX_CLR = 100.0

#: the reasons, Dutch and English (the keys are stable: tests and the audit read them)
REASONS = {
    "not_estimated": ("niet geschat in de analyse", "not estimated in the analysis"),
    "no_events": ("geen gebeurtenissen", "no events"),
    "not_converged": ("het model convergeerde niet", "the model did not converge"),
    "infinite_bound": ("oneindige of nul-grens van het betrouwbaarheidsinterval",
                       "infinite or zero confidence bound"),
    "absurd_estimate": (f"onwaarschijnlijk extreme schatting (buiten 1/{ABSURD_RATIO:g} tot {ABSURD_RATIO:g})",
                        f"implausibly extreme estimate (outside 1/{ABSURD_RATIO:g} to {ABSURD_RATIO:g})"),
    "wide_interval": (f"betrouwbaarheidsinterval te breed (bovengrens / ondergrens > {MAX_CLR:g})",
                      f"confidence interval too wide (upper / lower bound > {MAX_CLR:g})"),
    "degenerate_interval": ("betrouwbaarheidsinterval zonder breedte", "confidence interval without width"),
}
NOT_ESTIMABLE = ("niet te schatten", "not estimable")


def _number(x: object) -> float:
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _note_reason(note: object) -> str | None:
    text = str(note or "").lower()
    if "converge" in text:
        return "not_converged"
    if "not estimated" in text:
        return "not_estimated"
    return None


def ratio_reason(estimate: object, low: object, high: object, *, events: object = None, note: object = None) -> str | None:
    """The reason a ratio estimate with its CI is not estimable (a key of :data:`REASONS`), or None when it is.

    Parameters
    ----------
    estimate, low, high
        The ratio (e.g. ``exp(beta)``) and its confidence bounds, as the analysis wrote them.
    events
        The number of events it rests on, when known (``0`` makes it not estimable).
    note
        The analysis' note on the row ("not estimated: ...", "... did not converge ...").

    Examples
    --------
    >>> ratio_reason(1.82, 0.92, 3.59) is None
    True
    >>> ratio_reason(4550347556493820928.0, 0.0, float("inf"))
    'infinite_bound'
    >>> ratio_reason(1e-9, 1e-12, 1e-6)
    'absurd_estimate'
    >>> ratio_reason(2.0, 0.1, 40.0)
    'wide_interval'
    """
    x, lo, hi, d = _number(estimate), _number(low), _number(high), _number(events)
    by_note = _note_reason(note)
    if by_note == "not_estimated" or math.isnan(x):
        return "not_estimated"
    if d == 0:
        return "no_events"
    if by_note == "not_converged":
        return "not_converged"
    if not (math.isfinite(x) and math.isfinite(lo) and math.isfinite(hi)) or x <= 0 or lo <= 0:
        return "infinite_bound"
    if not 1 / ABSURD_RATIO <= x <= ABSURD_RATIO:
        return "absurd_estimate"
    if hi < lo or hi / lo > MAX_CLR:
        return "wide_interval"
    return None


def linear_reason(estimate: object, low: object, high: object, *, note: object = None) -> str | None:
    """The reason a linear estimate with its CI is not estimable, or None when it is.

    Not estimable: missing (``not_estimated``), a note saying the fit did not converge, an
    infinite estimate or bound (``infinite_bound``), an interval of zero width or inverted
    (``degenerate_interval``).  A missing interval around a finite estimate is allowed (some
    tables give none).

    Examples
    --------
    >>> linear_reason(0.21, 0.11, 0.31) is None
    True
    >>> linear_reason(0.0, 0.0, 0.0)
    'degenerate_interval'
    """
    x, lo, hi = _number(estimate), _number(low), _number(high)
    by_note = _note_reason(note)
    if by_note == "not_estimated" or math.isnan(x):
        return "not_estimated"
    if by_note == "not_converged":
        return "not_converged"
    if math.isinf(x) or math.isinf(lo) or math.isinf(hi):
        return "infinite_bound"
    if math.isnan(lo) and math.isnan(hi):
        return None
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        return "degenerate_interval"
    return None


def not_estimable(reason: str, lang: str) -> str:
    """The words a document prints instead of the number: ``niet te schatten (geen gebeurtenissen)``."""
    return f"{pick(NOT_ESTIMABLE, lang)} ({pick(REASONS[reason], lang)})"
