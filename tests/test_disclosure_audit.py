"""The disclosure audit as an attacker: known leaks of hand-built sites are caught with the right interval.

Each site is written as Pandoc writes a rendered document: ``<span id="dc-...">`` around every number about
people and one ``<script type="application/json" id="disclosure-cells">`` block per document (see
reporting/audit.py).  The leaks reproduce what the documents used to publish (hidden cells recovered by
subtraction; small numbers printed) and their protected versions must pass.  The solver's intervals are
checked against hand-worked answers (exact) and against brute-force enumeration of every table of counts
on tiny random instances (exact).
"""

from __future__ import annotations

import itertools
import json
import random
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from intervisie.cli import cli, main
from reporting.audit import audit_site, read_value
from reporting.disclosure_lp import InconsistentPublication, PublishedCell, findings, intervals

FIXTURES = Path(__file__).parent / "fixtures" / "disclosure"
WAVES = ["t0", "t1", "t2", "t3"]


def write_doc(site: Path, name: str, dims: dict, cells: dict[str, tuple], min_cell: int = 5) -> None:
    """One rendered document: ``cells`` maps span id -> (text, kind, population[, denominator])."""
    rows, entries = [], {}
    for ident, (text, kind, population, *rest) in cells.items():
        rows.append(f'<tr><td>{ident}</td><td><span id="{ident}">{text}</span></td></tr>')
        entries[ident] = {"kind": kind, "population": population}
        if rest:
            entries[ident] |= {"denominator": rest[0], "digits": 0}
    block = json.dumps({"version": 1, "min_cell": min_cell, "dims": dims, "cells": entries}, sort_keys=True)
    html = (
        f"<html><body><table>{''.join(rows)}</table>\n"
        f'<script type="application/json" id="disclosure-cells">{block}</script></body></html>'
    )
    (site / name).write_text(html, encoding="utf-8")


def by_cell(report) -> dict[str, tuple[str, int | None, int | None]]:
    return {f.cell: (f.rule, f.low, f.high) for f in report.findings}


# -- 1. missing-data patterns against the response flow ---------------------------------------------------

PATTERNS = {  # arm -> pattern (answered t0..t3) -> count; every other pattern is 0
    "comparison": {"1111": 20, "1110": 6, "1100": 5, "1000": 7, "1010": 4, "0001": 1, "0011": 1},
    "intervisie": {"1111": 30, "1110": 8, "1100": 6, "1000": 5, "0011": 2},
}
WAVE_DIMS = {"arm": ["comparison", "intervisie"]} | {f"wave:{w}": ["0", "1"] for w in WAVES}


def patterns_site(site: Path, hide: set[tuple[str, str]], flow_hidden: set[tuple[str, str]] = frozenset()) -> None:
    """The methods appendix (patterns, both arms, all 16) and the board (response flow per arm and wave)."""
    patterns, flow = {}, {}
    for arm, counts in PATTERNS.items():
        for k, bits in enumerate("".join(b) for b in itertools.product("01", repeat=4)):
            n = counts.get(bits, 0)
            population = {"arm": arm} | {f"wave:{w}": b for w, b in zip(WAVES, bits, strict=True)}
            patterns[f"dc-pat-{arm[0]}{k}"] = ("×" if (arm, bits) in hide else str(n), "count", population)
        flow[f"dc-flow-{arm[0]}n"] = (str(sum(counts.values())), "count", {"arm": arm})
        for w in WAVES:
            answered = sum(n for bits, n in counts.items() if bits[WAVES.index(w)] == "1")
            text = "×" if (arm, w) in flow_hidden else str(answered)
            flow[f"dc-flow-{arm[0]}{w}"] = (text, "count", {"arm": arm, f"wave:{w}": "1"})
    write_doc(site, "methods.html", WAVE_DIMS, patterns)
    write_doc(site, "board.html", WAVE_DIMS, flow)


