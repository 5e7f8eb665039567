"""Random-effects structures pruned one zero variance component at a time.

When a mixed model's fit is singular (lme4's ``isSingular``: a relative standard deviation
:math:`\\theta_k` of the random effects below ``1e-4``), the data support a simpler random part.
Dropping a whole row of a fixed list of structures can take a component that is clearly real
with it (with a zero group variance, ``(1 + short | participant) + (1 | group)`` would jump to
``(1 | participant) + (1 | group)`` and lose the random slope, making the SE of the slope's
fixed effect too small).  :func:`fit_pruned` instead removes only what is estimated at zero and
refits, one step at a time:

1. fit the structure; accept it when it converged and is not singular;
2. singular: drop the component whose standard deviation is at (or near: below
   :data:`ZERO_SD` of the residual SD) zero, the smallest first; when no standard deviation is
   zero the boundary is a correlation of +-1, and the term loses its correlation
   (``(1 + short || participant)``);
3. not converged: drop the component with the smallest standard deviation relative to the
   residual (the least supported one; Matuschek et al. 2017); an error: drop the last random
   slope, else the last term;
4. when nothing is left to drop, continue with the next structure the researcher listed
   (``analyses.growth.random`` in params.yaml) that was not yet tried.

Every structure tried is a row of the log (``structures.csv``): ``step``, ``formula``, ``status``
(``accepted``, ``singular``, ``not converged``, ``error``, ``not tried``), ``reason`` and
``action`` (what was removed to reach the next row).

References
----------
Bates D, Kliegl R, Vasishth S, Baayen H (2015). Parsimonious mixed models. arXiv:1506.04967.
Matuschek H, Kliegl R, Vasishth S, Baayen H, Bates D (2017). Balancing Type I error and power in
linear mixed models. J Mem Lang 94:305-315. doi:10.1016/j.jml.2017.01.001
Barr DJ, Levy R, Scheepers C, Tily HJ (2013). Random effects structure for confirmatory
hypothesis testing: keep it maximal. J Mem Lang 68(3):255-278.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analyses.mixed import MixedModel, NoAcceptableFitError
from analyses.mixed.checks import theta_labels
from analyses.mixed.formula import parse_formula

logger = logging.getLogger("analyses.mixed")

#: a random-effect SD below this share of the residual SD counts as zero (lme4's isSingular tolerance)
ZERO_SD = 1e-4
INTERCEPT = "(Intercept)"
LOG_COLUMNS = ["step", "formula", "status", "reason", "action"]


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect term ``(effects | factor)``; ``effects`` as the engine names them."""

    factor: str
    effects: tuple[str, ...]
    correlated: bool = True
    text: str = ""  # a term this module cannot take apart (nested factors): kept verbatim

    def render(self) -> str:
        """The term in lme4 syntax."""
        if self.text:
            return self.text
        slopes = [e for e in self.effects if e != INTERCEPT]
        lhs = " + ".join(["1" if INTERCEPT in self.effects else "0", *slopes])
        bar = "||" if self.correlated is False and len(self.effects) > 1 else "|"
        return f"({lhs} {bar} {self.factor})"


def parse_random(random: str) -> list[RandomTerm]:
    """Split a random part such as ``(1 + short | participant) + (1 | group)`` into its terms."""
    terms = []
    for text in parse_formula(f"y ~ 1 + {random}").random_terms:
        inner = text.strip()[1:-1]
        double = "||" in inner
        lhs, _, factor = inner.partition("||" if double else "|")
        factor = factor.strip()
        if not re.fullmatch(r"[A-Za-z._][A-Za-z0-9._]*", factor):
            terms.append(RandomTerm(factor, (), text=text.strip()))
            continue
        tokens = [t.strip() for t in lhs.split("+") if t.strip()]
        intercept = not any(t in ("0", "-1") for t in tokens)
        slopes = [t for t in tokens if t not in ("0", "1", "-1")]
        terms.append(RandomTerm(factor, (INTERCEPT,) * intercept + tuple(slopes), correlated=not double))
    return terms


def render_random(terms: Sequence[RandomTerm]) -> str:
    """The random part written out (terms joined by ``+``)."""
    return " + ".join(t.render() for t in terms)


def _components(model: MixedModel) -> pd.DataFrame:
    """``factor, effect, sd_ratio, theta_zero``: each random SD relative to the residual SD, and its theta flag."""
    table = model.random_
    sigma = float(table.loc[table["group"] == "Residual", "sd"].iloc[0])
    own = table[(table["group"] != "Residual") & table["term2"].isna()]
    labels, bounded = theta_labels(model.result_)
    theta = np.asarray(model.result_.theta, dtype=float)
    at_zero = {lab for lab, b, v in zip(labels, bounded, theta, strict=True) if b and v < model.singular_tol}
    return pd.DataFrame(
        {
            "factor": [re.sub(r"\.\d+$", "", str(g)) for g in own["group"]],
            "effect": own["term"].astype(str).to_numpy(),
            "sd_ratio": own["sd"].to_numpy(float) / sigma if sigma > 0 else np.inf,
            "theta_zero": [f"{g}: {t}" in at_zero for g, t in zip(own["group"], own["term"], strict=True)],
        }
    )


def _drop(terms: list[RandomTerm], factor: str, effect: str) -> list[RandomTerm] | None:
    """``terms`` without ``effect`` of ``factor`` (a term left empty goes); None when it is not there."""
    for i, term in enumerate(terms):
        if not term.text and term.factor == factor and effect in term.effects:
            rest = tuple(e for e in term.effects if e != effect)
            return terms[:i] + ([replace(term, effects=rest)] if rest else []) + terms[i + 1 :]
    return None


