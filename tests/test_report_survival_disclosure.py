"""Leaving, Cox, PH test, Weibull, sensitivity and power numbers pass the disclosure layer; degenerate ones read "not estimable".

Known answers, on planted result tables (tests/report_fixtures.py style) of three studies:

- a 2-person programme (``p_c``) whose Kaplan-Meier row the analysis hid, whose Cox hazard ratio
  (1.82 [0.92, 3.59]) and PH-test row the analysis wrote, beside 2 responses dropped as careless
  and 3 imputed scores: none of these numbers may be printed, and the stratum may not be
  recoverable as overall minus the other strata (the attack of :mod:`reporting.disclosure_lp`
  on everything the documents print finds nothing);
- a Weibull time ratio of 4550347556493820928 [0, inf] and an online HR of 1e-9 [1e-12, 1e-6]:
  printed as "not estimable (...)" or hidden, never as a number;
- a study with fewer than 5 events: no hazard ratio, no survival estimate, no event count.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from reporting import appendix, cells_flow, handout
from reporting import cells_survival as C
from reporting.disclosure_lp import PublishedCell, findings
from reporting.estimable import ABSURD_RATIO, MAX_CLR, linear_reason, not_estimable, ratio_reason
from reporting.publish import Publication
from reporting.results import Results
from tests.report_fixtures import write

PROGRAMMES = {"p_a": ("programma A", "programme A"), "p_b": ("programma B", "programme B"),
              "p_c": ("programma C", "programme C")}  # fmt: skip
SPAN = re.compile(r"\[((?:\\.|[^\]\\])*)\]\{#(dc-[a-z0-9_-]+)\}")
LEAKED_HR = ("1.82", "1,82", "3.59", "3,59")
WAVES = {"t0": 0, "t1": 3}


@pytest.fixture(scope="module", autouse=True)
def _fresh_cache(tmp_path_factory: pytest.TempPathFactory):
    """Suppression decided by the code under test, not read from an earlier run's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERVISIE_DISCLOSURE_CACHE", str(tmp_path_factory.mktemp("disclosure-cache")))
        yield


def _design():
    from tests.design_factory import make_test_design
    from tests.report_fixtures import SCALES

    return make_test_design(waves=WAVES, programmes=PROGRAMMES, comparison=True, scales=SCALES,
                            primary=["brs", "cbi_work"], secondary=["gras"], study_id="leaky", title="Leaky",
                            demo=False)  # fmt: skip


#: events (months of leaving) per intervisie programme; format "online" for the first `ONLINE` of each programme
EVENTS = {"p_a": [1.0, 2.0, 4.0, 5.0, 7.0, 9.0], "p_b": [2.0, 3.0, 6.0, 8.0, 10.0], "p_c": [5.0]}
SIZES = {"p_a": 20, "p_b": 18, "p_c": 2}