def test_missing_patterns_against_the_response_flow_are_recovered(tmp_path: Path) -> None:
    small = {(arm, bits) for arm, counts in PATTERNS.items() for bits, n in counts.items() if 0 < n < 5}
    patterns_site(tmp_path, small)
    found = by_cell(audit_site(tmp_path))
    index = {"".join(b): k for k, b in enumerate(itertools.product("01", repeat=4))}
    assert found[f"dc-pat-c{index['1010']}"] == ("unprotected", 4, 4)
    assert found[f"dc-pat-c{index['0001']}"] == ("unprotected", 1, 1)
    assert found[f"dc-pat-c{index['0011']}"] == ("unprotected", 1, 1)
    assert found[f"dc-pat-i{index['0011']}"] == ("unprotected", 2, 2)
    # and a row no table shows: n minus "answered at t0" = 2 people who skipped the baseline, in each arm
    assert found["implicit:arm=comparison, wave:t0=0"] == ("unprotected", 2, 2)
    assert found["implicit:arm=intervisie, wave:t0=0"] == ("unprotected", 2, 2)
    assert len(found) == 6


def test_patterns_pass_once_the_flow_that_pins_them_is_hidden_too(tmp_path: Path) -> None:
    small = {(arm, bits) for arm, counts in PATTERNS.items() for bits, n in counts.items() if 0 < n < 5}
    hide = small | {("comparison", "1111"), ("intervisie", "1111"), ("comparison", "1000"), ("intervisie", "1000")}
    flow = {(arm, w) for arm in PATTERNS for w in WAVES}
    patterns_site(tmp_path, hide, flow)
    report = audit_site(tmp_path)
    assert report.ok, [f.line() for f in report.findings]


# -- 2. a programme without a row in a per-programme table -------------------------------------------------

PROGRAMME_DIMS = {"arm": ["comparison", "intervisie"], "programme": ["p1", "p2", "p3"]}
PER_PROGRAMME = {("p1", "intervisie"): 14, ("p1", "comparison"): 12, ("p2", "intervisie"): 9,
                 ("p2", "comparison"): 8, ("p3", "intervisie"): 2, ("p3", "comparison"): 1}  # fmt: skip


def programme_site(site: Path, rows: list[str], hidden: set[str] = frozenset()) -> None:
    cells = {}
    for arm in ("intervisie", "comparison"):
        cells[f"dc-prog-all-{arm}"] = (str(sum(n for (_, a), n in PER_PROGRAMME.items() if a == arm)), "count",
                                       {"arm": arm})  # fmt: skip
        for p in rows:
            text = "×" if p in hidden else str(PER_PROGRAMME[p, arm])
            cells[f"dc-prog-{p}-{arm}"] = (text, "count", {"arm": arm, "programme": p})
    write_doc(site, "board.html", PROGRAMME_DIMS, cells)


def test_an_omitted_programme_row_is_recovered_from_all_programmes_minus_the_others(tmp_path: Path) -> None:
    programme_site(tmp_path, ["p1", "p2"])
    found = by_cell(audit_site(tmp_path))
    assert found["implicit:arm=intervisie, programme=p3"] == ("unprotected", 2, 2)
    assert found["implicit:arm=comparison, programme=p3"] == ("unprotected", 1, 1)
    assert len(found) == 2


def test_a_hidden_programme_row_with_a_hidden_partner_passes(tmp_path: Path) -> None:
    programme_site(tmp_path, ["p1", "p2", "p3"], hidden={"p2", "p3"})
    report = audit_site(tmp_path)
    assert report.ok, [f.line() for f in report.findings]


# -- 3.-5. survival: a 2-person stratum, its Cox HR, "Events 2" ----------------------------------------------

SURVIVAL_DIMS = {"programme": ["p1", "p2", "p3"], "left": ["0", "1"]}
STRATA = {"p1": (20, 6), "p2": (15, 5), "p3": (2, 1)}  # n, events