def next_structure(
    terms: list[RandomTerm], model: MixedModel | None, status: str
) -> tuple[list[RandomTerm] | None, str]:
    """The simpler structure to try after ``status``, and the action in words; (None, why) when none."""
    if model is not None and status in ("singular", "not converged"):
        parts = _components(model).sort_values("sd_ratio", kind="stable")
        zero = parts[parts["sd_ratio"] < ZERO_SD] if status == "singular" else parts.head(1)
        for row in zero.itertuples():
            pruned = _drop(terms, row.factor, row.effect)
            if pruned:
                what = "variance estimated at zero" if status == "singular" else "the smallest variance"
                return pruned, f"dropped {row.factor}: {row.effect} ({what}, SD/residual SD = {row.sd_ratio:.2g})"
        if status == "singular":
            for row in parts[parts["theta_zero"]].itertuples():
                for i, term in enumerate(terms):
                    if not term.text and term.factor == row.factor and term.correlated and len(term.effects) > 1:
                        simpler = [*terms[:i], replace(term, correlated=False), *terms[i + 1 :]]
                        return simpler, f"removed the correlations of {term.factor}'s random effects (estimated at +-1)"
        if status == "singular":
            return None, "no component of this structure can be removed"
    for i in reversed(range(len(terms))):
        slopes = [e for e in terms[i].effects if e != INTERCEPT]
        if slopes and not terms[i].text:
            return _drop(terms, terms[i].factor, slopes[-1]), f"dropped {terms[i].factor}: {slopes[-1]} (fit failed)"
    if len(terms) > 1:
        return terms[:-1], f"dropped {terms[-1].render()} (fit failed)"
    return None, "nothing left to remove"


def _status(model: MixedModel) -> tuple[str, str]:
    if model.singular_:
        return "singular", next(m for m in model.messages_ if m.startswith("boundary (singular) fit"))
    if not model.converged_:
        reasons = [m for m in model.messages_ if "converge" in m or "Hessian" in m or "unidentifiable" in m]
        return "not converged", "; ".join(reasons)
    return "accepted", ""


def fit_pruned(
    fixed: str,
    random: Sequence[str],
    data: pd.DataFrame,
    *,
    reml: bool = True,
    df_method: str = "satterthwaite",
    weights: str | pd.Series | None = None,
) -> tuple[MixedModel, pd.DataFrame]:
    """Fit ``fixed + random[0]``, pruning zero variance components until a fit is acceptable.

    Parameters
    ----------
    fixed : str
        The fixed part with the response, e.g. ``"y ~ (short + long) * arm"``.
    random : sequence of str
        Random parts; the first is the maximal structure, the pruning starts there; the others
        are starting points tried (in order, skipping structures already tried) only when a
        pruning path ends without an acceptable fit.
    data : DataFrame
    reml, df_method : see :class:`analyses.mixed.MixedModel`.
    weights : str or Series, optional
        Prior (precision) weights as ``lmer(weights=)`` takes them: a column of ``data`` or one
        value per row (:meth:`analyses.mixed.MixedModel.fit`); None fits without weights.

    Returns
    -------
    model : MixedModel
        The accepted fit; ``model.fallback_log_`` holds the log and, when it is not the first
        structure, ``model.messages_`` says why.
    log : DataFrame
        ``step, formula, status, reason, action`` (:data:`LOG_COLUMNS`).

    Raises
    ------
    ValueError
        If ``random`` is empty.
    NoAcceptableFitError
        If no structure gives an acceptable fit; its ``log`` holds the table.
    """
    if isinstance(random, str) or not random:
        raise ValueError("random must be a non-empty list of random parts, the maximal one first")
    starts = [parse_random(r) for r in random]
    rows: list[dict[str, object]] = []
    tried: set[str] = set()
    chosen: MixedModel | None = None
    for start in starts:
        terms: list[RandomTerm] | None = start
        while terms and chosen is None:
            formula = f"{fixed} + {render_random(terms)}"
            if formula in tried:
                break
            tried.add(formula)
            model: MixedModel | None = None
            try:
                model = MixedModel(formula, reml=reml, df_method=df_method).fit(data, weights=weights)
                status, reason = _status(model)
            except Exception as exc:  # any failure of this structure is recorded and the next one tried
                status, reason = "error", f"{type(exc).__name__}: {exc}"
            row: dict[str, object] = {"step": len(rows) + 1, "formula": formula, "status": status, "reason": reason}
            if status == "accepted":
                chosen = model
                rows.append({**row, "action": ""})
                break
            terms, action = next_structure(terms, model, status)
            rows.append({**row, "action": action})
            logger.warning("%s: %s (%s); %s", formula, status, reason, action)
    for start in starts:
        formula = f"{fixed} + {render_random(start)}"
        if formula not in tried:
            tried.add(formula)
            rows.append({"step": len(rows) + 1, "formula": formula, "status": "not tried",
                         "reason": "a structure was accepted before" if chosen else "", "action": ""})  # fmt: skip
    log = pd.DataFrame(rows, columns=LOG_COLUMNS)
    if chosen is None:
        detail = "; ".join(f"{r['formula']}: {r['status']} ({r['reason']})" for r in rows if r["status"] != "not tried")
        raise NoAcceptableFitError(f"no acceptable random-effects structure: {detail}", log)
    if log["status"].iloc[0] != "accepted":
        path = "; ".join(f"'{r['formula']}' {r['status']}, {r['action']}" for r in rows if r["status"] not in ("accepted", "not tried"))
        note = f"random-effects structure simplified to '{chosen.formula}': {path}"
        chosen.messages_.append(note)
        logger.warning(note)
    chosen.fallback_log_ = log
    return chosen, log
