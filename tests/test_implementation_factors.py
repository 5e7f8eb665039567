"""The implementation factor table against values worked by hand, and the aggregation checks the stage runs.

References
----------
* Hand computation on a tiny made-up study (arithmetic in the comments): group-mean centring
  (Enders & Tofighi 2007) with the standardisation documented in
  ``analyses/implementation_factors.py``, dose, group size, online, modal method -- ``atol=1e-12``.
* R, run live through ``tests/r_reference.py``: ``multilevel::ICC1`` / ``ICC2`` on
  ``aov(score ~ factor(group))`` and ``multilevel::rwg.j`` on the members' mean ratings (the rows
  the stage aggregates) -- ``rtol=1e-8``. The statistics themselves are tested against R in
  ``tests/test_aggregation.py``; here the question is whether the stage feeds them the right rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analyses.implementation_factors import (
    aggregation_table,
    attendance_dose,
    factor_table,
    group_properties,
    intervisie_members,
    member_ratings,
)
from pipeline.errors import InputError
from tests.r_reference import run_r

ATOL = 1e-12

# programme A: g1 (p1, p2), g2 (p3, p4), g5 (p10, online); programme B: g3 (p5, p6), g4 (p7, p8);
# p9 is a comparison participant (no group) whose rating must be ignored.
MEMBERS = {
    "p1": ("g1", "A"), "p2": ("g1", "A"), "p3": ("g2", "A"), "p4": ("g2", "A"), "p10": ("g5", "A"),
    "p5": ("g3", "B"), "p6": ("g3", "B"), "p7": ("g4", "B"), "p8": ("g4", "B"),
}  # fmt: skip


def _participants() -> pd.DataFrame:
    rows = [
        {"participant": p, "group": g, "programme": prog, "arm": "intervisie", "start_date": pd.Timestamp("2024-01-01")}
        for p, (g, prog) in MEMBERS.items()
    ]
    rows.append(
        {"participant": "p9", "group": None, "programme": "A", "arm": "comparison", "start_date": pd.Timestamp("2024-01-01")}
    )
    return pd.DataFrame(rows)


def _ratings() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings of one scale ``cq`` (items a, b; score = mean of a and b)."""
    # member means: p1 (4 + 2)/2 = 3, p2 5, p3 2, p4 4, p10 3.5, p5 3, p6 3, p7 1, p8 3
    ratings = [
        ("p1", 4.0), ("p1", 2.0), ("p2", 5.0), ("p3", 2.0), ("p4", 4.0), ("p10", 3.5),
        ("p5", 3.0), ("p6", 3.0), ("p7", 1.0), ("p8", 3.0), ("p9", 1.0),
    ]  # fmt: skip
    scores = pd.DataFrame(
        {
            "response_id": range(1, len(ratings) + 1),
            "participant": [p for p, _ in ratings],
            "scale": "cq",
            "score": [s for _, s in ratings],
            "score_status": "ok",
        }
    )
    # a score that is not valid is ignored
    scores.loc[len(scores)] = [99, "p1", "cq", 1.0, "too_few_items"]
    items = pd.DataFrame(
        [(r, "a", s + 0.5) for r, s in zip(scores["response_id"], scores["score"], strict=True)]
        + [(r, "b", s - 0.5) for r, s in zip(scores["response_id"], scores["score"], strict=True)],
        columns=["response_id", "item", "response"],
    )
    return scores, items


def _sessions_attendance() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    day = pd.Timestamp("2024-01-01")
    sessions = pd.DataFrame(
        [
            ("s11", "g1", 10, "incidentmethode"), ("s12", "g1", 50, "incidentmethode"),
            ("s13", "g1", 100, "roddelmethode"), ("s21", "g2", 10, "roddelmethode"),
            ("s22", "g2", 50, "incidentmethode"), ("s51", "g5", 30, "roddelmethode"),
            ("s31", "g3", 10, "roddelmethode"), ("s32", "g3", 60, "roddelmethode"),
            ("s41", "g4", 20, "incidentmethode"), ("s42", "g4", 120, "roddelmethode"),
        ],
        columns=["session", "group", "day", "method"],
    )  # fmt: skip
    sessions["date"] = day + pd.to_timedelta(sessions["day"], unit="D")
    # 3 months = 91.3 days: s13 (day 100) and s42 (day 120) are after the short-term window
    attendance = pd.DataFrame(
        [
            ("s11", "p1", True), ("s12", "p1", False), ("s13", "p1", True),  # p1 1/2
            ("s11", "p2", True), ("s12", "p2", True),  # p2 2/2
            ("s21", "p3", False), ("s22", "p3", False),  # p3 0/2
            ("s21", "p4", True), ("s22", "p4", True),  # p4 2/2
            ("s51", "p10", True),  # p10 1/1
            ("s31", "p5", True), ("s32", "p5", True),  # p5 2/2
            ("s31", "p6", True), ("s32", "p6", False),  # p6 1/2
            ("s41", "p7", True), ("s42", "p7", False),  # p7 1/1
            ("s42", "p8", True),  # p8: no session in the window -> NaN
        ],
        columns=["session", "participant", "attended"],
    )  # fmt: skip
    groups = pd.DataFrame(
        {
            "group": ["g1", "g2", "g5", "g3", "g4"],
            "programme": ["A", "A", "A", "B", "B"],
            "format": ["in_person", "in_person", "online", "in_person", "in_person"],
            "n_members": [2, 2, 1, 2, 2],
        }
    )
    return sessions, attendance, groups


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    participants = _participants()
    scores, items = _ratings()
    sessions, attendance, groups = _sessions_attendance()
    members = intervisie_members(participants)
    rated = member_ratings(members, scores, items, scale="cq", items=["a", "b"])
    dose = attendance_dose(members, participants, sessions, attendance, knot_months=3)
    props = group_properties(groups, sessions, method_min_groups=2)
    tab, factors = factor_table(members, {"coach_quality": rated, "structure": rated}, dose, props)
    return tab.set_index("participant"), factors, dose.set_index("participant")