def leaky_results(root: Path, *, events: dict[str, list[float]] = EVENTS, sizes: dict[str, int] = SIZES) -> Path:
    """The result tables of a study with a 2-person programme and the degenerate estimates of the issue."""
    flow = []
    for arm, counts in (("intervisie", sizes), ("comparison", {"p_a": 10, "p_b": 10, "p_c": 6})):
        for p, n in counts.items():
            flow += [{"arm": arm, "programme": p, "stage": "roster", "n": n, "share_of_roster": 1.0},
                     {"arm": arm, "programme": p, "stage": "t0", "n": n, "share_of_roster": 1.0}]  # fmt: skip
    write(root, "quality", "response_flow", flow)
    n_all = sum(sizes.values())
    all_events = sorted(t for ts in events.values() for t in ts)
    summary = [_km_row("overall", "all", n_all, all_events)]
    for p, n in sizes.items():
        summary.append(_km_row("programme", p, n, events[p]) if n >= 5 else
                       {"curve": "programme", "stratum": p, "note": "suppressed: fewer than 5 participants"})  # fmt: skip
    online = [ts[0] for ts in events.values() if ts][:3]
    in_person = sorted(all_events)
    for t in online:
        in_person.remove(t)
    summary += [_km_row("format", "in_person", n_all - 10, in_person), _km_row("format", "online", 10, online)]
    write(root, "survival", "km_summary", summary)
    steps = []
    for curve, stratum, ts in [("overall", "all", all_events), *(("programme", p, events[p]) for p in sizes if sizes[p] >= 5),
                               ("format", "in_person", in_person), ("format", "online", online)]:  # fmt: skip
        steps += [{"curve": curve, "stratum": stratum, "time_months": t, "survival": 0.9, "ci_low": 0.8, "ci_high": 0.95,
                   "at_risk": 10, "events": 1, "note": ""} for t in ts]  # fmt: skip
    write(root, "survival", "km", steps)
    d = len(all_events)
    cox = [_cox("brs_z", 1.30, 1.05, 1.60, n_all, d), _cox("programme_p_b", 0.90, 0.50, 1.60, n_all, d),
           _cox("programme_p_c", 1.82, 0.92, 3.59, n_all, d), _cox("format_online", 1e-9, 1e-12, 1e-6, n_all, d)]  # fmt: skip
    write(root, "survival", "cox", cox)
    write(root, "survival", "ph_test", [
        {"model": "main", "term": r["term"], "statistic": 0.5, "df": 1, "p_val": 0.48, "violated": False, "action": "none"}
        for r in cox] + [{"model": "main", "term": "GLOBAL", "statistic": 2.0, "df": 4, "p_val": 0.7, "violated": False,
                          "action": "none: the per-covariate tests decide"}])  # fmt: skip
    write(root, "survival", "caseness", [
        {"model": "weibull_arm", "term": "time_ratio:arm_intervisie", "estimate": 4550347556493820928.0, "ci_low": 0.0,
         "ci_high": math.inf, "p_val": 0.99, "n": 66, "events": 20, "note": ""},
        {"model": "weibull_arm", "term": "hazard_ratio:arm_intervisie", "estimate": 0.57, "ci_low": 0.39,
         "ci_high": 0.82, "p_val": 0.004, "n": 66, "events": 20, "note": ""},
        {"model": "weibull_arm", "term": "shape_rho", "estimate": 0.81, "ci_low": 0.6, "ci_high": 1.1, "p_val": None,
         "n": 66, "events": 20, "note": ""}])  # fmt: skip
    write(root, "growth", "effects", [{"outcome": "brs", "term": "t1:armintervisie", "estimate": 0.2, "ci95_low": 0.1,
                                       "ci95_high": 0.3, "n": 66}])  # fmt: skip
    write(root, "sensitivity", "tipping_summary", [
        {"outcome": "brs", "wave": "t1", "estimate_mar": 0.25, "ci_low_mar": 0.15, "ci_high_mar": 0.34,
         "tipping_delta_sd": 1.3, "conclusion_robust": True, "conclusion": "tips within the grid",
         "n_participants": 66, "n_imputed": 3, "m": 5}])  # fmt: skip
    write(root, "careless", "comparison", [
        {"outcome": "brs", "term": "t1:armintervisie", "estimate_all": 0.21, "ci95_low_all": 0.11,
         "ci95_high_all": 0.31, "estimate_screened": 0.22, "ci95_low_screened": 0.12, "ci95_high_screened": 0.32,
         "n_dropped": 2}])  # fmt: skip
    _other_stages(root)
    return root