def survival_site(site: Path, *, stratum: str = "–", hr: str | None = None, events_overall: bool = True) -> None:
    km = {
        "dc-km-all-n": (str(sum(n for n, _ in STRATA.values())), "count", {}),
        "dc-km-all-e": (str(sum(e for _, e in STRATA.values())) if events_overall else "×", "count", {"left": "1"}),
    }
    for p, (n, events) in STRATA.items():
        km[f"dc-km-{p}-n"] = (str(n) if p != "p3" else stratum, "count", {"programme": p})
        km[f"dc-km-{p}-e"] = (str(events) if p != "p3" else stratum, "count", {"programme": p, "left": "1"})
    write_doc(site, "board.html", SURVIVAL_DIMS, km)
    if hr is not None:
        write_doc(site, "handout.html", SURVIVAL_DIMS, {"dc-cox-p3": (hr, "statistic", {"programme": "p3"})})


def test_a_stratum_shown_as_not_published_is_recovered_from_overall_minus_strata(tmp_path: Path) -> None:
    survival_site(tmp_path)
    found = by_cell(audit_site(tmp_path))
    assert found["dc-km-p3-n"] == ("unprotected", 2, 2)
    assert found["dc-km-p3-e"] == ("unprotected", 1, 1)


def test_a_cox_hazard_ratio_of_a_two_person_programme_fails(tmp_path: Path) -> None:
    survival_site(tmp_path, stratum="×", hr="1,82 [0,92; 3,59]")
    found = by_cell(audit_site(tmp_path))
    assert found["dc-cox-p3"] == ("small-population", 2, 2)


def test_a_printed_small_event_count_fails(tmp_path: Path) -> None:
    write_doc(tmp_path, "methods.html", SURVIVAL_DIMS, {"dc-cox-events": ("2", "count", {"programme": "p3", "left": "1"})})
    assert by_cell(audit_site(tmp_path)) == {"dc-cox-events": ("small-count", 2, 2)}


def test_the_survival_tables_pass_when_two_strata_and_their_events_are_hidden(tmp_path: Path) -> None:
    survival_site(tmp_path, stratum="×")
    board = (tmp_path / "board.html").read_text(encoding="utf-8")
    board = board.replace('<span id="dc-km-p2-n">15</span>', '<span id="dc-km-p2-n">×</span>')
    board = board.replace('<span id="dc-km-p2-e">5</span>', '<span id="dc-km-p2-e">×</span>')
    (tmp_path / "board.html").write_text(board, encoding="utf-8")
    report = audit_site(tmp_path)
    assert report.ok, [f.line() for f in report.findings]


# -- shares, rounding, parsing ------------------------------------------------------------------------------


def test_a_rounded_percentage_bounds_its_count() -> None:
    dims = {"arm": ["a", "b"], "left": ["0", "1"]}
    cells = [
        PublishedCell("n", "count", {"arm": "a"}, 200),
        PublishedCell("s", "share", {"arm": "a", "left": "1"}, 2.0, {"arm": "a"}, 0),
        PublishedCell("s1", "share", {"arm": "b", "left": "1"}, 12.5, {"arm": "b"}, 1),
        PublishedCell("n1", "count", {"arm": "b"}, 8),
    ]
    # 2% of 200, rounded to whole percent: [1.5%, 2.5%] * 200 = [3, 5]; 12.5% of 8 = 1 exactly
    assert intervals(dims, cells, [{"arm": "a", "left": "1"}, {"arm": "b", "left": "1"}]) == [(3, 5), (1, 1)]
    rules = {f.cell: (f.rule, f.low, f.high) for f in findings(dims, cells, min_cell=5)}
    assert rules == {"s": ("small-population", 3, 5), "s1": ("small-population", 1, 1), "n1": ("small-count", 8, 8)} or (
        rules == {"s": ("small-population", 3, 5), "s1": ("small-population", 1, 1)}
    )


