"""Baseline covariates and selection mechanisms of the simulator, and the adjusted estimator against their truth.

The simulator draws covariates as simulation.yaml declares them (means and probabilities within
Monte Carlo error), writes them into the roster in study.yaml's spellings, and lets people
select themselves into intervisie on their observed baseline score or on a covariate, keeping
the arm sizes.  The key test simulates 200 studies per selection mechanism with a true effect
of zero: the adjusted short-term effect (analyses.adjusted) must reject the null about 5% of
the time (binomial band stated there), while the unadjusted difference in change rejects far
more often, which is why non-randomised studies are adjusted.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from pipeline.errors import InputError
from pipeline.instruments import load_library
from pipeline.scoring import score
from pipeline.simulate import MANIFEST, selection_study
from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.items import observed_score
from pipeline.simulate.variants import CovariateSpec, DesignSpec, SelectionSpec, write_design

ROOT = Path(__file__).resolve().parents[1]
INSTRUMENTS = ROOT / "instruments"

#: the covariates of the experiments: training year shapes the short-term change, earlier
#: treatment the baseline and the change (and is missing for 5%)
COVARIATES = (
    CovariateSpec(name="training_year", mean=3.0, sd=1.4, decimals=0, range=(1, 6), level=0.2, short=0.5),
    CovariateSpec(name="prior_treatment", kind="binary", probability=0.3, level=-0.4, short=-0.2, missing=0.05),
)


def _null_design(mechanism: str, log_odds: float, **kwargs: object) -> DesignSpec:
    """Two arms (65 + 55 people, one programme), CBI at 0 and 3 months, no true effect for anyone."""
    base: dict = {
        "name": f"null_{mechanism}",
        "n_intervisie": 65,
        "n_comparison": 55,
        "group_size": (5, 8),
        "months": (0, 3),
        "instruments": ("cbi",),
        "primary": ("cbi_work",),
        "has_sessions": False,
        "has_attendance": False,
        "has_ratings": False,
        "has_leaving": False,
        "effect_short": 0.0,
        "covariates": COVARIATES,
        "selection": SelectionSpec(
            mechanism=mechanism,  # type: ignore[arg-type]
            log_odds_per_sd=log_odds,
            covariate="training_year" if mechanism == "covariate" else None,
        ),
    }
    return DesignSpec(**(base | kwargs))


# --- scoring in memory ------------------------------------------------------------------------


@pytest.mark.parametrize("instrument", ["brs", "cbi", "uwes9", "gras", "cope"])
def test_observed_score_is_the_pipelines_score(instrument: str) -> None:
    """The simulator's fast scorer gives exactly pipeline.scoring.score's numbers (missing items included)."""
    library = load_library(INSTRUMENTS)
    if instrument not in library:
        pytest.skip(f"no instrument {instrument}")
    inst = library[instrument]
    rng = np.random.default_rng(7)
    codes = {}
    for item in inst.items:
        rs = inst.response_set_of(item)
        values = rng.integers(rs.min, rs.max + 1, 300).astype(float)
        values[rng.random(300) < 0.15] = np.nan
        codes[item.id] = values
    expected = score(pd.DataFrame(codes), inst)
    for scale in inst.scales:
        want = expected.loc[expected["scale"] == scale.id, "score"].to_numpy(dtype=float)
        np.testing.assert_array_equal(observed_score(codes, inst, scale.id), want)


# --- covariates -------------------------------------------------------------------------------


def test_covariates_are_drawn_as_declared() -> None:
    """Means, SD, probabilities and the missing share within 4 Monte Carlo SEs (2,000 people)."""
    spec = DesignSpec(
        name="many",
        programmes=("huisarts", "zorg_mix"),
        n_intervisie=500,
        n_comparison=500,
        months=(0, 3),
        instruments=("brs",),
        has_sessions=False,
        has_attendance=False,
        has_ratings=False,
        covariates=(
            CovariateSpec(name="age", mean=30.0, sd=5.0, missing=0.1),
            CovariateSpec(name="training_year", mean=3.0, sd=1.4, decimals=0, range=(1, 6)),
            CovariateSpec(name="prior_treatment", kind="binary", probability=0.3),
            CovariateSpec(
                name="entry_route", kind="categorical", probabilities={"direct": 0.5, "via_werk": 0.3, "anders": 0.2}
            ),
        ),
    )
    frame = selection_study(spec, 5)
    assert len(frame) == 2000
    age = frame["age"].dropna()
    share_missing = frame["age"].isna().mean()
    assert abs(share_missing - 0.1) < 4 * np.sqrt(0.1 * 0.9 / 2000), share_missing
    assert abs(age.mean() - 30) < 4 * 5 / np.sqrt(len(age)), age.mean()
    assert abs(age.std() / 5 - 1) < 4 / np.sqrt(2 * len(age)), age.std()
    year = frame["training_year"]
    assert year.notna().all() and (year == year.round()).all() and year.between(1, 6).all()
    prior = frame["prior_treatment"]
    assert set(prior.unique()) <= {0.0, 1.0}
    assert abs(prior.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 2000), prior.mean()
    route = frame["entry_route"]
    assert str(route.dtype) == "string"
    for level, p in {"direct": 0.5, "via_werk": 0.3, "anders": 0.2}.items():
        assert abs((route == level).mean() - p) < 4 * np.sqrt(p * (1 - p) / 2000), level
    assert dict(frame.attrs["covariates"])["entry_route"] == ("categorical", ("direct", "via_werk", "anders"))


def test_covariate_effects_shape_the_trajectory() -> None:
    """A covariate's short-term effect (in person SDs) is recovered by regressing change on it (random assignment)."""
    spec = _null_design("random", 0.0, n_intervisie=600, n_comparison=600, group_size=(6, 8))
    frame = selection_study(spec, 3).dropna(subset=["m0", "m3", "prior_treatment"])
    change = frame["m3"] - frame["m0"]
    person_sd = 0.12 * 100  # cbi_work: person_sd is 12 % of its 0-100 range (variant_files._outcome)
    centred_year = (frame["training_year"] - 3.0) / 1.4
    X = np.column_stack([np.ones(len(frame)), centred_year, frame["prior_treatment"]])
    beta, *_ = np.linalg.lstsq(X, change.to_numpy(), rcond=None)
    residual = change.to_numpy() - X @ beta
    se = np.sqrt(np.diag(np.linalg.inv(X.T @ X)) * residual.var(ddof=3))
    # burnout: higher is worse, so a "better" effect of +0.5 SD lowers the score by 6 points
    assert abs(beta[1] - (-0.5 * person_sd)) < 4 * se[1], (beta[1], se[1])
    assert abs(beta[2] - (0.2 * person_sd)) < 4 * se[2], (beta[2], se[2])


