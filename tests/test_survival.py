"""Tests of the dropout analyses (analyses.survival) against R ``survival`` and simulated truth.

Data are simulated here with a seeded generator in the demo's shape: participants in reflection
groups, an exponential hazard of leaving with a participant covariate ``x`` (as baseline
burnout), a group covariate ``cq`` (as coach quality) and a group factor ``f``; follow-up ends at
24 months.  Each comparison names the R call whose numbers it matches and its tolerance:

* Kaplan-Meier (``survfit(..., conf.type = "log-log")``): closed-form, ``rtol = 1e-10``;
* Cox coefficients (``coxph(..., ties = "efron", control = ctl)``): Newton-Raphson to convergence,
  ``rtol = 1e-6`` with ``atol = 1e-7`` (a coefficient near 0 agrees to about 5e-8 absolute);
* robust SEs (``coxph(..., cluster = group)``): ``rtol = 1e-6``, with and without tied event
  times (whole days as in the demo; whole months with 25 groups): the score residuals carry
  Efron's weights for tied deaths (:mod:`analyses.cox_robust`; lifelines' own sandwich leaves
  them out and is 3e-4 to 6e-2 off with ties);
* few-cluster inference: the CR3 SE (delete-one-group jackknife, two Newton steps per group)
  against R's refitted jackknife, ``rtol = 3e-3`` (two steps versus a full refit), and its 95%
  intervals exclude a null HR of 1 in at most 7% of 200 simulated studies with 25 groups (the
  known answer);
* the PH test: lifelines' Grambsch-Therneau statistic, i.e. R's ``cox.zph`` before survival
  3.0 written out by hand in R (``rtol = 1e-6``; the exact score test of survival >= 3.0 gives
  other numbers and is not the reference).

R runs through ``tests/r_reference.py``; without R those comparisons skip with the reason and
the tests against simulated truth still run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from lifelines import CoxPHFitter
from numpy.testing import assert_allclose
from scipy import stats

from analyses.cox_robust import robust_inference
from analyses.survival import FIT_OPTIONS, MONTH_DAYS, DropoutCox, Term, dropout_times, kaplan_meier
from pipeline.errors import InputError
from tests.r_reference import run_r

ROOT = Path(__file__).parents[1]
SURVIVAL = ("survival", "jsonlite")
TERMS = [Term("x", ("x",)), Term("cq", ("cq",)), Term("f", ("f_b",), kind="factor", source="f")]


def simulate(
    seed: int,
    *,
    n_groups: int = 80,
    per_group: int = 8,
    log_hr: tuple[float, float, float] = (np.log(1.5), np.log(0.7), 0.0),
    late_log_hr: tuple[float, float, float] | None = None,
    per_year: float = 0.10,
    days: bool = False,
) -> pd.DataFrame:
    """Exponential (or, with ``late_log_hr``, piecewise exponential with a change at 12 months) dropout."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), per_group)
    cq = rng.normal(0, 1, n_groups)[group]
    f = np.where(np.arange(n_groups) % 3 == 0, "b", "a")[group]
    x = rng.normal(0, 1, len(group))
    design = np.column_stack([x, cq, (f == "b").astype(float)])
    rate1 = per_year / 12 * np.exp(design @ np.array(log_hr))
    rate2 = rate1 if late_log_hr is None else per_year / 12 * np.exp(design @ np.array(late_log_hr))
    e = rng.exponential(1.0, len(group))
    months = np.where(e < 12 * rate1, e / rate1, 12 + (e - 12 * rate1) / rate2)
    if days:
        months = np.maximum(np.round(months * MONTH_DAYS), 1) / MONTH_DAYS
    left = (months <= 24).astype(int)
    return pd.DataFrame(
        {
            "months": np.minimum(months, 24.0),
            "left": left,
            "group": [f"g{g:03d}" for g in group],
            "x": x,
            "cq": cq,
            "f": f,
            "f_b": (f == "b").astype(float),
        }
    )


# ---------------------------------------------------------------------------------------------
# time in intervisie from the roster