def _other_stages(root: Path) -> None:
    """Implementation, power, multiplicity and instrument tables (groups: 8 in all, 1-4 per programme)."""
    write(root, "implementation", "aggregation", [
        {"construct": "coach_quality", "programme": p, "n_groups": g, "mean_group_size": 4.0, "icc1": 0.3, "icc2": 0.7,
         "rwg_j_median": 0.9, "justified": True} for p, g in (("all", 8), ("p_a", 4), ("p_b", 3), ("p_c", 1))])  # fmt: skip
    write(root, "implementation", "factors_ranked", [
        {"rank": 1, "outcome": "brs", "factor": "dose", "level": "within", "effect": 0.4, "ci_low": 0.25, "ci_high": 0.55,
         "p_val": 0.0001, "direction": "promoting"},
        {"rank": 2, "outcome": "brs", "factor": "safety", "level": "between", "effect": 0.05, "ci_low": -0.01,
         "ci_high": 0.1, "p_val": 0.2, "direction": "unclear"}])  # fmt: skip
    write(root, "power", "components", [
        {"outcome": "brs", "horizon": "short", "wave": "t1", "sd_change": 0.5, "d_observed": 0.45, "icc_change": 0.01,
         "cluster_size": 5.0, "retention_treated": 0.83, "retention_comparison": 0.78}])  # fmt: skip
    write(root, "power", "sample_size", [
        {"outcome": "brs", "horizon": "short", "wave": "t1", "basis": b, "effect_d": d, "design_effect": 1.03,
         "retention": 0.78, "n_analysed": 80, "n_enrol": 103, "groups_needed": 17, "alpha": 0.05, "power": 0.8}
        for b, d in (("observed", 0.45), ("d=0.2", 0.2))])  # fmt: skip
    write(root, "sensitivity", "multiplicity", [
        {"outcome": "brs", "family": "primary", "term": "t1:armintervisie", "estimate": 0.21, "ci_low": 0.11,
         "ci_high": 0.31, "p_val": 0.001, "p_adj": 0.002, "method": "holm", "reject": True}])  # fmt: skip
    write(root, "reliability", "reliability", [
        {"scale": "brs", "wave": "t0", "programme": "all", "alpha": 0.85, "n": 66, "flag_below_threshold": False}])
    write(root, "change", "responsiveness", [
        {"outcome": "brs", "arm": "intervisie", "programme": "all", "n": 40, "srm": 0.6, "ci95_low": 0.3,
         "ci95_high": 0.9}])  # fmt: skip


def _km_row(curve: str, stratum: str, n: int, events: list[float]) -> dict:
    row = {"curve": curve, "stratum": stratum, "n": n, "events": len(events), "note": ""}
    for t in (3, 12):
        s = 1 - sum(e <= t for e in events) / n
        row |= {f"survival_{t}m": s, f"survival_{t}m_ci_low": s * 0.8, f"survival_{t}m_ci_high": min(1.0, s * 1.05)}
    return row


def _cox(term: str, hr: float, low: float, high: float, n: int, events: int) -> dict:
    return {"model": "main", "term": term, "hr": hr, "ci_low": low, "ci_high": high, "se_robust": 0.3, "z": 1.0,
            "p_val": 0.3, "n": n, "events": events, "primary": True, "note": ""}


def _publication(res: Results, design) -> Publication:
    return Publication.build(res, design, sources=[cells_flow.source, *C.SOURCES])


def _documents(res: Results, design) -> tuple[str, Publication]:
    pub = _publication(res, design)
    parts = [appendix.survival(res, design, pub), appendix.sensitivity(res, design, pub),
             appendix.multiplicity(res, design, pub), appendix.implementation(res, design, pub),
             appendix.power(res, design, pub)]  # fmt: skip
    for lang in ("nl", "en"):
        parts += [handout.factors(res, design, lang, pub), handout.leaving(res, design, lang, pub),
                  handout.instruments(res, design, {}, lang, pub), handout.needs(res, design, lang, pub),
                  handout.sample_sizes(res, design, lang, pub)]  # fmt: skip
    return "\n".join(parts) + "\n" + rest_of_site(pub), pub


def rest_of_site(pub: Publication) -> str:
    """Every other count and share of the catalogue, as the board and the rest of the appendix print them.

    The layer may count on each catalogue count being printed somewhere in the site (that is what
    proves a statistic's population large enough); the audit must then see them too.
    """
    from reporting.publish import _plain

    emitted = {id(cell) for _, cell in pub._emitted}
    out = []
    for cell in list(pub.cells.values()):
        if id(cell) in emitted or cell.kind == "statistic":
            continue
        if cell.kind == "count":
            out.append(pub.count(_plain(cell.population)))
        else:
            out.append(pub.share(_plain(cell.population), _plain(cell.denominator), "en", digits=cell.digits))
    return " ".join(out)


