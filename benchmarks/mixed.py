"""Mixed-model fits: the engine (mixedlm, via analyses.mixed) against R's lme4, same data, same run.

For each design -- the demo's size (about 900 participants in 120 groups, 4 waves, ~10% of
follow-up waves missing) and one ten times larger -- and each model

* ``nested``: ``y ~ arm * (short + long) + (1 | group/participant)`` (random intercepts,
  participants within groups),
* ``slope``:  ``y ~ arm * time + (1 + time | participant) + (1 | group)`` (correlated random
  intercept and slope),

it measures, in the same run on the same simulated data (the best of ``--repeat`` runs after one
warm-up run each side; the best is the estimate least disturbed by other work on the machine):

* ``engine_s``: ``mixedlm.lmer`` (REML fit only) vs ``lme4_s``: ``lme4::lmer`` timed inside R
  with ``system.time`` around the fit only -> ``ratio_fit = engine_s / lme4_s`` (wall time), and
  the same in CPU seconds of the process (``ratio_fit_cpu``, less disturbed by other work);
* ``mixedmodel_s``: ``analyses.mixed.MixedModel.fit`` (fit, lme4's convergence checks,
  Satterthwaite df, tidy tables) vs ``lmertest_s``: ``lmerTest::lmer`` + ``summary`` (fit,
  lme4's checks, Satterthwaite df) -> ``ratio_inference``;
* the largest relative difference between the two sides' fixed effects, standard errors,
  Satterthwaite df, variance components and REML log-likelihood, against lme4 as timed
  (default optimizer settings) and against lme4 run to tight optimizer tolerances
  (``xtol_abs = ftol_abs = 1e-12``), with the difference of the REML criteria (negative: the
  engine found the lower deviance). Where lme4's default stopping rule leaves a flat direction of
  the likelihood (a small slope variance) unresolved, the second comparison shows the agreement
  of the two optima rather than lme4's stopping tolerance.

Without R the R columns are left empty with a note. Results go to ``--out`` (JSON) and to the
terminal as a table, with the machine's load average before and after each design: the engine's
native code is multi-threaded and lme4 is not, so other work on a 2-core machine slows the
engine more and lowers the ratio's meaning; run it on an otherwise idle machine.
Run: ``.venv/bin/python -m benchmarks.mixed``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analyses.mixed import MixedModel

ROOT = Path(__file__).parents[1]
MODELS = {
    "nested": "y ~ arm * (short + long) + (1 | group/participant)",
    "slope": "y ~ arm * time + (1 + time | participant) + (1 | group)",
}
MONTHS = np.array([0, 3, 12, 24])


def simulate(n_groups: int, seed: int) -> pd.DataFrame:
    """Groups of 5-10 participants (mean 7.5), arm per group, 4 waves, random intercepts and slopes."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 11, n_groups)
    group = np.repeat(np.arange(n_groups), sizes)
    n = len(group)
    coach = (rng.random(n_groups) < 0.5)[group].astype(float)
    u = rng.multivariate_normal([0, 0], [[0.36, -0.027], [-0.027, 0.0225]], size=n)
    ug = rng.normal(0, 0.4, n_groups)[group]
    pid = np.repeat(np.arange(n), 4)
    months = np.tile(MONTHS, n).astype(float)
    short, long, time_ = np.minimum(months, 3) / 3, np.maximum(months - 3, 0) / 12, months / 12
    c = coach[pid]
    y = (
        3.5
        + 0.05 * c
        - 0.1 * short
        - 0.05 * long
        + 0.25 * c * short
        + 0.15 * c * long
        + ug[pid]
        + u[pid, 0]
        + u[pid, 1] * time_
        + rng.normal(0, 0.45, len(pid))
    )
    frame = pd.DataFrame(
        {
            "group": [f"g{g:04d}" for g in group[pid]],
            "participant": [f"p{p:05d}" for p in pid],
            "arm": pd.Categorical(np.where(c == 1, "coach", "control"), categories=["control", "coach"]),
            "short": short,
            "long": long,
            "time": time_,
            "y": y,
        }
    )
    keep = (months == 0) | (rng.random(len(frame)) > 0.1)
    return frame.loc[keep].reset_index(drop=True)


