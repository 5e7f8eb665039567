"""No number about fewer than 5 people is published: a tiny programme planted into the results.

Copies of the result tables get a fourth programme, ``mini``, with 3 intervisie and 2 comparison
participants, added to the ``all`` rows as a real programme would be (so its numbers could be
recovered by subtraction if only its own cells were hidden).  The known answer: every cell of
``mini`` is hidden, at least one other programme is hidden with it in every margin, and the
rendered board report and handout print none of its numbers.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reporting.results import Results
from reporting.tables import between_arms, reliable_change, response_flow
from tests.hostile.project import built_project

ROOT = Path(__file__).parents[1]
NEEDED = ["change/between_arms.csv", "change/reliable_change.csv", "quality/response_flow.csv", "growth/effects.csv"]
MARK_G = 3.777  # the planted effect: printed it would read 3,78 / 3.78
#: a published-cell span of the disclosure layer: ``[34]{#dc-flow-7}`` (group 1: the text a reader sees)
SPAN = re.compile(r"\[((?:\\.|[^\]\\])*)\]\{#dc-[a-z0-9_-]+\}")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = built_project(tmp_path_factory, "results/change/between_arms.csv")
    missing = [n for n in NEEDED if not (built / "results" / n).is_file()]
    if missing:
        raise AssertionError(f"results/{missing[0]} was not written by `dvc repro`")
    root = tmp_path_factory.mktemp("results")
    shutil.copy2(built / "data_clean" / "design.json", root / "design.json")  # beside the results: not a stage
    for stage in (built / "results").iterdir():
        if stage.is_dir():
            shutil.copytree(stage, root / stage.name)
    _plant_between_arms(root / "change" / "between_arms.csv")
    _plant_within_change(root / "change" / "within_change.csv")
    _plant_reliable_change(root / "change" / "reliable_change.csv")
    _plant_response_flow(root / "quality" / "response_flow.csv")
    return root


def _plant_between_arms(path: Path) -> None:
    table = pd.read_csv(path)
    tiny = table[table["programme"] == "all"].copy()
    tiny["programme"], tiny["n_a"], tiny["n_b"] = "mini", 3, 2
    tiny["g"], tiny["d"], tiny["ci95_low"], tiny["ci95_high"] = MARK_G, MARK_G, 3.001, 4.555
    table.loc[table["programme"] == "all", ["n_a", "n_b"]] += [3, 2]
    pd.concat([table, tiny], ignore_index=True).to_csv(path, index=False)


def _plant_within_change(path: Path) -> None:
    """The same people in the change within each arm (3 intervisie, 2 comparison): the tables stay consistent."""
    table = pd.read_csv(path)
    tiny = table[table["programme"] == "all"].copy()
    tiny["programme"], tiny["n"] = "mini", tiny["arm"].map({"intervisie": 3}).fillna(2).astype(int)
    table.loc[table["programme"] == "all", "n"] += tiny["n"].to_numpy()
    pd.concat([table, tiny], ignore_index=True).to_csv(path, index=False)


def _plant_reliable_change(path: Path) -> None:
    table = pd.read_csv(path)
    tiny = table[table["programme"] == "all"].copy()
    tiny["programme"] = "mini"
    per_category = {"improved": 2, "unchanged": 1, "deteriorated": 0}
    tiny["count"] = tiny["category"].map(per_category) - ((tiny["arm"] != "intervisie") & (tiny["category"] == "improved"))
    tiny["n"] = tiny["arm"].map({"intervisie": 3}).fillna(2).astype(int)  # as in the change tables: 3 and 2 people
    tiny["share"] = tiny["count"] / tiny["n"]
    everyone = table["programme"] == "all"
    table.loc[everyone, "count"] += tiny["count"].to_numpy()
    table.loc[everyone, "n"] += tiny["n"].to_numpy()
    table.loc[everyone, "share"] = table.loc[everyone, "count"] / table.loc[everyone, "n"]
    pd.concat([table, tiny], ignore_index=True).to_csv(path, index=False)


def _plant_response_flow(path: Path) -> None:
    """Three people of ``mini`` answered every wave: the flow gets their rows, the arm's patterns ``1...1`` them."""
    table = pd.read_csv(path)
    tiny = table[table["programme"] == table["programme"].iloc[0]].copy()
    tiny["programme"], tiny["n"] = "mini", 3
    pd.concat([table, tiny], ignore_index=True).to_csv(path, index=False)
    patterns_path = path.parent / "missing_patterns.csv"
    if patterns_path.is_file():
        patterns = pd.read_csv(patterns_path, dtype={"pattern": str})
        arm, width = tiny["arm"].iloc[0], int(patterns["pattern"].str.len().max())
        everyone = (patterns["arm"] == arm) & (patterns["pattern"] == "1" * width)
        patterns.loc[everyone, "n"] += 3
        patterns["share"] = patterns["n"] / patterns.groupby("arm")["n"].transform("sum")
        patterns.to_csv(patterns_path, index=False)