def test_dropout_times_from_start_and_end_dates() -> None:
    participants = pd.DataFrame(
        {
            "participant": ["p1", "p2", "p3", "p4", "p5"],
            "programme": ["anios"] * 5,
            "arm": ["intervisie"] * 4 + ["comparison"],
            "group": ["g1", "g1", "g2", "g2", None],
            "format": ["online"] * 5,
            "start_date": pd.to_datetime(["2024-01-01"] * 5),
            "end_date": pd.to_datetime(["2024-07-01", None, "2027-01-01", "2024-01-01", None]),
        }
    )
    out = dropout_times(participants, follow_up_months=24)
    assert out["participant"].tolist() == ["p1", "p2", "p3", "p4"]  # the comparison arm has no dropout
    assert_allclose(out["months"], [182 / MONTH_DAYS, 24, 24, 0.5 / MONTH_DAYS], rtol=1e-12)
    assert out["left"].tolist() == [1, 0, 0, 1]  # p3 left after follow-up ended: censored at 24
    cut = dropout_times(participants, follow_up_months=24, censor_date=dt.date(2024, 4, 1))
    assert cut["left"].tolist() == [0, 0, 0, 1]
    assert_allclose(cut["months"].iloc[0], 91 / MONTH_DAYS, rtol=1e-12)
    bad = participants.assign(end_date=pd.to_datetime(["2023-12-01", None, None, None, None]))
    with pytest.raises(InputError, match="end_date before start_date"):
        dropout_times(bad, follow_up_months=24)


# ---------------------------------------------------------------------------------------------
# the data compared with R, and the one R run that computes every reference number


def km_data() -> pd.DataFrame:
    d = simulate(3, n_groups=20, per_group=6, per_year=0.6, days=True)
    # some people censored early, so that no curve sits at exactly 0.5 (there R reports the
    # midpoint of the flat stretch as the median, lifelines its start)
    early = np.arange(len(d)) % 9 == 0
    d.loc[early, "months"] *= 0.6
    d.loc[early, "left"] = 0
    return d


def split_data() -> pd.DataFrame:
    # x: HR e^1 in the first year, e^-1 after; f: HR 4 in the first year, 1/4 after -> both break PH
    return simulate(5, n_groups=120, per_group=8, per_year=0.5,
                    log_hr=(1.0, np.log(0.7), np.log(4.0)), late_log_hr=(-1.0, np.log(0.7), -np.log(4.0)))


DATA = {
    "d_km": km_data,
    "d_cox0": lambda: simulate(11, per_year=0.3),  # continuous times: no ties
    "d_cox1": lambda: simulate(11, per_year=0.3, days=True),  # whole days: a few tied event times
    "d_cox2": lambda: simulate(13, n_groups=25, per_group=8, per_year=1.0, days=True).assign(  # whole months:
        months=lambda d: np.ceil(d["months"])),  # many ties, 25 groups
    "d_split": split_data,
}