def attack(markdown: str, pub: Publication) -> list:
    """The audit of the spec: every span read back with its JSON entry, attacked by integer programming."""
    script = pub.script()
    payload = json.loads(re.search(r"<script[^>]*>(.*)</script>", script, re.S).group(1).replace("<\\/", "</"))
    spans = {ident: text.replace("\\", "") for text, ident in SPAN.findall(markdown)}
    assert set(spans) == set(payload["cells"]), "every span has a JSON entry and vice versa"
    cells = []
    for ident, entry in payload["cells"].items():
        text = spans[ident]
        value = None
        if entry["kind"] == "count" and text not in ("×", "–"):
            value = float(text)
        elif entry["kind"] == "share" and text != "×":
            value = float(text.rstrip("%").replace(",", "."))
        elif entry["kind"] == "statistic" and text != "×":
            value = 1.0
        cells.append(PublishedCell(ident, entry["kind"], entry["population"], value, entry.get("denominator"),
                                   entry.get("digits", 0)))  # fmt: skip
    found = findings(payload["dims"], cells, min_cell=payload["min_cell"])
    # a hidden cell nothing bounds from above ([low, inf]) cannot be pinned
    return [f for f in found if not (f.rule == "unprotected" and f.high is None)]


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Publication, Results]:
    res = Results(leaky_results(tmp_path_factory.mktemp("leaky") / "results"))
    text, pub = _documents(res, _design())
    return text, pub, res


def test_two_person_programme_is_not_printed_nor_recoverable(leaky) -> None:
    text, pub, _res = leaky
    for number in LEAKED_HR:
        assert number not in text, f"the 2-person programme's hazard ratio ({number}) is printed"
    assert pub.hidden_count({"arm": "intervisie", "programme": "p_c"})
    assert pub.hidden_count({"arm": "intervisie", "programme": "p_c", "left": "1"})
    rows = [line for line in text.splitlines() if "`programme_p_c`" in line]
    assert rows and all("×" in line for line in rows), rows  # the Cox row and the PH-test row
    assert attack(text, pub) == [], "a hidden cell can be pinned from what is printed"


def test_degenerate_estimates_read_not_estimable(leaky) -> None:
    text, pub, _res = leaky
    assert "4550347556493820928" not in text and not re.search(r"\binf\b|∞", text)
    line = next(line for line in text.splitlines() if "time_ratio:arm_intervisie" in line)
    groups = C.caseness_groups(_design(), "time_ratio:arm_intervisie")
    if pub.shown(*groups):  # about enough people and events: the reason, not a number
        assert "not estimable (infinite or zero confidence bound)" in line, line
    else:
        assert line.split("|")[3].strip().startswith("[×]"), line
    assert "0.00 [0.00, 0.00]" not in text and "0,00 [0,00; 0,00]" not in text


class _Open:
    """A publication that may show everything (to check what a section prints when the layer allows it)."""

    def shown(self, *_populations) -> bool:
        return True

    def statistic(self, text: str, *_populations) -> str:
        return f"[{text}]{{#dc-t-1}}"


def test_a_shown_degenerate_estimate_is_words_not_a_number() -> None:
    row = pd.Series({"estimate": 4550347556493820928.0, "ci_low": 0.0, "ci_high": math.inf, "p_val": 0.99,
                     "events": 20, "note": ""})  # fmt: skip
    cells = appendix._ratio_cells(_Open(), [{"caseness": "1"}], row, "estimate")
    assert cells == ["not estimable (infinite or zero confidence bound)", "–", "–"]
    row = pd.Series({"estimate": 1.82, "ci_low": 0.92, "ci_high": 3.59, "p_val": 0.08, "events": 20, "note": ""})
    assert appendix._ratio_cells(_Open(), [{"caseness": "1"}], row, "estimate")[0] == "[1.82]{#dc-t-1}"
    words = handout._stat(_Open(), [{}], "absurd_estimate", ["1e-09 [1e-12; 1e-06]", "minder uitval"], "nl")
    assert words == ["niet te schatten (onwaarschijnlijk extreme schatting (buiten 1/100 tot 100))", "–"]


