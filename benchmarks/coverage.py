"""Bias and 95% CI coverage of the main effects over many simulated studies.

``python -m benchmarks.coverage --studies 200 --jobs 2`` runs two parts (``--part`` picks one):

``growth``: simulates each study with the demo configuration and its own seed (formats: CSV),
runs ingest + score + the growth models of ``params.yaml`` for the primary outcomes, and compares
each estimate with the truth recorded in ``simulation.yaml`` (the per-programme short-term
effects averaged over the design's sizes).

``selection``: simulates small two-arm studies in memory (:func:`pipeline.simulate.selection_study`;
120 people, CBI at 0 and 3 months, a training year and an earlier-treatment covariate that shape
the change) in which nobody benefits from intervisie, under three ways of joining: at random,
on the observed baseline burnout (regression to the mean) and on training year (confounding);
and estimates the short-term effect with ``analyses.adjusted.adjusted_short_term`` (propensity
overlap weights + weighted ANCOVA on baseline, programme and covariates) and, beside it, the
unadjusted difference in mean change (post - pre) between the arms (pooled-variance t interval).

Both report per outcome and term: the mean estimate, bias, empirical SD vs mean SE, the share of
95% intervals that cover the truth with its Wilson 95% interval (goal 93-97%) and the share that
exclude zero (``rejection``: under a true zero, the type I error rate; goal about 5%).

The long-term truth is the effect per year *while in intervisie*; participants who leave the
programme stop accruing it, so the intention-to-treat slope the model estimates is somewhat
smaller: a small negative bias there is expected and reported, not hidden.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from statsmodels.stats.proportion import proportion_confint

from intervisie.stages.plan import dask_client

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "data_raw" / "demo"
TERMS = ("short:armintervisie", "long:armintervisie")
#: the selection scenarios: mechanism -> log-odds of joining per SD of what drives it
SCENARIOS = {"random": 0.0, "baseline": 1.0, "covariate": 1.0}
ADJUSTED_TERM = "short: adjusted (ato, doubly robust)"
UNADJUSTED_TERM = "short: unadjusted change difference"


def one_study(seed: int) -> list[dict]:
    """Simulate, ingest, score and model one study; return the estimates of the main effects."""
    from analyses.growth import growth_results
    from intervisie.stages.common import DESIGN_FILE, analysis_scores, load_analysis_params
    from intervisie.stages.design import run_design
    from intervisie.stages.ingest import run_ingest
    from intervisie.stages.score import run_score
    from pipeline.simulate import run as simulate

    with tempfile.TemporaryDirectory(prefix="intervisie-coverage-") as tmp:
        work = Path(tmp)
        config = yaml.safe_load((DEMO / "simulation.yaml").read_text(encoding="utf-8"))
        config["seed"] = seed
        (work / "config").mkdir()
        (work / "config" / "simulation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        shutil.copy(DEMO / "study.yaml", work / "config" / "study.yaml")
        simulate(work / "config" / "simulation.yaml", ROOT / "instruments", work / "raw", formats="csv")
        run_design(work / "raw" / "study.yaml", ROOT / "instruments", ROOT / "params.yaml", work / "clean" / DESIGN_FILE)
        run_ingest(
            work / "raw" / "study.yaml", ROOT / "instruments", ROOT / "params.yaml", work / "clean", lambda _m: None
        )
        run_score(
            work / "clean",
            ROOT / "instruments",
            work / "clean" / "scale_scores.parquet",
            work / "clean" / "dd.csv",
            lambda _m: None,
        )
        params = load_analysis_params(ROOT / "params.yaml", work / "clean" / DESIGN_FILE)
        _participants, scores = analysis_scores(work / "clean", params)
        spec = params.growth
        effects = growth_results(
            scores,
            scales=params.primary,
            fixed=spec["fixed"],
            random=spec["random"],
            moderation=spec["moderation"],
            waves=params.design.wave_months,
            baseline=params.baseline,
            knot=params.knot_months,
        )["effects"]
    rows = effects[effects["term"].isin(TERMS)]
    return [
        {
            "seed": seed,
            "outcome": r.outcome,
            "term": r.term,
            "estimate": r.estimate,
            "std_error": r.std_error,
            "ci95_low": r.ci95_low,
            "ci95_high": r.ci95_high,
            "structure": r.structure,
        }
        for r in rows.itertuples()
    ]


def selection_design(mechanism: str) -> object:
    """The two-arm design of the selection scenarios (no true effect for anyone; see the module docstring)."""
    from pipeline.simulate.variants import CovariateSpec, DesignSpec, SelectionSpec

    return DesignSpec(
        name=f"coverage_{mechanism}",
        n_intervisie=65,
        n_comparison=55,
        group_size=(5, 8),
        months=(0, 3),
        instruments=("cbi",),
        primary=("cbi_work",),
        has_sessions=False,
        has_attendance=False,
        has_ratings=False,
        has_leaving=False,
        effect_short=0.0,
        covariates=(
            CovariateSpec(name="training_year", mean=3.0, sd=1.4, decimals=0, range=(1, 6), level=0.2, short=0.5),
            CovariateSpec(name="prior_treatment", kind="binary", probability=0.3, level=-0.4, short=-0.2, missing=0.05),
        ),
        selection=SelectionSpec(
            mechanism=mechanism,  # type: ignore[arg-type]
            log_odds_per_sd=SCENARIOS[mechanism],
            covariate="training_year" if mechanism == "covariate" else None,
        ),
    )


def one_selection_study(task: tuple[str, int]) -> list[dict]:
    """Simulate one study of a selection scenario in memory; return the adjusted and unadjusted estimates."""
    from scipy import stats

    from analyses.adjusted import adjusted_short_term
    from analyses.propensity import Covariate
    from pipeline.simulate import selection_study

    mechanism, seed = task
    frame = selection_study(selection_design(mechanism), seed)
    truth = frame.attrs["effect_short"]
    pairs = frame.rename(columns={"m0": "pre", "m3": "post"}).dropna(subset=["pre", "post"])
    pairs.attrs = {}  # pandas deep-copies attrs into every derived frame: not needed here
    row, _balance = adjusted_short_term(
        pairs, [Covariate("training_year", "numeric"), Covariate("prior_treatment", "binary")]
    )
    change = pairs["post"] - pairs["pre"]
    a, b = change[pairs["arm"] == "intervisie"].to_numpy(), change[pairs["arm"] == "comparison"].to_numpy()
    df = len(a) + len(b) - 2
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / df
    se = float(np.sqrt(pooled * (1 / len(a) + 1 / len(b))))
    diff, half = float(a.mean() - b.mean()), float(stats.t.ppf(0.975, df)) * se
    common = {"seed": seed, "scenario": f"selection: {mechanism}", "outcome": frame.attrs["outcome"], "truth": truth}
    return [
        common | {"term": ADJUSTED_TERM, "estimate": row["estimate"], "std_error": row["se"],
                  "ci95_low": row["ci95_low"], "ci95_high": row["ci95_high"], "structure": row["note"] or ""},
        common | {"term": UNADJUSTED_TERM, "estimate": diff, "std_error": se, "ci95_low": diff - half,
                  "ci95_high": diff + half, "structure": "t test of post - pre, pooled variance"},
    ]  # fmt: skip


def truths() -> dict[tuple[str, str], float]:
    """The true effects of the demo configuration (see tests/test_growth.py)."""
    config = yaml.safe_load((DEMO / "simulation.yaml").read_text(encoding="utf-8"))
    sizes = {p: spec["n_intervisie"] for p, spec in config["design"]["programmes"].items()}
    out = {}
    for scale, spec in config["outcomes"]["scales"].items():
        short = spec.get("effect_short", 0.0)
        if isinstance(short, dict):
            short = sum(short[p] * n for p, n in sizes.items()) / sum(sizes.values())
        out[(scale, TERMS[0])] = float(short)
        out[(scale, TERMS[1])] = float(spec.get("effect_long", 0.0))
    return out


def summarise(estimates: pd.DataFrame) -> pd.DataFrame:
    """Bias, SD vs SE, coverage (with a Wilson interval) and rejection of zero per scenario, outcome and term."""
    truth = truths()
    estimates = estimates.copy()
    if "scenario" not in estimates:
        estimates["scenario"] = "demo"
    estimates["scenario"] = estimates["scenario"].fillna("demo")
    rows = []
    for (scenario, outcome, term), part in estimates.groupby(["scenario", "outcome", "term"], sort=True):
        true = float(part["truth"].iloc[0]) if "truth" in part and part["truth"].notna().all() else truth[(outcome, term)]
        hits = int(((part["ci95_low"] <= true) & (true <= part["ci95_high"])).sum())
        rejected = int(((part["ci95_low"] > 0) | (part["ci95_high"] < 0)).sum())
        low, high = proportion_confint(hits, len(part), alpha=0.05, method="wilson")
        rows.append(
            {
                "scenario": scenario,
                "outcome": outcome,
                "term": term,
                "truth": true,
                "studies": len(part),
                "mean_estimate": part["estimate"].mean(),
                "bias": part["estimate"].mean() - true,
                "sd_estimate": part["estimate"].std(ddof=1),
                "mean_se": part["std_error"].mean(),
                "coverage": hits / len(part),
                "coverage_ci95_low": low,
                "coverage_ci95_high": high,
                "rejection": rejected / len(part),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Run the studies (in parallel), print the summary and write it with the raw estimates."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coverage", description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2, help="workers of the local Dask cluster")
    parser.add_argument("--scheduler", default=None,
                        help="address of a running Dask scheduler (as `intervisie plan --scheduler`); default: local")  # fmt: skip
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--part", choices=["all", "growth", "selection"], default="all")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "coverage.json")
    args = parser.parse_args(argv)
    seeds = list(range(args.first_seed, args.first_seed + args.studies))
    results: list[dict] = []
    # the plan stage's engine: a LocalCluster of --jobs workers, or the cluster at --scheduler
    with dask_client(args.scheduler, args.jobs) as client:
        if args.part in ("all", "growth"):
            futures = client.map(one_study, seeds, pure=False)
            results += [row | {"scenario": "demo"} for rows in client.gather(futures) for row in rows]
        if args.part in ("all", "selection"):
            tasks = [(mechanism, seed) for mechanism in SCENARIOS for seed in seeds]
            futures = client.map(one_selection_study, tasks, pure=False)
            results += [row for rows in client.gather(futures) for row in rows]
    estimates = pd.DataFrame(results)
    summary = summarise(estimates)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(summary.to_string(index=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"summary": summary.to_dict("records"), "estimates": estimates.replace({np.nan: None}).to_dict("records")},
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