R_SCRIPT = """
ctl <- coxph.control(eps = 1e-12, toler.inf = 1e-6, iter.max = 100)  # to convergence (default eps 1e-9)
fit <- survfit(Surv(months, left) ~ f, data = d_km, conf.type = "log-log")
s <- summary(fit, times = c(6, 12)); q <- quantile(fit, probs = 0.5)
out$km <- list(strata = rep(sub("f=", "", names(fit$strata)), fit$strata), time = fit$time, surv = fit$surv,
               lower = fit$lower, upper = fit$upper, n_risk = fit$n.risk, n_event = fit$n.event,
               s_surv = s$surv, s_lower = s$lower, s_upper = s$upper,
               median = unname(q$quantile), median_low = unname(q$lower), median_high = unname(q$upper))

cox <- function(d) {
  m <- coxph(Surv(months, left) ~ x + cq + f_b, data = d, cluster = group, ties = "efron", control = ctl)
  s <- summary(m)
  # the delete-one-group jackknife (CR3, refitted: exact, not one-step) for the few-cluster check
  g <- sort(unique(d$group))
  jk <- t(sapply(g, function(k) coef(coxph(Surv(months, left) ~ x + cq + f_b, data = d[d$group != k, ],
                                           ties = "efron", control = ctl))))
  list(coef = unname(coef(m)), robust_se = unname(s$coefficients[, "robust se"]),
       model_se = unname(s$coefficients[, "se(coef)"]),
       z = unname(s$coefficients[, "z"]), p = unname(s$coefficients[, "Pr(>|z|)"]),
       lower = unname(s$conf.int[, "lower .95"]), upper = unname(s$conf.int[, "upper .95"]),
       jackknife_se = unname(sqrt(colSums(sweep(jk, 2, coef(m))^2))), groups = length(g))
}
out$cox0 <- cox(d_cox0); out$cox1 <- cox(d_cox1); out$cox2 <- cox(d_cox2)

# cox.zph of survival < 3.0 (transform = "rank"), written out: Grambsch & Therneau (1994)
m0 <- coxph(Surv(months, left) ~ x + cq + f_b, data = d_cox1, ties = "efron", control = ctl)
r <- resid(m0, "schoenfeld"); nd <- nrow(r)
g <- rank(as.numeric(rownames(r))); g <- g - mean(g)
sv <- c(g %*% (r %*% m0$var * nd)); u <- c(g %*% r)
out$ph <- list(chisq = sv^2 / (diag(m0$var) * nd * sum(g^2)), global = c(u %*% m0$var %*% u) * nd / sum(g^2))

s <- survSplit(Surv(months, left) ~ ., data = d_split, cut = 12, start = "entry", episode = "period")
for (v in c("x", "cq")) {
  s[[paste0(v, "_months_0_12")]] <- s[[v]] * (s$period == 1)
  s[[paste0(v, "_months_12_plus")]] <- s[[v]] * (s$period == 2)
}
m <- coxph(Surv(entry, months, left) ~ x_months_0_12 + x_months_12_plus + cq_months_0_12 +
           cq_months_12_plus + strata(f), data = s, cluster = group, ties = "efron", control = ctl)
out$split <- list(coef = unname(coef(m)), robust_se = unname(sqrt(diag(vcov(m)))),
                  n_late = sum(s$period == 2), events_late = sum(s$left[s$period == 2]))
"""


@pytest.fixture(scope="module")
def r_ref() -> dict:
    """R's numbers for every comparison below (one R process for the module)."""
    return run_r(R_SCRIPT, {name: make() for name, make in DATA.items()}, packages=SURVIVAL)


# ---------------------------------------------------------------------------------------------
# Kaplan-Meier


def test_kaplan_meier_matches_r_survfit(r_ref: dict) -> None:
    # R: survfit(Surv(months, left) ~ f, data = d, conf.type = "log-log"); summary(fit, times = c(6, 12));
    #    quantile(fit, probs = 0.5)
    steps, summary = kaplan_meier(km_data(), duration="months", event="left", by="f", times=(6.0, 12.0))
    r = r_ref["km"]
    ours = steps[steps["time_months"] > 0]
    assert ours["stratum"].tolist() == r["strata"]
    assert_allclose(ours["time_months"], r["time"], rtol=1e-12)
    assert_allclose(ours["survival"], r["surv"], rtol=1e-10)
    assert_allclose(ours["ci_low"], np.array(r["lower"], dtype=float), rtol=1e-10)
    assert_allclose(ours["ci_high"], np.array(r["upper"], dtype=float), rtol=1e-10)
    assert ours["at_risk"].tolist() == r["n_risk"] and ours["events"].tolist() == r["n_event"]
    at = summary[["survival_6m", "survival_12m"]].to_numpy().ravel()
    assert_allclose(at, r["s_surv"], rtol=1e-10)
    assert_allclose(summary[["survival_6m_ci_low", "survival_12m_ci_low"]].to_numpy().ravel(), r["s_lower"],
                    rtol=1e-10)
    assert_allclose(summary[["survival_6m_ci_high", "survival_12m_ci_high"]].to_numpy().ravel(), r["s_upper"],
                    rtol=1e-10)
    assert_allclose(summary["median_months"], np.ravel(r["median"]).astype(float), rtol=1e-10)
    assert_allclose(summary["median_ci_low"], np.ravel(r["median_low"]).astype(float), rtol=1e-10)
    assert_allclose(summary["median_ci_high"], np.ravel(r["median_high"]).astype(float), rtol=1e-10)


