"""The disclosure-control layer: joint primary and complementary suppression that the audit cannot break.

Known answers:
- the split integer program gives the same feasible intervals as the full product of atoms
  (:mod:`reporting.disclosure_lp`) on random small catalogues;
- the demo's response flow and missing-data patterns (whose subtraction gave comparison ``1010`` = 4,
  ``0001`` = 1, ``0011`` = 1, intervisie ``0011`` = 2): every pattern about 1-4 people is hidden and
  the audit finds nothing over the published cells;
- a 3-person programme without a row in the per-programme table, but counted in the row of all
  programmes: it gets a row of ``×`` and the audit cannot pin it (nor any other hidden cell).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from reporting import board_tables, cells_change, cells_flow, disclosure_lp, disclosure_split, methods
from reporting.catalogue import Part
from reporting.publish import Publication
from reporting.results import Results
from tests.report_fixtures import make_design, write

SPAN = re.compile(r"\[((?:\\.|[^\]\\])*)\]\{#(dc-[a-z0-9_-]+)\}")
WAVES = {"t0": 0.0, "t1": 3.0, "t2": 6.0, "t3": 12.0}
PROGRAMMES = ["coschappen", "anios", "buitenlandse_artsen"]
#: the demo's response flow (arm, programme: roster, t0..t3) and missing-data patterns
FLOW = {("comparison", "anios"): (55, 45, 40, 26, 31), ("comparison", "buitenlandse_artsen"): (25, 24, 21, 15, 13),
        ("comparison", "coschappen"): (70, 68, 57, 45, 41), ("intervisie", "anios"): (278, 262, 227, 205, 188),
        ("intervisie", "buitenlandse_artsen"): (120, 117, 101, 93, 83),
        ("intervisie", "coschappen"): (349, 337, 291, 248, 230)}  # fmt: skip
PATTERNS = {"comparison": {"1111": 36, "1110": 32, "1101": 25, "1100": 14, "1000": 10, "1001": 9, "1011": 7, "1010": 4,
                           "0101": 3, "0110": 3, "0111": 3, "0100": 2, "0001": 1, "0011": 1},
            "intervisie": {"1111": 315, "1110": 134, "1101": 96, "1011": 53, "1100": 49, "1000": 31, "1010": 21,
                           "1001": 17, "0111": 13, "0110": 8, "0101": 3, "0000": 2, "0001": 2, "0011": 2, "0100": 1}}  # fmt: skip


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERVISIE_DISCLOSURE_CACHE", str(tmp_path / "cache"))


def _audit(pub: Publication) -> list:
    """The audit's rules over everything the publication shows (split program: the full product is too large)."""
    return disclosure_split.findings(pub.dims, pub._published(), min_cell=pub.min_cell, protection=pub.protection)


def test_split_program_gives_the_intervals_of_the_full_product() -> None:
    rng = random.Random(11)
    dims = {"arm": ["a", "b"], "programme": ["p", "q", "r"], "wave:t0": ["0", "1"], "scale:x": ["0", "b", "u", "v"],
            "scale:y": ["0", "1"], "model:z": ["0", "1"]}  # fmt: skip
    for _trial in range(4):
        cells, truth = [], {}
        people = [{d: rng.choice(levels) for d, levels in dims.items()} for _ in range(60)]
        pops = []
        for arm in ("a", "b"):
            for programme in ("p", "q", "r"):
                pops += [{"arm": arm, "programme": programme}, {"arm": arm, "programme": programme, "wave:t0": "1"},
                         {"arm": arm, "programme": programme, "scale:x": rng.choice(["u", "v"])}]  # fmt: skip
            pops += [{"arm": arm, "scale:y": "1"}, {"arm": arm, "scale:x": ("u", "v"), "wave:t0": "1"}]
        pops += [{"model:z": "1"}, {"model:z": "1", "wave:t0": "0"}]
        for i, pop in enumerate(pops):
            n = sum(all(p[d] in ((v,) if isinstance(v, str) else v) for d, v in pop.items()) for p in people)
            truth[i] = n
            cells.append(disclosure_lp.PublishedCell(str(i), "count", pop, None if rng.random() < 0.3 else float(n)))
        targets = [c.population for c in cells if c.value is None]
        assert disclosure_split.intervals(dims, cells, targets) == disclosure_lp.intervals(dims, cells, targets)