def test_the_integer_program_is_tighter_than_its_relaxation_where_it_matters() -> None:
    """33% (whole percent) of a group of at most 5: only 1 of 3 fits, although the relaxation allows 1 to 5."""
    dims = {"a": ["0", "1"], "b": ["0", "1"]}
    cells = [
        PublishedCell("n", "count", {}, 5),
        PublishedCell("s", "share", {"a": "1", "b": "1"}, 33.0, {"b": "1"}, 0),
        PublishedCell("h", "count", {"b": "1"}, None),
    ]
    assert intervals(dims, cells, [{"b": "1"}, {"a": "1", "b": "1"}, {"b": "0"}]) == [(3, 3), (1, 1), (2, 2)]
    rules = {(f.cell, f.rule, f.low, f.high) for f in findings(dims, cells, min_cell=5)}
    # the share's population (1) and its denominator (3 people, the hidden cell) are both too small
    assert rules == {("h", "unprotected", 3, 3), ("s", "small-population", 1, 1), ("s", "small-population", 3, 3)}


def test_a_share_with_an_unpublished_denominator_still_bounds_a_hidden_count(tmp_path: Path) -> None:
    dims = {"arm": ["a"], "left": ["0", "1"]}
    write_doc(tmp_path, "board.html", dims, {
        "dc-share": ("25%", "share", {"left": "1"}, {}),
        "dc-left": ("×", "count", {"left": "1"}),
        "dc-stay": ("6", "count", {"left": "0"}),
    })  # fmt: skip
    # left / (left + 6) in [24.5%, 25.5%]  ->  left = 2 exactly
    found = by_cell(audit_site(tmp_path))
    assert found["dc-left"] == ("unprotected", 2, 2)


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("count", "34", (34.0, 0, True)),
        ("count", "1.234", (1234.0, 0, True)),
        ("count", "×", (None, 0, True)),
        ("count", "–", (None, 0, True)),
        ("count", "3,5", (None, 0, False)),
        ("share", "42%", (42.0, 0, True)),
        ("share", "42,5%", (42.5, 1, True)),
        ("share", "42.50 %", (42.5, 2, True)),
        ("statistic", "1,82 [0,92; 3,59]", (0.0, 0, True)),
        ("statistic", "×", (None, 0, True)),
    ],
)
def test_what_the_reader_sees_is_parsed(kind: str, text: str, expected: tuple) -> None:
    assert read_value(kind, text) == expected


def test_one_population_across_documents_and_languages_is_one_unknown(tmp_path: Path) -> None:
    programme_site(tmp_path, ["p1", "p2", "p3"], hidden={"p3"})
    board = (tmp_path / "board.html").read_text(encoding="utf-8")
    (tmp_path / "board-en.html").write_text(board, encoding="utf-8")
    found = audit_site(tmp_path).findings
    assert {(f.document, f.cell, f.low, f.high) for f in found if f.rule == "unprotected"} == {
        (doc, f"dc-prog-p3-{arm}", n, n) for doc in ("board.html", "board-en.html")
        for arm, n in (("intervisie", 2), ("comparison", 1))
    }  # fmt: skip


def test_conflicting_counts_of_one_population_are_a_finding(tmp_path: Path) -> None:
    write_doc(tmp_path, "board.html", PROGRAMME_DIMS, {"dc-a": ("40", "count", {"arm": "intervisie"})})
    write_doc(tmp_path, "methods.html", PROGRAMME_DIMS, {"dc-b": ("41", "count", {"arm": "intervisie"})})
    found = audit_site(tmp_path).findings
    assert [(f.document, f.rule) for f in found] == [("methods.html", "conflict")]


def test_spans_and_entries_must_match(tmp_path: Path) -> None:
    write_doc(tmp_path, "board.html", PROGRAMME_DIMS, {"dc-a": ("40", "count", {"arm": "intervisie"})})
    html = (tmp_path / "board.html").read_text(encoding="utf-8")
    html = html.replace("<table>", '<p>n = <span id="dc-lost">12</span></p><table>').replace('id="dc-a"', 'id="dc-b"')
    (tmp_path / "board.html").write_text(html, encoding="utf-8")
    (tmp_path / "handout.html").write_text("<html><body><p>34 doctors</p></body></html>", encoding="utf-8")
    found = {(f.document, f.cell, f.rule) for f in audit_site(tmp_path).findings}
    assert found == {("board.html", "dc-lost", "unannotated"), ("board.html", "dc-b", "unannotated"),
                     ("board.html", "dc-a", "unannotated"), ("handout.html", "-", "unannotated")}  # fmt: skip