def test_covariate_terms_are_centred_effects() -> None:
    """Known answers: numeric per SD, binary and categorical as indicator minus probability."""
    from pipeline.simulate.config import CovariateModel
    from pipeline.simulate.covariates import covariate_terms

    numeric = CovariateModel(kind="numeric", mean=3, sd=2, effects={"brs": {"short": 0.5}})
    np.testing.assert_allclose(covariate_terms(numeric, np.array([-1.0, 0.0, 2.0]), "short", "brs"), [-0.5, 0, 1])
    assert not covariate_terms(numeric, np.array([1.0]), "level", "brs").any()
    assert not covariate_terms(numeric, np.array([1.0]), "short", "cbi_work").any()
    binary = CovariateModel(kind="binary", probability=0.25, effects={"brs": {"level": 0.4}})
    np.testing.assert_allclose(covariate_terms(binary, np.array([0.75, -0.25]), "level", "brs"), [0.3, -0.1])
    categorical = CovariateModel(
        kind="categorical",
        probabilities={"a": 0.5, "b": 0.3, "c": 0.2},
        effects={"brs": {"long": {"b": 1.0, "c": -2.0}}},
    )
    # level index 0 (a), 1 (b), 2 (c): 1.0 * (1[b] - 0.3) - 2.0 * (1[c] - 0.2)
    np.testing.assert_allclose(covariate_terms(categorical, np.array([0.0, 1.0, 2.0]), "long", "brs"), [0.1, 1.1, -1.9])
    with pytest.raises(ValueError, match="not among the non-reference levels"):
        CovariateModel(kind="categorical", probabilities={"a": 0.5, "b": 0.5}, effects={"brs": {"level": {"a": 1.0}}})


def test_roster_holds_the_covariates_in_the_export_spelling(tmp_path: Path) -> None:
    """Every covariate is written to its roster column: numbers as numbers, codes in study.yaml's spellings."""
    spec = _null_design("covariate", 1.0, n_intervisie=24, n_comparison=20, group_size=(4, 6), name="roster_check")
    write_design(spec, tmp_path, instruments_dir=INSTRUMENTS)
    study = yaml.safe_load((tmp_path / "study.yaml").read_text(encoding="utf-8"))
    assert set(study["covariates"]) == {"training_year", "prior_treatment"}
    roster = pd.read_csv(tmp_path / "roster.csv", dtype=str, keep_default_na=False)
    year_col, prior_col = study["covariates"]["training_year"]["column"], study["covariates"]["prior_treatment"]["column"]
    truth = selection_study(spec, spec.seed).set_index("participant")
    spellings = study["covariates"]["prior_treatment"]["values"]
    decode = {str(v).casefold(): (1.0 if k == "true" else 0.0) for k, vs in spellings.items() for v in vs}
    matched = 0
    for pid, year, prior in roster[["ID", year_col, prior_col]].itertuples(index=False):
        if pid not in truth.index:  # an ID with a planted typo or stray space
            continue
        matched += 1
        assert float(year) == truth.at[pid, "training_year"], pid
        if prior == "":
            assert np.isnan(truth.at[pid, "prior_treatment"]), pid
        else:
            assert decode[prior.casefold()] == truth.at[pid, "prior_treatment"], pid
    assert matched >= len(roster) - 5


