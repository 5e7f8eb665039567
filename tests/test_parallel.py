"""Models fitted in worker processes give exactly the results of a serial run.

``analyses.parallel.map_ordered`` is how the growth, sensitivity and implementation stages fit
independent models on several cores.  The known answer here is the serial run itself: the
tables must be equal to the last bit (``pandas.testing.assert_frame_equal`` with
``check_exact=True``) and in the same order, so the stages' outputs stay byte-identical.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from analyses.growth import growth_results
from analyses.moderators import fit_moderators
from analyses.parallel import WORKERS_VARIABLE, map_ordered, workers_from
from intervisie.stages.common import stage_workers
from pipeline.errors import InputError

FIXED = "y ~ programme * (short + long) + arm * (short + long)"
RANDOM = ["(1 + short | participant) + (1 | group)", "(1 | participant) + (1 | group)"]


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_map_ordered_keeps_the_order_and_runs_outside_the_calling_process() -> None:
    out = map_ordered(_square_and_pid, range(7), workers=2)
    assert [v for v, _ in out] == [x * x for x in range(7)]
    assert all(pid != os.getpid() for _, pid in out)
    serial = map_ordered(_square_and_pid, range(7), workers=1)
    assert [v for v, _ in serial] == [v for v, _ in out] and {pid for _, pid in serial} == {os.getpid()}


def test_a_failing_task_raises_as_in_a_serial_loop() -> None:
    with pytest.raises(ValueError, match="three"):
        map_ordered(_fails_on_three, range(6), workers=2)
    assert map_ordered(_fails_on_three, [], workers=2) == []


@pytest.mark.parametrize(("value", "expected"), [("", 3), ("1", 1), (" 4 ", 4)])
def test_workers_from_the_environment(value: str, expected: int) -> None:
    assert workers_from({WORKERS_VARIABLE: value}, cores=3) == expected


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_wrong_number_of_workers_is_an_input_error_that_says_how_to_fix_it(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORKERS_VARIABLE, value)
    with pytest.raises(InputError, match=rf"{WORKERS_VARIABLE}=.*whole number >= 1"):
        stage_workers()


def _scores(seed: int = 3) -> pd.DataFrame:
    """Wave scores of three scales: 2 programmes x 2 arms x 6 groups of 6, four waves, 15% missing."""
    rng = np.random.default_rng(seed)
    rows = []
    waves = {"w0": 0.0, "w1": 3.0, "w2": 12.0, "w3": 24.0}
    person = 0
    for programme in ("p1", "p2"):
        for arm in ("intervisie", "comparison"):
            for g in range(6):
                group = f"{programme}-{arm}-{g}"
                u_group = rng.normal(0, 0.2)
                for _ in range(6):
                    person += 1
                    u, slope = rng.normal(0, 0.5), rng.normal(0, 0.1)
                    for scale in ("a", "b", "c"):
                        for wave, months in waves.items():
                            if wave != "w0" and rng.random() < 0.15:
                                continue
                            short, long = min(months, 3.0) / 3.0, max(months - 3.0, 0.0) / 12.0
                            effect = 0.3 * short * (arm == "intervisie")
                            y = 3 + u + u_group + slope * short + effect + 0.1 * long + rng.normal(0, 0.4)
                            rows.append({"participant": f"x{person:03d}", "group": group, "coach": f"c{g % 3}",
                                         "programme": programme, "arm": arm, "format": "in_person", "wave": wave,
                                         "months": months, "scale": scale, "score": y, "short": short, "long": long,
                                         "factor_a": rng.normal(), "factor_b": rng.normal()})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return _scores()


def test_growth_models_fitted_in_workers_equal_the_serial_fit_to_the_last_bit(scores: pd.DataFrame) -> None:
    kwargs = {"scales": ["a", "b", "c"], "fixed": FIXED, "random": RANDOM,
              "moderation": "programme:arm:short + programme:arm:long", "waves": {"w0": 0, "w1": 3, "w2": 12, "w3": 24},
              "baseline": "w0", "effect_terms": ["short:armintervisie", "long:armintervisie"], "programmes": ["p1", "p2"]}  # fmt: skip
    serial = growth_results(scores, workers=1, **kwargs)
    parallel = growth_results(scores, workers=2, **kwargs)
    assert serial.keys() == parallel.keys()
    for name in serial:
        pd.testing.assert_frame_equal(serial[name], parallel[name], check_exact=True)
    assert list(serial["effects"]["outcome"].drop_duplicates()) == ["a", "b", "c"]
    assert len(serial["moderation"]) == 3  # the ML likelihood-ratio test ran for every scale


def test_moderator_models_fitted_in_workers_equal_the_serial_fit(scores: pd.DataFrame) -> None:
    data = scores[scores["scale"] == "a"].rename(columns={"score": "y"}).reset_index(drop=True)
    data["arm"] = pd.Categorical(data["arm"], categories=["comparison", "intervisie"])
    kwargs = {"outcome": "a", "fixed": "y ~ programme + short + long", "random": ["(1 | participant) + (1 | group)"],
              "factors": {"fa": ["factor_a"], "fb": ["factor_b"]}, "baseline": "w0"}  # fmt: skip
    serial = fit_moderators(data, workers=1, **kwargs)
    parallel = fit_moderators(data, workers=2, **kwargs)
    for one, other in zip(serial, parallel, strict=True):
        pd.testing.assert_frame_equal(one, other, check_exact=True)
    assert set(serial[0]["model"]) == {"joint", "fa", "fb"}