def _col(tab: pd.DataFrame, column: str, order: list[str]) -> np.ndarray:
    return tab.loc[order, column].to_numpy(dtype=float)


ORDER = ["p1", "p2", "p3", "p4", "p10", "p5", "p6", "p7", "p8"]


def test_comparison_participants_are_left_out(table) -> None:
    tab, _factors, _dose = table
    assert sorted(tab.index) == sorted(ORDER)


def test_between_part_is_programme_centred_group_mean_per_sd(table) -> None:
    # group means: g1 (3 + 5)/2 = 4, g2 (2 + 4)/2 = 3, g5 3.5 -> programme A mean 3.5
    # -> +0.5, -0.5, 0;  g3 3, g4 (1 + 3)/2 = 2 -> programme B mean 2.5 -> +0.5, -0.5
    # SD (n - 1) of [.5, -.5, 0, .5, -.5] = sqrt(1 / 4) = .5 -> z = +1, -1, 0, +1, -1
    tab, _factors, _dose = table
    assert_allclose(_col(tab, "coach_quality_between", ORDER), [1, 1, -1, -1, 0, 1, 1, -1, -1], rtol=0, atol=ATOL)


def test_within_part_is_member_minus_group_mean_per_sd(table) -> None:
    # deviations p1 -1, p2 +1, p3 -1, p4 +1, p10 0, p5 0, p6 0, p7 -1, p8 +1; SS 6, SD sqrt(6/8)
    tab, _factors, _dose = table
    dev = np.array([-1, 1, -1, 1, 0, 0, 0, -1, 1]) / np.sqrt(6 / 8)
    assert_allclose(_col(tab, "coach_quality_within", ORDER), dev, rtol=0, atol=ATOL)


def test_structure_square_of_the_between_part_centred_within_programme(table) -> None:
    # z^2: A 1, 1, 0 -> mean 2/3 -> 1/3, 1/3, -2/3;  B 1, 1 -> 0, 0
    tab, factors, _dose = table
    expected = [1 / 3, 1 / 3, 1 / 3, 1 / 3, -2 / 3, 0, 0, 0, 0]
    assert_allclose(_col(tab, "structure_between_sq", ORDER), expected, rtol=0, atol=ATOL)
    assert factors["structure"] == ["structure_within", "structure_between", "structure_between_sq"]


def test_dose_share_of_sessions_in_the_first_three_months(table) -> None:
    _tab, _factors, dose = table
    assert_allclose(_col(dose, "dose", ORDER[:-1]), [0.5, 1, 0, 1, 1, 1, 0.5, 1], rtol=0, atol=ATOL)
    assert np.isnan(dose.loc["p8", "dose"]) and dose.loc["p8", "n_listed"] == 0


def test_dose_split_keeps_its_unit(table) -> None:
    # group means g1 .75, g2 .5, g5 1 (A mean .75); g3 .75, g4 1 (p8 has none; B mean .875)
    tab, _factors, _dose = table
    assert_allclose(
        _col(tab, "dose_between", ORDER), [0, 0, -0.25, -0.25, 0.25, -0.125, -0.125, 0.125, 0.125], rtol=0, atol=ATOL
    )
    assert_allclose(_col(tab, "dose_within", ORDER[:-1]), [-0.25, 0.25, -0.5, 0.5, 0, 0.25, -0.25, 0], rtol=0, atol=ATOL)
    assert np.isnan(tab.loc["p8", "dose_within"])