def test_small_counts_of_the_sensitivity_tables_are_hidden(leaky) -> None:
    text, pub, _res = leaky
    careless = next(line for line in text.splitlines() if line.startswith("| Resilience") and "t1:arm" in line
                    and line.count("[") >= 4 and "Responses" not in line and "×" in line.split("|")[-2])  # fmt: skip
    assert careless
    assert pub.hidden_count(C.careless_population("brs"))
    assert pub.hidden_count(C.mi_population("brs", "t1"))
    tipping = next(line for line in text.splitlines() if line.startswith("| Resilience (BRS) | t1 |"))
    assert tipping.split("|")[-3].strip().startswith("[×]"), tipping  # 3 imputed: hidden


def test_fewer_than_five_events_show_no_estimate(tmp_path: Path) -> None:
    events = {"p_a": [2.0, 5.0], "p_b": [3.0], "p_c": [6.0]}
    res = Results(leaky_results(tmp_path / "results", events=events))
    text, pub = _documents(res, _design())
    cox = [line for line in text.splitlines() if line.startswith("| main | `")]
    assert cox and all(line.split("|")[3].strip().startswith(("[×]", "not estimable")) for line in cox), cox
    assert pub.hidden_count({"arm": "intervisie", "left": "1"})  # 4 events in all
    km = [line for line in text.splitlines() if line.startswith(("| overall", "| programme", "| format"))]
    assert all("0.8" not in line and "0.9" not in line for line in km), km  # no survival estimate
    assert attack(text, pub) == []


def test_forty_person_study_with_two_events_prints_no_hazard_ratio(tmp_path: Path) -> None:
    events = {"p_a": [2.0], "p_b": [4.0], "p_c": []}
    res = Results(leaky_results(tmp_path / "results", events=events, sizes={"p_a": 20, "p_b": 14, "p_c": 6}))
    text, pub = _documents(res, _design())
    rows = "\n".join(line for line in text.splitlines() if line.startswith("| ") and "`" not in line)
    assert "0,00 [0,00; 0,00]" not in text and "0.00 [0.00, 0.00]" not in text
    assert "minder uitval]" not in rows and "online in plaats van fysiek | [×]" in rows
    assert attack(text, pub) == []


@pytest.mark.parametrize(
    ("estimate", "low", "high", "events", "reason"),
    [
        (1.82, 0.92, 3.59, 30, None),
        (4550347556493820928.0, 0.0, math.inf, 155, "infinite_bound"),
        (1e-9, 1e-12, 1e-6, 12, "absurd_estimate"),
        (ABSURD_RATIO * 1.01, 50.0, 200.0, 12, "absurd_estimate"),
        (2.0, 0.1, 0.1 * MAX_CLR * 1.01, 12, "wide_interval"),
        (2.0, 0.2, 0.2 * MAX_CLR * 0.99, 12, None),
        (1.0, 0.5, 2.0, 0, "no_events"),
        (float("nan"), float("nan"), float("nan"), 3, "not_estimated"),
    ],
)
def test_ratio_rule(estimate: float, low: float, high: float, events: int, reason: str | None) -> None:
    assert ratio_reason(estimate, low, high, events=events) == reason


def test_linear_rule_and_words() -> None:
    assert linear_reason(0.0, 0.0, 0.0) == "degenerate_interval"
    assert linear_reason(0.2, -math.inf, 0.3) == "infinite_bound"
    assert linear_reason(0.2, 0.1, 0.3, note="model did not converge") == "not_converged"
    assert not_estimable("no_events", "nl") == "niet te schatten (geen gebeurtenissen)"
    assert ratio_reason(1.2, 0.9, 1.5, note="not estimated: fewer than 5 events in this period") == "not_estimated"


def test_groups_and_other_sections_follow_the_layer(leaky) -> None:
    text, pub, _res = leaky
    rows = [line for line in text.splitlines() if line.startswith("| coach_quality")]
    assert len(rows) == 4 and all("×" in line.split("|")[3] for line in rows[1:]), rows  # 1-4 groups: hidden
    assert rows[0].split("|")[2:4] == [" all ", " 8 "], rows[0]  # three hidden rows of 8 groups pin none of them
    power = next(line for line in text.splitlines() if line.startswith("| Resilience (BRS) | short | t1 | observed"))
    assert "]{#dc-" in power and "103" in power  # both arms provably >= 5: shown, through the layer
    assert "{#dc-" in handout.sample_sizes(_res, _design(), "nl", pub)


