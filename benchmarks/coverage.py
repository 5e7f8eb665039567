"""Bias and 95% CI coverage of the main effects over many simulated studies of the demo design.

``python -m benchmarks.coverage --studies 200 --jobs 2`` simulates each study with the demo
configuration and its own seed (formats: CSV), runs ingest + score + the growth models of
``params.yaml`` for the primary outcomes, and compares each estimate with the truth recorded in
``simulation.yaml`` (the per-programme short-term effects averaged over the design's sizes).
It reports per outcome and term: the mean estimate, bias, empirical SD vs mean SE, and the
share of 95% intervals that cover the truth with its Wilson 95% interval (goal 93-97%).

The long-term truth is the effect per year *while in intervisie*; participants who leave the
programme stop accruing it, so the intention-to-treat slope the model estimates is somewhat
smaller: a small negative bias there is expected and reported, not hidden.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from statsmodels.stats.proportion import proportion_confint

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "data_raw" / "demo"
TERMS = ("short:armintervisie", "long:armintervisie")


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
    """Bias, SD vs SE and coverage (with a Wilson interval) per outcome and term."""
    truth = truths()
    rows = []
    for (outcome, term), part in estimates.groupby(["outcome", "term"], sort=True):
        true = truth[(outcome, term)]
        hits = int(((part["ci95_low"] <= true) & (true <= part["ci95_high"])).sum())
        low, high = proportion_confint(hits, len(part), alpha=0.05, method="wilson")
        rows.append(
            {
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
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Run the studies (in parallel), print the summary and write it with the raw estimates."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coverage", description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "coverage.json")
    args = parser.parse_args(argv)
    seeds = list(range(args.first_seed, args.first_seed + args.studies))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = [row for rows in pool.map(one_study, seeds) for row in rows]
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