def test_group_size_online_and_modal_method(table) -> None:
    # size A 2, 2, 1 -> 1/3, 1/3, -2/3; B 0, 0; SD (n - 1) = sqrt((2/3) / 4)
    tab, factors, _dose = table
    sd = np.sqrt((2 / 3) / 4)
    assert_allclose(_col(tab, "group_size", ORDER), np.array([1, 1, 1, 1, -2, 0, 0, 0, 0]) / 3 / sd, rtol=0, atol=ATOL)
    assert_allclose(_col(tab, "online", ORDER), [-1 / 3] * 4 + [2 / 3, 0, 0, 0, 0], rtol=0, atol=ATOL)
    # modal: g1 incident (2 of 3), g2 tie -> alphabetical incident, g5 roddel, g3 roddel, g4 tie -> incident
    # reference incident (3 groups); roddel dummy A 0, 0, 1 -> -1/3, -1/3, 2/3;  B 1, 0 -> .5, -.5
    assert factors["method"] == ["method_roddelmethode"]
    assert_allclose(
        _col(tab, "method_roddelmethode", ORDER), [-1 / 3] * 4 + [2 / 3, 0.5, 0.5, -0.5, -0.5], rtol=0, atol=ATOL
    )


def test_rare_methods_are_pooled() -> None:
    sessions, _attendance, groups = _sessions_attendance()
    props = group_properties(groups, sessions, method_min_groups=3).set_index("group")
    assert props.loc[["g1", "g2", "g4", "g3", "g5"], "method"].tolist() == ["incidentmethode"] * 3 + ["other"] * 2


def test_missing_column_names_the_table() -> None:
    with pytest.raises(InputError, match="participants: column"):
        intervisie_members(pd.DataFrame({"participant": ["p1"]}))


def test_aggregation_rows_match_r_multilevel() -> None:
    """ICC(1)/ICC(2)/rwg(j) of the members' mean ratings as ``multilevel`` computes them.

    R, on all members and on each programme's members ``e``: ``a <- aov(score ~ factor(group), e);
    ICC1(a); ICC2(a); r <- rwg.j(e[, c("a", "b")], e$group, ranvar = (5^2 - 1) / 12)$rwg.j;
    median(r); mean(r >= 0.70)``, balanced groups (where ``multilevel::ICC1``'s N/J equals k0).
    """
    rng = np.random.default_rng(7)
    n_groups, size = 12, 5
    group = np.repeat([f"g{j:02d}" for j in range(n_groups)], size)
    true = np.repeat(rng.normal(0, 0.5, n_groups), size)
    rows, item_rows, rid = [], [], 0
    members = pd.DataFrame(
        {"participant": [f"p{i:03d}" for i in range(len(group))], "group": group, "programme": np.where(group < "g06", "A", "B")}
    )
    for p, t in zip(members["participant"], true, strict=True):
        for _ in range(rng.integers(1, 4)):  # one to three ratings per member
            rid += 1
            a, b = (float(np.clip(np.round(3 + t + rng.normal(0, 0.8)), 1, 5)) for _ in range(2))
            rows.append((rid, p, "cq", (a + b) / 2, "ok"))
            item_rows += [(rid, "a", a), (rid, "b", b)]
    scores = pd.DataFrame(rows, columns=["response_id", "participant", "scale", "score", "score_status"])
    items = pd.DataFrame(item_rows, columns=["response_id", "item", "response"])
    rated = member_ratings(members, scores, items, scale="cq", items=["a", "b"])
    agg = aggregation_table(
        {"coach_quality": rated}, items={"coach_quality": ["a", "b"]}, n_options={"coach_quality": 5},
        icc1_min=0.05, icc2_min=0.70, rwg_min=0.70,
    )  # fmt: skip
    out = run_r(
        "for (p in c('all', 'A', 'B')) { e <- if (p == 'all') d else d[d$programme == p, ]; "
        "a <- aov(score ~ factor(group), e); "
        "r <- rwg.j(e[, c('a', 'b')], e$group, ranvar = (5^2 - 1) / 12)$rwg.j; "
        "out[[p]] <- c(ICC1(a), ICC2(a), median(r), mean(r >= 0.70)) }",
        rated[["group", "programme", "score", "a", "b"]],
        packages=("multilevel", "jsonlite"),
    )
    assert list(agg.columns[:10]) == [
        "construct", "n_groups", "mean_group_size", "icc1", "icc2", "rwg_j_median", "rwg_j_share_70", "justified",
        "note", "programme",
    ]  # fmt: skip
    assert agg["programme"].tolist() == ["all", "A", "B"]
    for _, row in agg.iterrows():
        assert_allclose(
            row[["icc1", "icc2", "rwg_j_median", "rwg_j_share_70"]].to_numpy(float), out[row["programme"]], rtol=1e-8
        )
    assert agg["n_groups"].tolist() == [n_groups, n_groups // 2, n_groups // 2]
    assert_allclose(agg["mean_group_size"], size, rtol=1e-12)