def test_kaplan_meier_suppresses_strata_below_the_minimum() -> None:
    d = simulate(4, n_groups=10, per_group=5)
    d.loc[:3, "f"] = "tiny"  # four people
    steps, summary = kaplan_meier(d, duration="months", event="left", by="f", min_n=5)
    tiny = steps[steps["stratum"] == "tiny"]
    assert len(tiny) == 1 and tiny["survival"].isna().all() and tiny["at_risk"].isna().all()
    assert tiny["note"].iloc[0] == "suppressed: fewer than 5 participants"
    row = summary[summary["stratum"] == "tiny"].iloc[0]
    assert pd.isna(row["n"]) and pd.isna(row["survival_12m"])
    assert (summary.loc[summary["stratum"] != "tiny", "n"] >= 5).all()


# ---------------------------------------------------------------------------------------------
# Cox model with group-clustered robust SEs


@pytest.mark.parametrize("name", ["cox0", "cox1", "cox2"])
def test_cox_matches_r_coxph_with_cluster(r_ref: dict, name: str) -> None:
    # R: coxph(Surv(months, left) ~ x + cq + f_b, data = d, cluster = group, ties = "efron", control = ctl);
    # the robust SE with tied event times too (Efron's weights in the score residuals, analyses.cox_robust)
    d = DATA[f"d_{name}"]()
    assert d.loc[d["left"] == 1, "months"].duplicated().any() == (name != "cox0")
    fit = DropoutCox(TERMS, cluster="group").fit(d, duration="months", event="left")
    r = r_ref[name]
    main = fit.summary[fit.summary["model"] == "main"].set_index("term").loc[["x", "cq", "f_b"]]
    assert_allclose(np.log(main["hr"]), r["coef"], rtol=1e-6, atol=1e-7)
    assert_allclose(main["se_robust"], r["robust_se"], rtol=1e-6)
    assert_allclose(main["se_model"], r["model_se"], rtol=1e-6)
    assert_allclose(main["z"], r["z"], rtol=1e-6)
    assert (main["n"] == len(d)).all() and (main["events"] == d["left"].sum()).all()
    # few-cluster inference: the jackknife (CR3) is close to R's refitted jackknife, and the
    # intervals and p-values are Student's t on G - 1 df around it
    g = r["groups"]
    assert (main["clusters"] == g).all() and (main["df"] == g - 1).all()
    assert_allclose(main["se_cr3"], r["jackknife_se"], rtol=0.003)
    q = stats.t.ppf(0.975, g - 1)
    assert_allclose(np.log(main["ci_low"]), np.log(main["hr"]) - q * main["se_cr3"], rtol=1e-12)
    assert_allclose(np.log(main["ci_high"]), np.log(main["hr"]) + q * main["se_cr3"], rtol=1e-12)
    assert_allclose(main["p_val"], 2 * stats.t.sf(np.abs(np.log(main["hr"]) / main["se_cr3"]), g - 1), rtol=1e-12)
    assert (main["se_cr3"] > main["se_robust"]).all()


def few_cluster_study(seed: int, *, n_groups: int = 25, per_group: int = 8) -> pd.DataFrame:
    """Null covariates, a shared group frailty (SD 0.5): a person-level ``x`` correlated within groups, a group-level ``cq``."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    frailty, cq = rng.normal(0, 0.5, n_groups)[g], rng.normal(0, 1, n_groups)[g]
    x = 0.7 * rng.normal(0, 1, n_groups)[g] + 0.7 * rng.normal(0, 1, len(g))
    t = rng.exponential(1 / (0.4 / 12 * np.exp(frailty)))
    t = np.maximum(np.round(t * MONTH_DAYS), 1) / MONTH_DAYS
    return pd.DataFrame({"months": np.minimum(t, 24.0), "left": (t <= 24).astype(int),
                         "group": [f"g{i:02d}" for i in g], "x": x, "cq": cq})  # fmt: skip


def few_cluster_rates(studies: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Shares of ``studies`` whose 95% CIs of x and cq exclude 1: CR3 with t (ours), and R's D'D with z."""
    excluded, naive = [], []
    for seed in range(studies):
        d = few_cluster_study(seed)
        fitter = CoxPHFitter().fit(d[["months", "left", "x", "cq"]], "months", "left", fit_options=FIT_OPTIONS)
        x = d[["x", "cq"]].to_numpy()
        inf = robust_inference(d["months"].to_numpy(), d["left"].to_numpy(float), x, fitter.params_.to_numpy(),
                               fitter.variance_matrix_.to_numpy(), d["group"].to_numpy())  # fmt: skip
        excluded.append(((inf["ci_low"] > 0) | (inf["ci_high"] < 0)).to_numpy())
        naive.append((np.abs(inf["z"]) > stats.norm.ppf(0.975)).to_numpy())
    return np.mean(excluded, axis=0), np.mean(naive, axis=0)