def time_python(data: pd.DataFrame, formula: str, repeat: int) -> dict[str, Any]:
    """Best wall time of the engine's fit and of MixedModel.fit, after one warm-up each."""
    import mixedlm

    model = MixedModel(formula)
    engine_formula = model.parsed.engine_formula()
    frame = data[model.parsed.variables]
    mixedlm.lmer(engine_formula, frame)
    engine, engine_cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        mixedlm.lmer(engine_formula, frame)
        engine.append(time.perf_counter() - start)
        engine_cpu.append(time.process_time() - start_cpu)
    model.fit(data)
    full = []
    for _ in range(repeat):
        start = time.perf_counter()
        model = MixedModel(formula).fit(data)
        full.append(time.perf_counter() - start)
    return {"engine_s": min(engine), "engine_cpu_s": min(engine_cpu), "mixedmodel_s": min(full), "model": model}


R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$arm <- factor(d$arm, levels = c("control", "coach"))
repeat_n <- as.integer(args[3])
forms <- list(nested = y ~ arm * (short + long) + (1 | group/participant),
              slope = y ~ arm * time + (1 + time | participant) + (1 | group))
out <- list(r_version = R.version.string, lme4 = as.character(packageVersion("lme4")),
            lmerTest = as.character(packageVersion("lmerTest")))