def test_covariates_draw_from_their_own_streams(tmp_path: Path) -> None:
    """Adding covariates (random selection, no effects) changes the roster's new columns and nothing else."""
    plain = DesignSpec(name="plain", n_intervisie=20, n_comparison=10, months=(0, 3, 6), seed=31)
    with_covariates = plain.model_copy(
        update={"covariates": (CovariateSpec(name="age", mean=30, sd=5, decimals=0, column="Leeftijd"),)}
    )
    write_design(plain, tmp_path / "a", instruments_dir=INSTRUMENTS)
    write_design(with_covariates, tmp_path / "b", instruments_dir=INSTRUMENTS)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in set(files) - {"roster.csv", "study.yaml", "simulation.yaml", MANIFEST}:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    a = pd.read_csv(tmp_path / "a" / "roster.csv", dtype=str)
    b = pd.read_csv(tmp_path / "b" / "roster.csv", dtype=str)
    pd.testing.assert_frame_equal(a, b.drop(columns=["Leeftijd"]))


# --- selection --------------------------------------------------------------------------------


@pytest.mark.parametrize("log_odds", [1.0, -1.0])
def test_selection_on_the_baseline_shifts_the_intervisie_baseline(log_odds: float) -> None:
    """Joining rises (falls) with the observed baseline score: the intervisie arm starts higher (lower).

    With weights exp(b z) and 65 of 120 joining, the expected shift is about 0.6 SD for |b| = 1;
    over 10 studies the mean shift must lie beyond 0.3 SD in the declared direction.
    """
    shifts = []
    for seed in range(10):
        frame = selection_study(_null_design("baseline", log_odds), seed)
        assert (frame["arm"] == "intervisie").sum() == 65  # the design's arm sizes stay
        pre = frame["m0"]
        shifts.append(
            (pre[frame["arm"] == "intervisie"].mean() - pre[frame["arm"] == "comparison"].mean()) / pre.std()
        )
    assert np.sign(log_odds) * np.mean(shifts) > 0.3, shifts


def test_selection_on_the_baseline_reads_the_score_in_the_file() -> None:
    """Near-deterministic selection (60 log-odds per SD): everyone who joined scored at least as high as anyone who did not."""
    for seed in range(3):
        frame = selection_study(_null_design("baseline", 60.0), seed).dropna(subset=["m0"])
        joined, stayed = frame.loc[frame["arm"] == "intervisie", "m0"], frame.loc[frame["arm"] == "comparison", "m0"]
        assert joined.min() >= stayed.max(), (seed, joined.min(), stayed.max())


def test_selection_on_a_covariate_shifts_it_and_keeps_arm_sizes() -> None:
    """Joining rises with training year (1 log-odds per SD): the intervisie arm's mean year is higher, per programme."""
    spec = _null_design("covariate", 1.0, programmes=("huisarts", "zorg_mix"), n_intervisie=40, n_comparison=30)
    differences = []
    for seed in range(10):
        frame = selection_study(spec, seed)
        counts = frame.groupby(["programme", "arm"]).size()
        sizes = {"comparison": 30, "intervisie": 40}
        assert counts.to_dict() == {(p, a): n for p in spec.programmes for a, n in sizes.items()}
        year = frame.groupby("arm")["training_year"].mean()
        differences.append((year["intervisie"] - year["comparison"]) / 1.4)
    assert np.mean(differences) > 0.3, differences


