"""The multiplicity and sensitivity stage (``intervisie analyze sensitivity``) end to end.

A small study in the canonical form is simulated here (seeded: 240 participants, three
programmes, four waves, MAR dropout), the growth stage's effects are computed from it
(:func:`analyses.growth.growth_results`), and the stage runs through the command line.
Known answers:

* the available-case rows are the growth stage's numbers, unchanged (``rtol = 1e-12``);
* the complete-case model is lme4's: ``lmerTest::lmer`` with the structure the stage reports, fitted
  to the participants observed at every wave, gives the same estimate, standard error, df and
  p-value of the effect terms (``rtol = 1e-4``, the engine's agreement with lme4, tests/test_mixed.py);
  the number of complete cases is the simulation's (exact);
* the adjusted p-values are R's ``p.adjust`` (Holm for the primary, BH for the secondary family, ``rtol = 1e-12``);
* the simulated true effect at the short-term wave lies inside the MAR interval of each primary outcome;
* two runs give byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from numpy.testing import assert_allclose

from analyses.data import wave_scores
from analyses.growth import growth_data, growth_results
from intervisie.cli import cli
from intervisie.stages.common import write_table
from intervisie.stages.sensitivity import complete_cases
from pipeline.errors import InputError
from tests.growth_designs import make_design
from tests.r_reference import run_r

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow
WAVES = {"t0": 0.0, "t1": 3.0, "t2": 12.0, "t3": 24.0}
#: scale -> (mean, SD, sign of a benefit); effects below are in SD units
SCALES = {"brs": (3.5, 0.6, 1.0), "cbi_work": (45.0, 15.0, -1.0), "uwes_vigour": (4.0, 1.0, 1.0), "gras": (80.0, 10.0, 1.0)}
EFFECT_SHORT, EFFECT_LONG = 0.5, 0.1  # SD units: change to 3 months, yearly slope afterwards
PRIMARY, SECONDARY = ["brs", "cbi_work"], ["uwes_vigour", "gras"]


def simulate_study(seed: int = 17, n: int = 240) -> tuple[dict[str, pd.DataFrame], int]:
    """Canonical participants, responses and scale_scores; returns the tables and the complete-case count."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:04d}" for i in range(n)]
    intervisie = np.arange(n) < 180
    group = np.where(intervisie, [f"G{i // 6:03d}" for i in range(n)], None)
    programme = rng.choice(["anios", "buitenlandse_artsen", "coschappen"], size=n)
    participants = pd.DataFrame(
        {
            "participant": ids,
            "programme": programme,
            "arm": np.where(intervisie, "intervisie", "comparison"),
            "group": pd.array(group, dtype="string"),
            "coach": pd.array(np.where(intervisie, "C1", None), dtype="string"),
            "format": "in_person",
        }
    )
    person = rng.normal(0, 0.8, n)
    group_effect = pd.Series(rng.normal(0, 0.2, 30), index=[f"G{i:03d}" for i in range(30)])
    person = person + np.where(intervisie, group_effect.reindex(group).fillna(0).to_numpy(), 0.0)
    # monotone dropout, MAR: the lower the baseline level, the likelier to leave
    leave_after = np.full(n, 4)
    for k in (1, 2, 3):
        leaving = (leave_after == 4) & (rng.uniform(size=n) < 1 / (1 + np.exp(1.8 + 0.8 * person)))
        leave_after[leaving] = k
    responses, scores = [], []
    for w, (wave, months) in enumerate(WAVES.items()):
        short, long = min(months, 3) / 3, max(months - 3, 0) / 12
        present = leave_after > w
        for i in np.flatnonzero(present):
            rid = f"R{wave}{i:04d}"
            responses.append({"response_id": rid, "participant": ids[i], "wave": wave, "months": months})
            for scale, (mean, sd, sign) in SCALES.items():
                effect = (EFFECT_SHORT * short + EFFECT_LONG * long) * intervisie[i]
                z = person[i] + sign * effect + rng.normal(0, 0.5)
                scores.append({"response_id": rid, "participant": ids[i], "wave": wave, "scale": scale,
                               "score": mean + sd * z, "score_status": "ok"})
    tables = {"participants": participants, "responses": pd.DataFrame(responses), "scale_scores": pd.DataFrame(scores)}
    return tables, int((leave_after == 4).sum())


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("sensitivity")
    tables, n_complete = simulate_study()
    clean = root / "clean"
    clean.mkdir()
    for name, table in tables.items():
        table.to_parquet(clean / f"{name}.parquet", index=False)
    design = make_design(waves=WAVES, programmes=["anios", "buitenlandse_artsen", "coschappen"], comparison=True,
                         primary=PRIMARY, secondary=SECONDARY, directions={s: v[2] > 0 for s, v in SCALES.items()})
    (clean / "design.json").write_text(design.to_json(), encoding="utf-8")
    config = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    analyses = config["analyses"]
    analyses["sensitivity"] = {"alpha": 0.05, "imputations": 10, "seed": 5, "delta_sd": [0.0, 0.25, 0.5, 0.75, 1.0],
                               "plausible_delta_sd": 0.5}
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"analyses": analyses}), encoding="utf-8")
    scores = wave_scores(tables["participants"], tables["responses"], tables["scale_scores"])
    spec = {"fixed": design.growth_fixed(), "random": analyses["growth"]["random"]}
    growth = growth_results(scores, scales=PRIMARY + SECONDARY, fixed=spec["fixed"], random=spec["random"],
                            moderation=design.moderation_terms(), waves=WAVES, baseline="t0",
                            effect_terms=design.effect_terms(), programmes=design.programme_ids)
    write_table(root / "effects.csv", growth["effects"])
    outs = []
    for run in ("a", "b"):
        out = root / run
        args = ["analyze", "sensitivity", "--clean", str(clean), "--instruments", str(ROOT / "instruments"),
                "--effects", str(root / "effects.csv"), "--params", str(params), "--out", str(out)]
        cli.main(args=args, prog_name="intervisie", standalone_mode=False)
        outs.append(out)
    return {"root": root, "out": outs[0], "again": outs[1], "scores": scores, "n_complete": n_complete,
            "effects": growth["effects"], "params": params, "clean": clean, "spec": spec}