def test_missing_results_still_give_one_sentence(tmp_path: Path) -> None:
    res = Results(tmp_path / "nothing")
    design = _design()
    pub = _publication(res, design)
    for section in (appendix.survival, appendix.sensitivity, appendix.implementation, appendix.power,
                    appendix.multiplicity):  # fmt: skip
        out = section(res, design, pub)
        assert out.startswith("*") and out.count("\n") == 1, out


# ------------------------------------------------------------ simulated studies, the survival stage run in-process
SIMULATED = {
    # 5 groups, the last (online) of 2 people: a 2-person Kaplan-Meier stratum, half of everyone leaves
    "two_person_stratum": {"n_groups": 5, "group_size": (8, 8, 8, 8, 2),
                           "formats": ("in_person",) * 4 + ("online",), "leave_rate": 0.5, "seed": 2},
    # 14 intervisie participants, hardly anyone leaves: fewer than 5 events
    "few_events": {"n_groups": 3, "group_size": (6, 6, 2), "n_comparison": 10, "formats": ("in_person",),
                   "leave_rate": 0.02, "seed": 5},
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(SIMULATED))
def simulated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    import yaml

    from intervisie.stages.survival import run_survival
    from pipeline.design import load_design
    from tests.synthetic_study import write_study

    tmp = tmp_path_factory.mktemp(request.param)
    write_study(tmp / "clean", **SIMULATED[request.param])
    params = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text(encoding="utf-8"))
    (tmp / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    run_survival(tmp / "clean", tmp / "params.yaml", tmp / "results" / "survival", lambda _m: None)
    design = load_design(tmp / "clean" / "design.json")
    res = Results(tmp / "results")
    pub = _publication(res, design)
    text = "\n".join([appendix.survival(res, design, pub), handout.leaving(res, design, "nl", pub),
                      handout.leaving(res, design, "en", pub)])  # fmt: skip
    return request.param, res, text + "\n" + rest_of_site(pub), pub


def test_simulated_studies_publish_nothing_recoverable(simulated) -> None:
    name, res, text, pub = simulated
    assert attack(text, pub) == [], name
    km = pd.read_csv(res.root / "survival" / "km_summary.csv")
    small = km[km["n"].isna()]
    for r in small.itertuples():  # a stratum the analysis hid stays hidden, its events too
        assert pub.hidden_count(C.leaving(res).stratum(r.curve, r.stratum))
    overall = km[km["curve"] == "overall"].iloc[0]
    if overall["events"] < 5:
        assert pub.hidden_count(C.leaving(res).stratum("overall", "all") | {"left": "1"})
        cox = [line for line in text.splitlines() if line.startswith("| main | `")]
        assert all(line.split("|")[3].strip().startswith(("[×]", "not estimable")) for line in cox), cox
    lines = text.splitlines()
    for r in pd.read_csv(res.root / "survival" / "cox.csv").itertuples():
        if ratio_reason(r.hr, r.ci_low, r.ci_high, events=r.events, note=r.note) is not None:
            row = next(line for line in lines if line.startswith(f"| {r.model} | `{r.term}` |"))
            assert row.split("|")[3].strip().startswith(("[×]", "not estimable")), row


def test_survival_at_a_time_hides_fewer_than_min_cell_leavers(tmp_path: Path) -> None:
    # 20 people; 3 left by month 3, 5 by month 6, 6 by month 12, 16 by month 24 (4 still in)
    times = [1, 2, 3, 4, 5, 7, *range(13, 23)]
    write(tmp_path, "survival", "km", [{"curve": "overall", "stratum": "all", "time_months": float(t), "events": 1}
                                      for t in times])  # fmt: skip
    shown = appendix.km_times_shown(Results(tmp_path), "overall", "all", 20, ["3", "6", "12", "24"])
    assert shown == {"6"}  # 3 by month 3 (< 5); 1 between 6 and 12 (< 5); 4 still in at 24 (< 5)
    assert appendix.km_times_shown(Results(tmp_path), "overall", "all", float("nan"), ["6"]) == set()