def test_a_pandoc_rendered_page_is_read(tmp_path: Path) -> None:
    """Nested markup, entities and a Dutch decimal comma inside spans, as Pandoc writes them."""
    report = audit_site(FIXTURES / "pandoc_site")
    assert report.n_cells == 6 and report.n_hidden == 1
    assert by_cell(report) == {"dc-t-3": ("unprotected", 3, 3)}


# -- the command --------------------------------------------------------------------------------------------


def test_the_command_prints_findings_and_exits_1(tmp_path: Path) -> None:
    survival_site(tmp_path)
    result = CliRunner().invoke(cli, ["report", "audit", str(tmp_path)])
    assert result.exit_code == 1
    assert "board.html dc-km-p3-n: unprotected [2, 2]" in result.output
    assert "board.html dc-km-p3-e: unprotected [1, 1]" in result.output


def test_the_command_exits_0_on_a_clean_site_and_2_on_bad_input(tmp_path: Path, capsys) -> None:
    programme_site(tmp_path, ["p1", "p2", "p3"], hidden={"p2", "p3"})
    assert CliRunner().invoke(cli, ["report", "audit", str(tmp_path)]).exit_code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as stop:
        main(["report", "audit", str(empty)])
    assert stop.value.code == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "board.html").write_text('<script type="application/json" id="disclosure-cells">{"cells": </script>')
    with pytest.raises(SystemExit) as stop:
        main(["report", "audit", str(bad)])
    assert stop.value.code == 2
    assert "board.html" in capsys.readouterr().err


def test_report_without_a_subcommand_still_renders() -> None:
    result = CliRunner().invoke(cli, ["report", "--help"])
    assert result.exit_code == 0 and "--results" in result.output and "audit" in result.output


# -- the solver against brute force ------------------------------------------------------------------------


def brute_force(dims: dict, cells: list[PublishedCell], targets: list[dict], total: int) -> list[tuple[int, int]]:
    """Every table of atom counts with the given total, filtered by what is published."""
    names = list(dims)
    atoms = list(itertools.product(*dims.values()))

    def inside(atom: tuple, population: dict) -> bool:
        return all(atom[names.index(d)] in ((v,) if isinstance(v, str) else v) for d, v in population.items())

    def n(counts: tuple, population: dict) -> int:
        return sum(c for atom, c in zip(atoms, counts, strict=True) if inside(atom, population))

    seen: list[list[int]] = [[] for _ in targets]
    for cut in itertools.combinations(range(total + len(atoms) - 1), len(atoms) - 1):  # stars and bars
        bounds = (-1, *cut, total + len(atoms) - 1)
        counts = tuple(bounds[i + 1] - bounds[i] - 1 for i in range(len(atoms)))
        ok = True
        for cell in cells:
            if cell.value is None:
                continue
            if cell.kind == "count":
                ok = n(counts, cell.population) == cell.value
            elif cell.kind == "share":
                den = n(counts, cell.denominator)
                half = 0.5 * 10**-cell.digits
                ok = den > 0 and (cell.value - half) / 100 * den - 1e-9 <= n(counts, cell.population) <= (
                    cell.value + half) / 100 * den + 1e-9  # fmt: skip
            if not ok:
                break
        if ok:
            for k, target in enumerate(targets):
                seen[k].append(n(counts, target))
    return [(min(s), max(s)) for s in seen]