@pytest.mark.slow
def test_few_cluster_intervals_keep_their_level() -> None:
    # known answer: with 25 groups and null covariates, 95% CIs exclude 1 in at most 7% of 200 studies
    # (measured: x 5.5%, cq 6.5%; R's D'D with normal intervals: x 8.0%, cq 9.5%)
    rate, naive_rate = few_cluster_rates(200)
    assert (rate <= 0.07).all(), rate
    assert (rate >= 0.02).all(), rate  # not bought by intervals far too wide
    assert naive_rate.max() > 0.08, naive_rate  # the uncorrected sandwich is too small here
    # and DropoutCox reports the same numbers (one study)
    d = few_cluster_study(0)
    fit = DropoutCox([Term("x", ("x",)), Term("cq", ("cq",))], cluster="group", ph_alpha=0.0)
    main = fit.fit(d, duration="months", event="left").summary.set_index("term")
    assert (main["clusters"] == 25).all() and (main["df"] == 24).all()


def test_ph_test_matches_the_grambsch_therneau_formula_in_r(r_ref: dict) -> None:
    # R: the statistic of cox.zph(m0, transform = "rank") in survival < 3.0, written out (R_SCRIPT);
    # the data have tied event times, whose ranks are averaged as R's rank() does
    fit = DropoutCox(TERMS, cluster="group").fit(DATA["d_cox1"](), duration="months", event="left")
    ph = fit.ph_test_.set_index("term")
    assert_allclose(ph.loc[["x", "cq", "f_b"], "statistic"], r_ref["ph"]["chisq"], rtol=1e-6)
    assert_allclose(ph.loc["GLOBAL", "statistic"], r_ref["ph"]["global"], rtol=1e-6)
    assert ph.loc["GLOBAL", "df"] == 3


def test_ph_failure_stratifies_the_factor_and_splits_time(r_ref: dict) -> None:
    d = split_data()
    fit = DropoutCox(TERMS, cluster="group", ph_alpha=0.05, split_months=12).fit(d, duration="months", event="left")
    ph = fit.ph_test_.set_index("term")
    assert ph.loc["x", "violated"] and ph.loc["f_b", "violated"] and not ph.loc["cq", "violated"]
    assert ph.loc["f_b", "action"] == "stratified by f in model ph_adjusted (primary)"
    assert ph.loc["x", "action"].startswith("all hazard ratios estimated before and after 12 months")
    assert ph.loc["cq", "action"] == "none"
    table = fit.summary
    assert not table.loc[table["model"] == "main", "primary"].any()
    adjusted = table[table["model"] == "ph_adjusted"].set_index("term")
    assert adjusted["primary"].all()
    terms = ["x_months_0_12", "x_months_12_plus", "cq_months_0_12", "cq_months_12_plus"]
    assert sorted(adjusted.index) == sorted(terms)
    # R: coxph(Surv(entry, months, left) ~ x_months_0_12 + x_months_12_plus + cq_months_0_12 +
    #          cq_months_12_plus + strata(f), data = survSplit(..., cut = 12), cluster = group)
    r = r_ref["split"]
    adjusted = adjusted.loc[terms]
    assert_allclose(np.log(adjusted["hr"]), r["coef"], rtol=1e-6, atol=1e-7)
    assert_allclose(adjusted["se_robust"], r["robust_se"], rtol=1e-6)
    assert adjusted.loc["x_months_12_plus", "n"] == r["n_late"]
    assert adjusted.loc["x_months_12_plus", "events"] == r["events_late"]
    assert adjusted.loc["x_months_0_12", "n"] == len(d)
    # and the split recovers the planted effects (+1 then -1 on the log scale)
    assert adjusted.loc["x_months_0_12", "ci_low"] < np.e < adjusted.loc["x_months_0_12", "ci_high"]
    assert adjusted.loc["x_months_12_plus", "ci_low"] < np.exp(-1) < adjusted.loc["x_months_12_plus", "ci_high"]