for (name in names(forms)) {
  f <- forms[[name]]
  m <- lme4::lmer(f, data = d)  # warm-up
  fit_st <- replicate(repeat_n, system.time(m <- lme4::lmer(f, data = d)))
  fit_t <- fit_st["elapsed", ]
  fit_cpu <- fit_st["user.self", ] + fit_st["sys.self", ]
  mt <- lmerTest::lmer(f, data = d); s <- summary(mt)  # warm-up
  inf_t <- replicate(repeat_n, system.time({mt <- lmerTest::lmer(f, data = d); s <- summary(mt)})[["elapsed"]])
  tables <- function(mt) {
    cs <- coef(summary(mt)); v <- as.data.frame(VarCorr(mt))
    list(term = rownames(cs), estimate = unname(cs[, 1]), std_error = unname(cs[, 2]), df = unname(cs[, 3]),
         variance = v$vcov, loglik = as.numeric(logLik(mt)), remlcrit = REMLcrit(mt))
  }
  tight <- lmerControl(optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-12, xtol_rel = 1e-12, maxeval = 1e5))
  out[[name]] <- c(list(lme4_s = min(fit_t), lme4_cpu_s = min(fit_cpu), lmertest_s = min(inf_t)), tables(mt))
  out[[name]]$tight <- tables(lmerTest::lmer(f, data = d, control = tight))
}
write_json(out, args[2], digits = NA, auto_unbox = TRUE)
"""


def r_missing() -> str | None:
    """Why R with lme4/lmerTest cannot run here, or None."""
    if shutil.which("Rscript") is None:
        return "Rscript not found (apt-get install r-base-core r-cran-lme4 r-cran-lmertest r-cran-jsonlite)"
    probe = 'ok <- sapply(c("lme4", "lmerTest", "jsonlite"), requireNamespace, quietly = TRUE); cat(names(ok)[!ok])'
    done = subprocess.run(["Rscript", "--vanilla", "-e", probe], capture_output=True, text=True, check=False)
    missing = done.stdout.strip()
    return f"R package(s) missing: {missing}" if missing or done.returncode else None


def time_r(data: pd.DataFrame, repeat: int) -> dict[str, Any]:
    """Run lme4/lmerTest on the same data in one R process; times measured inside R."""
    with tempfile.TemporaryDirectory(prefix="bench_mixed_") as tmp:
        csv, out, script = Path(tmp, "d.csv"), Path(tmp, "out.json"), Path(tmp, "bench.R")
        data.to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_SCRIPT, encoding="utf-8")
        done = subprocess.run(
            ["Rscript", "--vanilla", str(script), str(csv), str(out), str(repeat)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"R failed:\n{done.stderr[-2000:]}")
        return json.loads(out.read_text(encoding="utf-8"))


def max_rel_diff(ours: np.ndarray, theirs: np.ndarray) -> float:
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    return float(np.max(np.abs(ours - theirs) / np.abs(theirs)))


def compare(model: MixedModel, r: dict[str, Any]) -> dict[str, float]:
    """Largest relative differences between MixedModel and lmerTest, per quantity."""
    fixed = model.fixed_.set_index("term").loc[r["term"]]
    ours_var = np.sort(model.random_["variance"].to_numpy())
    return {
        "estimate": max_rel_diff(fixed["estimate"], r["estimate"]),
        "std_error": max_rel_diff(fixed["std_error"], r["std_error"]),
        "df": max_rel_diff(fixed["df"], r["df"]),
        "variance": max_rel_diff(ours_var, np.sort(r["variance"])),
        "loglik": max_rel_diff([model.loglik_], [r["loglik"]]),
        "remlcrit_minus_lme4": float(model.deviance_ - r["remlcrit"]),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse options, time both sides on each design, print the table and write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mixed", description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[120, 1200], help="groups per design")
    parser.add_argument("--repeat", type=int, default=5, help="timed fits per side (best kept)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-r", action="store_true", help="skip R even when installed")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "mixed.json")
    args = parser.parse_args(argv)
    note = "R skipped (--no-r)" if args.no_r else r_missing()
    if note:
        print(f"note: {note}; R columns left empty", flush=True)
    rows, r_info = [], {}
    for n_groups in args.groups:
        data = simulate(n_groups, args.seed)
        load_before = os.getloadavg()[0]
        if load_before > 0.5:
            print(f"warning: load average {load_before:.2f} before timing: other work may distort the times")
        print(f"design: {n_groups} groups, {data['participant'].nunique()} participants, {len(data)} rows", flush=True)
        r = time_r(data, args.repeat) if not note else None
        if r:
            r_info = {k: r[k] for k in ("r_version", "lme4", "lmerTest")}
        for name, formula in MODELS.items():
            py = time_python(data, formula, args.repeat)
            row: dict[str, Any] = {
                "groups": n_groups,
                "participants": int(data["participant"].nunique()),
                "rows": len(data),
                "model": name,
                "engine_s": round(py["engine_s"], 4),
                "mixedmodel_s": round(py["mixedmodel_s"], 4),
            }
            if r:
                rr = r[name]
                row |= {
                    "lme4_s": round(rr["lme4_s"], 4),
                    "lmertest_s": round(rr["lmertest_s"], 4),
                    "ratio_fit": round(py["engine_s"] / rr["lme4_s"], 3) if rr["lme4_s"] > 0 else None,
                    "engine_cpu_s": round(py["engine_cpu_s"], 4),
                    "lme4_cpu_s": round(rr["lme4_cpu_s"], 4),
                    "ratio_fit_cpu": round(py["engine_cpu_s"] / rr["lme4_cpu_s"], 3) if rr["lme4_cpu_s"] > 0 else None,
                    "ratio_inference": round(py["mixedmodel_s"] / rr["lmertest_s"], 3),
                    "max_rel_diff": {k: float(f"{v:.3g}") for k, v in compare(py["model"], rr).items()},
                    "max_rel_diff_tight": {k: float(f"{v:.3g}") for k, v in compare(py["model"], rr["tight"]).items()},
                }
            row["load_avg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            rows.append(row)
            print("  " + json.dumps(row), flush=True)
    header = [
        "rows",
        "model",
        "engine_s",
        "lme4_s",
        "ratio_fit",
        "ratio_fit_cpu",
        "mixedmodel_s",
        "lmertest_s",
        "ratio_inference",
    ]
    print(
        "\n"
        + " | ".join([*header, "max rel. diff vs lme4 default | vs lme4 tight (estimate, SE, df, variances, logLik)"])
    )
    for row in rows:
        texts = []
        for key in ("max_rel_diff", "max_rel_diff_tight"):
            diffs = row.get(key)
            texts.append(
                ", ".join(f"{v:.1e}" for k, v in diffs.items() if k != "remlcrit_minus_lme4") if diffs else "-"
            )
        print(" | ".join(str(row.get(h, "-")) for h in header) + " | " + " | ".join(texts))
    report = {
        "benchmark": "mixed-model fit: mixedlm / analyses.mixed vs lme4 / lmerTest (R), same data and run",
        "timing": f"best of {args.repeat} runs after a warm-up; R timed inside R with system.time (elapsed)",
        "note": note,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), **r_info},
        "models": MODELS,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