def _flow_study(root: Path) -> tuple[Results, object]:
    write(root, "quality", "response_flow", [
        {"arm": a, "programme": p, "stage": s, "n": k, "share_of_roster": k / ns[0]}
        for (a, p), ns in FLOW.items() for s, k in zip(("roster", *WAVES), ns, strict=True)])  # fmt: skip
    write(root, "quality", "missing_patterns", [
        {"arm": a, "pattern": pattern, "n": k, "share": k / sum(ps.values()), "waves_answered": pattern.count("1")}
        for a, ps in PATTERNS.items() for pattern, k in ps.items()])  # fmt: skip
    design = make_design(comparison=True, waves=WAVES, programmes=PROGRAMMES)
    return Results(root), design


def test_missing_patterns_cannot_be_recovered_from_the_response_flow(tmp_path: Path) -> None:
    res, design = _flow_study(tmp_path)
    pub = Publication.build(res, design, sources=[cells_flow.source])
    assert not pub.leftover
    for arm, patterns in PATTERNS.items():
        for pattern, n in patterns.items():
            if 0 < n < 5:
                assert pub.hidden_count({"arm": arm} | {f"wave:{w}": d for w, d in zip(WAVES, pattern, strict=True)})
    assert _audit(pub) == []
    text = methods.flow(res, design, pub) + methods.missing_patterns(res, design, pub)
    for value, _ident in SPAN.findall(text):
        if value.isdigit():
            assert int(value) == 0 or int(value) >= 5
    block = pub.script()
    cells = json.loads(re.search(r">(\{.*\})<", block).group(1))["cells"]
    assert sorted(cells) == sorted(ident for _v, ident in SPAN.findall(text))


def _tiny_programme_study(root: Path) -> tuple[Results, object]:
    """Two large programmes and a third (3 intervisie, 2 comparison people) with no row, counted in ``all``."""
    rows = []
    for outcome in ("brs", "cbi_work"):
        for programme, (n_a, n_b) in (("all", (63, 42)), ("coschappen", (40, 25)), ("anios", (20, 15))):
            rows.append({"outcome": outcome, "programme": programme, "level_a": "intervisie", "level_b": "comparison",
                         "n_a": n_a, "n_b": n_b, "mean_a": 0.3, "mean_b": 0.1, "mean_diff": 0.2, "d": 0.4, "g": 0.4,
                         "ci95_low": 0.1, "ci95_high": 0.7})  # fmt: skip
    write(root, "change", "between_arms", rows)
    within = [{"outcome": r["outcome"], "arm": arm, "programme": r["programme"], "n": r[n], "mean_change": 0.2,
               "g_av": 0.3, "ci95_low": 0.1, "ci95_high": 0.5}
              for r in rows for arm, n in (("intervisie", "n_a"), ("comparison", "n_b"))]  # fmt: skip
    write(root, "change", "within_change", within)
    return Results(root), make_design(comparison=True, waves={"t0": 0.0, "t1": 3.0}, programmes=PROGRAMMES)


def test_a_programme_without_a_row_is_hidden_and_cannot_be_recovered_from_all(tmp_path: Path) -> None:
    res, design = _tiny_programme_study(tmp_path)
    pub = Publication.build(res, design, sources=[cells_change.source])
    assert not pub.leftover
    assert _audit(pub) == []
    table = board_tables.by_programme(res, design, "en", pub)
    rows = [line for line in table.splitlines() if "foreign-trained" in line]
    assert len(rows) == 2 and all("×" in line for line in rows)
    for value, _ident in SPAN.findall(table):
        assert not value.isdigit() or int(value) >= 5
    # the tiny programme's people: feasible interval wide enough
    tiny = {"arm": "intervisie", "programme": "buitenlandse_artsen", "wave:t0": "1", "wave:t1": "1", "scale:brs": "paired"}
    low, high = disclosure_split.intervals(pub.dims, pub._published(), [tiny])[0]
    assert high is None or high - low >= pub.protection


def test_statistics_need_a_published_count_and_unlisted_numbers_are_hidden() -> None:
    part = Part()
    part.dim("arm", ["a", "b"])
    part.count("t", {"arm": "a"}, 40)
    part.statistic("t", {"arm": "a"}, 40)
    part.statistic("t", {"arm": "b"}, 30)  # its count is published nowhere: it cannot be shown
    pub = Publication(part.dims, part.specs, min_cell=5)
    assert pub.statistic("1.23", {"arm": "a"}).startswith("[1.23]{#dc-t-")
    assert pub.statistic("4.56", {"arm": "b"}).startswith("[×]{#dc-t-")
    assert pub.count({}).startswith("[×]") and pub.unlisted  # nobody listed the total: shown hidden, noted