def test_no_ph_failure_gives_one_primary_model() -> None:
    d = simulate(21, per_year=0.3)
    fit = DropoutCox(TERMS, cluster="group").fit(d, duration="months", event="left")
    assert not fit.ph_test_["violated"].any() and fit.adjusted_ == []
    assert set(fit.summary["model"]) == {"main"} and fit.summary["primary"].all()


def test_cox_recovers_the_simulated_hazard_ratios() -> None:
    # truth as in the demo study's simulation.yaml `dropout`: HR 1.5 per SD of x, 0.7 per SD of
    # the group's cq, 0.10 per year; 4000 people in 500 groups so the 95% CIs are narrow
    d = simulate(7, n_groups=500, per_group=8)
    fit = DropoutCox(TERMS, cluster="group").fit(d, duration="months", event="left")
    main = fit.summary.set_index("term")
    for term, truth in [("x", 1.5), ("cq", 0.7), ("f_b", 1.0)]:
        assert main.loc[term, "ci_low"] < truth < main.loc[term, "ci_high"], term
    assert_allclose(main.loc["x", "hr"], 1.5, rtol=0.15)
    assert_allclose(main.loc["cq", "hr"], 0.7, rtol=0.15)


def test_missing_column_is_named() -> None:
    d = simulate(1).drop(columns="cq")
    with pytest.raises(InputError, match=r"\['cq'\]"):
        DropoutCox(TERMS, cluster="group").fit(d, duration="months", event="left")