def read(study: dict, name: str) -> pd.DataFrame:
    return pd.read_csv(study["out"] / name)


def test_outputs_and_columns(study: dict) -> None:
    expected = {
        "multiplicity.csv": ["outcome", "family", "term", "estimate", "ci_low", "ci_high", "p_val", "p_adj", "method",
                             "reject"],
        "complete_vs_available.csv": ["outcome", "term", "analysis", "estimate", "se", "ci_low", "ci_high", "p_val",
                                      "n_participants", "n_observations"],
        "tipping_point.csv": ["outcome", "wave", "delta_sd", "delta", "estimate", "ci_low", "ci_high", "p_val", "m"],
        "tipping_summary.csv": ["outcome", "wave", "estimate_mar", "tipping_delta_sd", "tipping_delta",
                                "conclusion_robust"],
    }
    for name, columns in expected.items():
        table = read(study, name)
        assert list(table.columns[: len(columns)]) == columns, name
    assert len(read(study, "tipping_point.csv")) == len(PRIMARY) * 2 * 5
    summary = read(study, "tipping_summary.csv")
    assert list(zip(summary["outcome"], summary["wave"], strict=True)) == [(s, w) for s in PRIMARY for w in ("t1", "t3")]
    assert (study["out"] / "metrics.json").is_file()


def test_two_runs_are_byte_identical(study: dict) -> None:
    for path in sorted(study["out"].iterdir()):
        assert path.read_bytes() == (study["again"] / path.name).read_bytes(), path.name


def test_available_case_rows_are_the_growth_effects(study: dict) -> None:
    table = read(study, "complete_vs_available.csv")
    available = table[table["analysis"] == "available_case"].merge(study["effects"], on=["outcome", "term"])
    assert len(available) == 2 * len(PRIMARY + SECONDARY)
    assert_allclose(available["estimate_x"], available["estimate_y"], rtol=1e-12)
    assert_allclose(available["se"], available["std_error"], rtol=1e-12)
    assert_allclose(available["p_val_x"], available["p_val_y"], rtol=1e-12)
    assert (available["n_participants"] == available["n"]).all()