def test_manifest_records_the_selection_truth(tmp_path: Path) -> None:
    write_design("self_selected_baseline", tmp_path, instruments_dir=INSTRUMENTS)
    truth = yaml.safe_load((tmp_path / MANIFEST).read_text(encoding="utf-8"))["truth"]
    config = yaml.safe_load((tmp_path / "simulation.yaml").read_text(encoding="utf-8"))
    assert truth["selection"]["mechanism"] == "baseline"
    assert truth["selection"]["outcome"] == config["selection"]["outcome"] == "cbi_work"
    assert truth["selection"]["log_odds_per_sd"] == 0.8
    assert truth["selection"]["true_effects"]["cbi_work"]["effect_short"] == config["outcomes"]["scales"]["cbi_work"][
        "effect_short"
    ]
    realised = truth["covariates"]["training_year"]["realised"]["huisarts"]
    assert set(realised) == {"intervisie", "comparison"} and 1 <= realised["intervisie"] <= 6


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"selection": {"mechanism": "covariate", "covariate": "age", "log_odds_per_sd": 1}}, "selection.covariate"),
        ({"selection": {"mechanism": "baseline", "outcome": "brs", "log_odds_per_sd": 1}}, "selection.outcome 'brs'"),
        ({"covariates": {}}, "does not draw"),
        ({"covariates": {"training_year": {"kind": "binary", "mean": 3, "sd": 1}}}, "gives exactly"),
    ],
)
def test_covariate_and_selection_mistakes_are_input_errors(tmp_path: Path, change: dict, message: str) -> None:
    from pipeline.simulate import run

    write_design("self_selected_baseline", tmp_path, instruments_dir=INSTRUMENTS)
    config = yaml.safe_load((tmp_path / "simulation.yaml").read_text(encoding="utf-8"))
    config.update(change)
    (tmp_path / "simulation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        run(tmp_path / "simulation.yaml", INSTRUMENTS, tmp_path / "out")


def test_default_selection_changes_nothing_in_the_schema() -> None:
    """A configuration without covariates and selection validates with the defaults (random, none)."""
    config = yaml.safe_load((ROOT / "data_raw" / "demo" / "simulation.yaml").read_text(encoding="utf-8"))
    config.pop("covariates", None)  # the demo declares covariates; without them the defaults hold
    cfg = SimulationConfig.model_validate(config)
    assert cfg.selection.mechanism == "random" and cfg.covariates == {}


# --- the adjusted estimator against simulated truth ----------------------------------------------

#: 200 studies per mechanism; under a true zero a valid 95% CI excludes zero in 5%: the binomial
#: band [3, 19] rejections of 200 (1.5%-9.5%) holds with probability 0.995 at exactly 5%
STUDIES = 200
BAND = (3, 19)


@pytest.mark.parametrize(("mechanism", "log_odds"), [("baseline", 1.0), ("covariate", 1.0)])
def test_adjusted_short_term_keeps_its_size_under_self_selection(
    mechanism: str, log_odds: float, record_property: pytest.FixtureRequest
) -> None:
    """Self-selection with no true effect: adjusted_short_term rejects ~5%, the unadjusted change comparison far more.

    ``baseline``: people with a higher observed baseline burnout join (1 log-odds per SD), so the
    intervisie arm's scores regress to the mean; ``covariate``: people further in training join
    (1 log-odds per SD), and training year also improves the short-term change (0.5 SD per SD).
    The unadjusted comparison is a t-test of post - pre between the arms.
    """
    from analyses.adjusted import adjusted_short_term
    from analyses.propensity import Covariate

    covariates = [Covariate("training_year", "numeric"), Covariate("prior_treatment", "binary")]
    spec = _null_design(mechanism, log_odds)
    started = time.perf_counter()
    adjusted = unadjusted = 0
    estimates = []
    for seed in range(STUDIES):
        frame = selection_study(spec, 10_000 + seed)
        assert frame.attrs["effect_short"] == 0.0
        pairs = frame.rename(columns={"m0": "pre", "m3": "post"}).dropna(subset=["pre", "post"])
        pairs.attrs = {}  # pandas deep-copies attrs into every derived frame: not needed here
        row, _balance = adjusted_short_term(pairs, covariates)
        adjusted += not row["ci95_low"] <= 0.0 <= row["ci95_high"]
        estimates.append(row["estimate"])
        change = pairs["post"] - pairs["pre"]
        test = stats.ttest_ind(change[pairs["arm"] == "intervisie"], change[pairs["arm"] == "comparison"])
        unadjusted += test.pvalue < 0.05
    rate_adjusted, rate_unadjusted = adjusted / STUDIES, unadjusted / STUDIES
    seconds = time.perf_counter() - started
    print(
        f"\n{mechanism}: adjusted rejects {rate_adjusted:.3f} ({adjusted}/{STUDIES}), unadjusted {rate_unadjusted:.3f}; "
        f"mean adjusted estimate {np.mean(estimates):.3f} (SD {np.std(estimates, ddof=1):.3f}); {seconds:.1f} s"
    )
    record_property(f"{mechanism}_rejection_adjusted", float(rate_adjusted))  # type: ignore[operator]
    record_property(f"{mechanism}_rejection_unadjusted", float(rate_unadjusted))  # type: ignore[operator]
    assert BAND[0] <= adjusted <= BAND[1], f"adjusted rejects {adjusted}/{STUDIES}"
    assert unadjusted >= adjusted + 0.1 * STUDIES, (unadjusted, adjusted)
    # the mean estimate is zero within 4 Monte Carlo SEs
    assert abs(np.mean(estimates)) < 4 * np.std(estimates, ddof=1) / np.sqrt(STUDIES)