# ---------------------------------------------------------------------------------------------
# the demo study: the stage end to end, and the planted dropout effects


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from intervisie.stages.design import run_design
    from intervisie.stages.ingest import run_ingest
    from intervisie.stages.score import run_score
    from intervisie.stages.survival import run_survival

    clean = tmp_path_factory.mktemp("clean")
    run_ingest(ROOT / "data_raw" / "demo" / "study.yaml", ROOT / "instruments", ROOT / "params.yaml", clean,
               lambda _m: None)
    run_score(clean, ROOT / "instruments", clean / "scale_scores.parquet", clean / "dd.csv", lambda _m: None)
    run_design(ROOT / "data_raw" / "demo" / "study.yaml", ROOT / "instruments", ROOT / "params.yaml",
               clean / "design.json")
    out = tmp_path_factory.mktemp("survival")
    run_survival(clean, ROOT / "params.yaml", out / "a", lambda _m: None)
    run_survival(clean, ROOT / "params.yaml", out / "b", lambda _m: None)
    # the model the planted dropout was simulated from: baseline work burnout and the group's coach quality
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["analyses"]["survival"].update(baseline_scales=["cbi_work"], group_scales=["coach_quality"])
    (out / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    run_survival(clean, out / "params.yaml", out / "truth", lambda _m: None)
    return out


@pytest.mark.slow
def test_demo_stage_writes_its_tables_deterministically(demo_results: Path) -> None:
    a, b = demo_results / "a", demo_results / "b"
    names = ["km.csv", "km_summary.csv", "cox.csv", "ph_test.csv", "caseness.csv", "caseness_curve.csv",
             "metrics.json", "skipped.csv", "figures/km_programme.png", "figures/km_format.png"]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    columns = {
        "km.csv": ["curve", "stratum", "time_months", "survival", "ci_low", "ci_high", "at_risk", "events", "note"],
        "cox.csv": ["model", "term", "hr", "ci_low", "ci_high", "se_robust", "z", "p_val", "n", "events", "primary",
                    "note", "se_model", "se_cr3", "t_val", "df", "clusters", "reference"],
        "ph_test.csv": ["model", "term", "statistic", "df", "p_val", "violated", "action"],
        "caseness.csv": ["model", "term", "estimate", "ci_low", "ci_high", "p_val", "n", "events", "note"],
        "caseness_curve.csv": ["arm", "time_lower", "time_upper", "survival"],
    }
    for name, cols in columns.items():
        assert pd.read_csv(a / name).columns.tolist() == cols, name
    summary = pd.read_csv(a / "km_summary.csv")
    assert (summary["n"] >= 5).all()
    assert set(summary["curve"]) == {"overall", "programme", "format"}
    assert pd.read_csv(a / "skipped.csv").empty  # the demo design supports every part of the stage


@pytest.mark.slow
def test_demo_recovers_the_planted_dropout(demo_results: Path) -> None:
    # simulation.yaml `dropout`: exponential hazard 0.10/year, HR 1.50 per SD of the true baseline
    # work burnout, HR 0.70 per SD of the group's true coach quality.  The model sees observed
    # proxies: the baseline CBI score (true SD about 14.3 of an observed 16.5 within programme,
    # so regression dilution pulls the HR towards about exp(0.405 * 0.88) = 1.43) and the mean
    # of the group's session ratings (ICC(2) about 0.9: little dilution).
    cox = pd.read_csv(demo_results / "truth" / "cox.csv")
    primary = cox[cox["primary"]].set_index("term")
    burnout, coach = primary.loc["cbi_work_z"], primary.loc["coach_quality_z"]
    assert 1.0 < burnout["ci_low"] and burnout["ci_low"] < 1.5 < burnout["ci_high"]
    assert coach["ci_high"] < 1.0 and coach["ci_low"] < 0.70 < coach["ci_high"]
    # the true share still in intervisie, E[exp(-0.10 t exp(0.405 z - 0.357 c))] over z, c ~ N(0, 1)
    x, w = np.polynomial.hermite_e.hermegauss(40)
    z, c = np.meshgrid(x, x)
    weights = np.outer(w, w) / w.sum() ** 2
    overall = pd.read_csv(demo_results / "a" / "km_summary.csv").query("curve == 'overall'").iloc[0]
    for years in (1, 2):
        truth = float((weights * np.exp(-0.10 * years * np.exp(0.405 * z - 0.357 * c))).sum())
        assert overall[f"survival_{12 * years}m_ci_low"] < truth < overall[f"survival_{12 * years}m_ci_high"]
    # intervisie lowers work burnout (effect_short -6, effect_long -2 per year): caseness comes later
    caseness = pd.read_csv(demo_results / "a" / "caseness.csv").set_index(["model", "term"])
    hr = caseness.loc[("weibull_arm_programme", "hazard_ratio:arm_intervisie")]
    assert hr["ci_high"] < 1.0 and hr["note"].startswith("primary")


def test_the_first_declared_programme_is_the_cox_reference() -> None:
    from intervisie.stages.survival import CasenessParams, SurvivalParams, cox_data

    d = simulate(5, n_groups=30, per_group=6, per_year=0.6)
    programme = np.where(np.arange(len(d)) % 3 == 0, "anios", np.where(np.arange(len(d)) % 3 == 1, "Zorg", "coschap"))
    times = d.assign(participant=[f"p{i}" for i in range(len(d))], programme=programme, format="online")
    spec = SurvivalParams(follow_up_months=24, km_times=[12], km_by=[], baseline_scales=[], group_scales=[],
                          factors=["programme"], caseness=CasenessParams(scale=None, threshold=None, covariates=[]))
    empty = pd.DataFrame(columns=["participant", "wave", "scale", "score", "score_status", "session"])
    sessions = pd.DataFrame({"session": pd.Series(dtype=str), "group": pd.Series(dtype=str)})
    # declared order: the first programme listed is the reference; without it, the most common level
    data, terms, _ = cox_data(times, empty, sessions, times, spec, "t0", levels={"programme": ["coschap", "anios", "Zorg"]})
    assert terms[0].reference == "coschap" and terms[0].columns == ("programme_anios", "programme_Zorg")
    fit = DropoutCox(terms, cluster="group").fit(data, duration="months", event="left")
    assert set(fit.summary["reference"]) == {"programme=coschap"}
    _, fallback, _ = cox_data(times, empty, sessions, times, spec, "t0")
    assert fallback[0].reference == "Zorg"  # all three equally common: the first by name (code point)