def test_complete_case_model_equals_lmer(study: dict) -> None:
    table = read(study, "complete_vs_available.csv")
    complete = table[table["analysis"] == "complete_case"]
    assert (complete["n_participants"] == study["n_complete"]).all()
    assert (complete["n_observations"] == 4 * study["n_complete"]).all()
    row = complete[complete["outcome"] == "brs"]
    data = growth_data(complete_cases(study["scores"], scale="brs", waves=list(WAVES)), "brs",
                       ["anios", "buitenlandse_artsen", "coschappen"])
    formula = row["structure"].iloc[0]
    # R: summary(lmerTest::lmer(<structure>, data = d, REML = TRUE))$coefficients[effect terms, ]
    script = f"""
    m <- lmer({formula}, data = d, REML = TRUE)
    s <- summary(m)$coefficients[c("short:armintervisie", "long:armintervisie"), ]
    out$estimate <- s[, "Estimate"]; out$se <- s[, "Std. Error"]; out$df <- s[, "df"]; out$p <- s[, "Pr(>|t|)"]
    """
    ref = run_r(script, data[["y", "programme", "arm", "short", "long", "participant", "group"]])
    ordered = row.set_index("term").loc[["short:armintervisie", "long:armintervisie"]]
    assert_allclose(ordered["estimate"], ref["estimate"], rtol=1e-4)
    assert_allclose(ordered["se"], ref["se"], rtol=1e-4)
    assert_allclose(ordered["p_val"], ref["p"], rtol=1e-4)
    assert_allclose(ordered["df"], ref["df"], rtol=1e-4)


def test_multiplicity_equals_p_adjust(study: dict) -> None:
    table = read(study, "multiplicity.csv")
    # R: p.adjust(p, "holm") within the primary, p.adjust(p, "BH") within the secondary family, per term
    script = """
    for (tm in unique(d$term)) for (fam in c("primary", "secondary")) {
      sel <- d$term == tm & d$family == fam
      out[[paste(tm, fam)]] <- p.adjust(d$p_val[sel], method = if (fam == "primary") "holm" else "BH")
    }
    """
    ref = run_r(script, table[["term", "family", "p_val"]], packages=("jsonlite",))
    for (term, family), part in table.groupby(["term", "family"], sort=False):
        assert_allclose(part["p_adj"], ref[f"{term} {family}"], rtol=1e-12)
    assert set(table.loc[table["family"] == "primary", "outcome"]) == set(PRIMARY)


def test_mar_interval_covers_the_simulated_effect(study: dict) -> None:
    summary = read(study, "tipping_summary.csv").set_index(["outcome", "wave"])
    for scale in PRIMARY:
        _mean, sd, sign = SCALES[scale]
        truth = sign * sd * EFFECT_SHORT  # ANCOVA at 3 months: arm independent of baseline
        row = summary.loc[(scale, "t1")]
        assert row["ci_low_mar"] <= truth <= row["ci_high_mar"], (scale, truth, row["ci_low_mar"], row["ci_high_mar"])


def test_missing_inputs_are_named(study: dict, tmp_path: Path) -> None:
    from intervisie.stages.sensitivity import run_sensitivity

    with pytest.raises(InputError, match=r"effects\.csv is missing"):
        run_sensitivity(study["clean"], ROOT / "instruments", tmp_path / "effects.csv", study["params"],
                        tmp_path / "out", lambda _m: None)
    config = yaml.safe_load(study["params"].read_text(encoding="utf-8"))
    del config["analyses"]["sensitivity"]["seed"]
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(InputError, match=r"analyses\.sensitivity\.seed"):
        run_sensitivity(study["clean"], ROOT / "instruments", study["root"] / "effects.csv", bad, tmp_path / "out",
                        lambda _m: None)