def random_instance(rng: random.Random) -> tuple[dict, list[PublishedCell], list[dict], int]:
    dims = {"a": ["0", "1"], "b": ["0", "1", "2"]} if rng.random() < 0.5 else {d: ["0", "1"] for d in "abc"}
    names = list(dims)
    atoms = list(itertools.product(*dims.values()))
    true = [rng.choice([0, 0, 1, 1, 2, 3]) for _ in atoms]
    total = sum(true)

    def count(population: dict) -> int:
        return sum(t for atom, t in zip(atoms, true, strict=True)
                   if all(atom[names.index(d)] == v for d, v in population.items()))  # fmt: skip

    boxes = [dict(zip(sub, levels, strict=True)) for k in (1, 2) for sub in itertools.combinations(names, k)
             for levels in itertools.product(*(dims[d] for d in sub))]  # fmt: skip
    cells = [PublishedCell("total", "count", {}, total)]
    for i, box in enumerate(rng.sample(boxes, min(len(boxes), rng.randint(2, 7)))):
        if rng.random() < 0.2 and len(box) == 2 and count({k: box[k] for k in list(box)[:1]}) > 0:
            den = {k: box[k] for k in list(box)[:1]}
            cells.append(PublishedCell(f"s{i}", "share", box, round(100 * count(box) / count(den)), den, 0))
        else:
            cells.append(PublishedCell(f"c{i}", "count", box, None if rng.random() < 0.4 else count(box)))
    return dims, cells, rng.sample(boxes, 4), total


def test_intervals_equal_brute_force_enumeration_on_random_tiny_tables() -> None:
    rng = random.Random(20261129)
    for _ in range(40):
        dims, cells, targets, total = random_instance(rng)
        assert intervals(dims, cells, targets) == brute_force(dims, cells, targets, total), (dims, cells, targets)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31))
def test_intervals_equal_brute_force_for_any_seed(seed: int) -> None:
    dims, cells, targets, total = random_instance(random.Random(seed))
    assert intervals(dims, cells, targets) == brute_force(dims, cells, targets, total)


def test_contradicting_publications_are_reported() -> None:
    dims = {"a": ["0", "1"]}
    cells = [PublishedCell("t", "count", {}, 5), PublishedCell("x", "count", {"a": "0"}, 7)]
    with pytest.raises(InconsistentPublication):
        intervals(dims, cells, [{"a": "1"}])
    assert [f.rule for f in findings(dims, [*cells, PublishedCell("h", "count", {"a": "1"}, None)], min_cell=5)] == [
        "inconsistent"
    ]


# -- scale ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_audit_of_500_cells_in_10_dimensions_is_fast(tmp_path: Path) -> None:
    rng = random.Random(7)
    dims = {"arm": ["c", "i"], "programme": ["p1", "p2", "p3", "p4"], "left": ["0", "1"]}
    dims |= {f"wave:t{w}": ["0", "1"] for w in range(7)}
    names = list(dims)
    people = [(rng.choice("cci"), rng.choice(["p1"] * 5 + ["p2"] * 3 + ["p3"] * 2 + ["p4"]), rng.choice("0001"),
               *(rng.choice("0111") for _ in range(7))) for _ in range(400)]  # fmt: skip
    shapes = [("arm",), ("arm", "programme"), ("arm", "left"), ("programme", "left"), ("arm", "programme", "left")]
    shapes += [("arm", f"wave:t{w}") for w in range(7)] + [("arm", "programme", f"wave:t{w}") for w in range(7)]
    shapes += [("arm", "left", f"wave:t{w}") for w in range(7)] + [("arm", *(f"wave:t{w}" for w in range(4)))]
    cells, seen = {}, set()
    for shape in shapes:
        for k in range(len(shape) + 1):
            for sub in itertools.combinations(shape, k):
                for levels in itertools.product(*(dims[d] for d in sub)):
                    population = dict(zip(sub, levels, strict=True))
                    if (key := tuple(sorted(population.items()))) in seen:
                        continue
                    seen.add(key)
                    n = sum(all(p[names.index(d)] == v for d, v in population.items()) for p in people)
                    cells[f"dc-c-{len(cells)}"] = ("×" if 0 < n < 5 else str(n), "count", population)
    half = len(cells) // 2
    items = list(cells.items())
    write_doc(tmp_path, "board.html", dims, dict(items[:half]))
    write_doc(tmp_path, "methods.html", dims, dict(items[half:]))
    started = time.perf_counter()
    report = audit_site(tmp_path)
    seconds = time.perf_counter() - started
    print(f"\n{report.summary()}; wall {seconds:.1f} s")
    assert report.n_cells == len(cells) >= 450
    assert seconds < 60  # the aim is < 30 s; generous for a shared machine