def test_tiny_programme_and_a_complement_are_hidden_in_effects(planted: Path) -> None:
    shown = between_arms(Results(planted))
    mini = shown[shown["programme"] == "mini"]
    assert mini["suppressed"].all()
    assert mini[["n_a", "n_b", "g", "ci95_low", "ci95_high"]].isna().all().all()
    for _outcome, part in shown.groupby("outcome"):
        programmes = part[part["programme"] != "all"]
        assert programmes["suppressed"].sum() >= 2  # "all" minus the visible ones never isolates mini
        total = part.loc[part["programme"] == "all", "n_a"].iloc[0]
        visible = programmes["n_a"].dropna().sum()
        assert total - visible > 3  # what subtraction leaves is more than the tiny programme


def test_tiny_programme_is_hidden_in_reliable_change_over_both_margins(planted: Path) -> None:
    shown = reliable_change(Results(planted))
    mini = shown[shown["programme"] == "mini"]
    assert mini["suppressed"].all()
    assert mini[["count", "share", "ci95_low", "ci95_high", "n"]].isna().all().all()
    for _key, part in shown[shown["programme"] != "all"].groupby(["scale", "arm", "category"]):
        assert part["suppressed"].sum() != 1  # never a single hidden cell among the programmes
    hidden = shown[shown["suppressed"]]
    counts = pd.read_csv(planted / "change" / "reliable_change.csv")
    for _key, part in hidden.groupby(["scale", "arm", "category"]):  # hidden together: about >= 5 people
        merged = counts.merge(part[["scale", "arm", "category", "programme"]])
        assert merged["count"].sum() >= 5 or len(part) >= 2
    assert int(np.nansum(shown.loc[~shown["suppressed"], "count"].between(1, 4))) == 0


def test_response_flow_hides_the_tiny_programme(planted: Path) -> None:
    shown = response_flow(Results(planted))
    assert shown.loc[shown["programme"] == "mini", "n"].isna().all()
    assert not shown["n"].dropna().between(1, 4).any()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["board", "handout"])
def test_rendered_documents_print_nothing_of_the_tiny_programme(planted: Path, name: str, tmp_path: Path) -> None:
    from reporting.execute import execute, to_markdown, to_notebook
    from reporting.qmd import read_qmd

    doc = read_qmd(ROOT / "reports" / f"{name}.qmd")
    parameters = {"lang": "nl", "results": str(planted), "design_file": str(planted / "design.json"), "site": str(tmp_path),
                  "params_file": str(ROOT / "params.yaml"), "dvc_lock": str(ROOT / "dvc.lock"),
                  "render_date": "2026-01-01"}  # fmt: skip
    markdown = to_markdown(execute(to_notebook(doc, parameters), cwd=ROOT / "reports"),
                           defaults={"echo": False}, figure_dir=tmp_path, stem=name)  # fmt: skip
    assert "3,78" not in markdown and "4,55" not in markdown and "4,56" not in markdown
    plain = SPAN.sub(r"\1", markdown)  # the published-cell spans' text, as a reader sees it
    for value in SPAN.findall(markdown):
        assert not value.isdigit() or int(value) == 0 or int(value) >= 5, value
    for line in plain.splitlines():
        if line.startswith("|") and "| mini |" in line:
            cells = [c.strip() for c in line.strip("|").split("|")][2:]
            assert all(c in ("×", "–") for c in cells), line
    rows = [line for line in plain.splitlines() if re.match(r"^\|.*\| mini \|", line)]
    assert rows or name == "handout"  # the board shows the programme, with every number hidden
