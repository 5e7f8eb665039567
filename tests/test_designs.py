"""The design matrix: every common study design runs through the whole pipeline, in process.

Each design of :data:`pipeline.simulate.variants.DESIGNS` (single-arm and two-arm, 2 to 6 waves
at irregular months, one to three programmes that are not the demo's, with and without session
logs, attendance, ratings and leaving dates, other instruments than the demo's, 20-60
participants) is simulated into a temporary folder, and the stages of ``dvc.yaml`` run on it in
order (the Great Expectations gate is left out: it checks the clean tables' schema, which the
ingest's pandera schemas already enforce). A stage whose inputs exist runs even when an
earlier, unrelated stage failed, so one run shows every stage a design breaks.

The checks: no stage raises (a failure names the design, the stage, the error and where it was
raised); the row accounting reconciles with the files the simulator wrote; every analysis stage
writes ``skipped.csv`` with a reason on each row; and no rendered document names a programme,
wave or scale the study lacks (the demo's programmes and waves, the library's other scales).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.design import load_design
from pipeline.instruments import load_library
from pipeline.simulate.variants import DESIGNS, write_design
from pipeline.sources import source_labels
from pipeline.study import load_study

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
INSTRUMENTS = ROOT / "instruments"
#: analysis stages and their out dirs (each must write skipped.csv)
ANALYSIS_DIRS = {
    "quality": "quality",
    "reliability": "reliability",
    "change": "change",
    "invariance": "invariance",
    "mediation": "mediation",
    "power": "power",
    "growth": "growth",
    "implementation": "implementation",
    "growth_careless": "careless",
    "sensitivity": "sensitivity",
    "survival": "survival",
}
#: stage -> stages whose outputs it reads (dvc.yaml)
NEEDS = {
    "design": [],
    "ingest": [],
    "score": ["ingest"],
    "careless": ["ingest"],
    "quality": ["design", "score", "careless"],
    "reliability": ["design", "ingest"],
    "change": ["design", "score", "reliability"],
    "invariance": ["design", "ingest"],
    "mediation": ["design", "score"],
    "power": ["design", "score"],
    "growth": ["design", "score"],
    "implementation": ["design", "score"],
    "growth_careless": ["growth", "careless"],
    "sensitivity": ["growth"],
    "survival": ["design", "score"],
    "report": list(ANALYSIS_DIRS),
}
SKIPPED_COLUMNS = ["stage", "analysis", "outcome", "reason"]
TEST_KEY = "design-matrix-test-key-0123456789-abcdefghij"
WORKERS = max(1, min(2, os.cpu_count() or 1))


@dataclass
class Run:
    """One design's pipeline run: where everything is, and which stages failed how."""

    name: str
    study: Path
    clean: Path
    results: Path
    site: Path
    failures: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, list[str]] = field(default_factory=dict)

    def ok(self, stage: str) -> bool:
        return stage not in self.failures and stage not in self.blocked

    def require(self, *stages: str) -> None:
        """Skip a check whose stage did not run (its failure is reported by test_every_stage_runs)."""
        down = [s for s in stages if not self.ok(s)]
        if down:
            pytest.skip(f"{self.name}: stage(s) {down} did not finish (see test_every_stage_runs)")


def _where(exc: BaseException) -> str:
    """The error's first line and the file:line it was raised at (innermost project frame).

    A failed report cell arrives as one InputError holding the kernel's traceback: then the
    error and the innermost project file named in that traceback are reported instead.
    """
    text = str(exc).strip()
    first_line = (text.splitlines() or [""])[0]
    if "Traceback" in text:
        errors = re.findall(r"^(\w+(?:Error|Exception|Warning)\b.*)$", text, flags=re.MULTILINE)
        places = re.findall(r"File (\S+?):(\d+)", text) or re.findall(r"(Cell In\[\d+\]), line (\d+)", text)
        error = errors[-1] if errors else first_line
        place = f"{places[-1][0].removeprefix(str(ROOT) + '/')}:{places[-1][1]}" if places else "?"
        return f"{type(exc).__name__} in a report cell: {error} [raised at {place}]"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if str(ROOT) in f.filename and "/tests/" not in f.filename] or frames
    last = ours[-1]
    where = Path(last.filename)
    where = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
    return f"{type(exc).__name__}: {first_line} [raised at {where}:{last.lineno}]"


def _params(tmp: Path) -> Path:
    """The project's params.yaml with a small sensitivity analysis (few imputations, a short delta grid)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["analyses"]["sensitivity"] |= {"imputations": 5, "delta_sd": [0.0, 0.5, 1.0]}
    # one document per language the documents are written in (the board report in English)
    params["reports"]["languages"] = {"board": ["en"], "methods": ["en"], "handout": ["nl"]}
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def _stages(run: Run, params: Path) -> list[tuple[str, Callable[[], object]]]:
    """The stages of dvc.yaml, in order, bound to this run's paths."""
    from intervisie.stages.careless import run_careless
    from intervisie.stages.common import run_quality
    from intervisie.stages.design import run_design
    from intervisie.stages.growth import run_growth
    from intervisie.stages.implementation import run_implementation
    from intervisie.stages.ingest import run_ingest
    from intervisie.stages.invariance import run_invariance
    from intervisie.stages.mediation import run_mediation
    from intervisie.stages.power import run_power
    from intervisie.stages.score import run_score
    from intervisie.stages.sensitivity import run_sensitivity
    from intervisie.stages.short_term import run_change, run_reliability
    from intervisie.stages.survival import run_survival
    from reporting.render import run_report

    c, r, say = run.clean, run.results, (lambda _msg: None)
    study = run.study / "study.yaml"
    return [
        ("design", lambda: run_design(study, INSTRUMENTS, params, c / "design.json")),
        ("ingest", lambda: run_ingest(study, INSTRUMENTS, params, c, say)),
        ("score", lambda: run_score(c, INSTRUMENTS, c / "scale_scores.parquet", c / "data_dictionary.csv", say)),
        ("careless", lambda: run_careless(c, INSTRUMENTS, params, c / "careless.parquet", say)),
        ("quality", lambda: run_quality(c, params, r / "quality", say)),
        ("reliability", lambda: run_reliability(c, INSTRUMENTS, params, r / "reliability", say)),
        (
            "change",
            lambda: run_change(c, INSTRUMENTS, r / "reliability" / "reliability.csv", params, r / "change", say),
        ),
        ("invariance", lambda: run_invariance(c, INSTRUMENTS, params, r / "invariance", say)),
        ("mediation", lambda: run_mediation(c, params, r / "mediation", say)),
        ("power", lambda: run_power(c, params, r / "power", say)),
        ("growth", lambda: run_growth(c, INSTRUMENTS, params, r / "growth", say)),
        ("implementation", lambda: run_implementation(c, INSTRUMENTS, params, r / "implementation", say)),
        (
            "growth_careless",
            lambda: run_growth(
                c,
                INSTRUMENTS,
                params,
                r / "careless",
                say,
                exclude_flagged=c / "careless.parquet",
                compare_with=r / "growth" / "effects.csv",
            ),
        ),
        (
            "sensitivity",
            lambda: run_sensitivity(c, INSTRUMENTS, r / "growth" / "effects.csv", params, r / "sensitivity", say),
        ),
        ("survival", lambda: run_survival(c, params, r / "survival", say)),
        (
            "report",
            lambda: run_report(
                r, ROOT / "reports", run.site, params, ROOT / "dvc.lock", say, design_path=c / "design.json"
            ),
        ),
    ]


def run_pipeline(name: str, tmp: Path) -> Run:
    """Simulate design ``name`` into ``tmp`` and run every stage whose inputs were made.

    The documents are rendered as HTML only (PDF and Word are written from the same executed
    cells, and take most of the time).
    """
    from reporting import render

    run = Run(name, tmp / "raw", tmp / "data_clean", tmp / "results", tmp / "site")
    write_design(name, run.study, instruments_dir=INSTRUMENTS)
    params = _params(tmp)
    formats = render.output_formats
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(render, "output_formats", lambda front: [f for f in formats(front) if f == "html"])
        for stage, call in _stages(run, params):
            down = [s for s in NEEDS[stage] if not run.ok(s)]
            if down:
                run.blocked[stage] = down
                continue
            try:
                call()
            except Exception as exc:  # the harness records every failure; the tests report them
                run.failures[stage] = _where(exc)
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every design's run, two at a time in fresh processes (the stages are single-threaded)."""
    root = tmp_path_factory.mktemp("designs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERVISIE_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("SOURCE_DATE_EPOCH", "1767571200")
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context) as pool:
            futures = {name: pool.submit(run_pipeline, name, root / name) for name in sorted(DESIGNS)}
            return {name: future.result() for name, future in futures.items()}


@pytest.fixture(params=sorted(DESIGNS))
def design_run(request: pytest.FixtureRequest, runs: dict[str, Run]) -> Run:
    return runs[request.param]


def test_every_stage_runs(design_run: Run) -> None:
    lines = [f"  {stage}: {error}" for stage, error in design_run.failures.items()]
    lines += [f"  {stage}: not run, needs {needs}" for stage, needs in design_run.blocked.items()]
    assert not lines, f"design '{design_run.name}' fails:\n" + "\n".join(lines)


def test_row_accounting_reconciles(design_run: Run) -> None:
    design_run.require("ingest")
    accounting = pd.read_csv(design_run.clean / "quality" / "row_accounting.csv")
    manifest = yaml.safe_load((design_run.study / "simulation_manifest.yaml").read_text(encoding="utf-8"))
    study = load_study(design_run.study / "study.yaml")
    label_of = {src.file: label for _role, src, label in source_labels(study)}  # the study.yaml name of each file
    assert sorted(accounting["source_file"]) == sorted(label_of.values())
    assert accounting["reconciles"].all(), accounting.to_string()
    written = {label_of[f]: v["data_rows"] for f, v in manifest["files"].items()}
    read = dict(zip(accounting["source_file"], accounting["rows_read"], strict=True))
    assert read == written, f"rows read {read} != rows the simulator wrote {written}"
    assert (accounting["rows_clean"] > 0).all(), accounting.to_string()


@pytest.mark.parametrize("stage", sorted(ANALYSIS_DIRS))
def test_analysis_stage_writes_skipped_with_reasons(design_run: Run, stage: str) -> None:
    design_run.require(stage)
    path = design_run.results / ANALYSIS_DIRS[stage] / "skipped.csv"
    assert path.is_file(), f"design '{design_run.name}': stage {stage} wrote no {path.name}"
    skipped = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(skipped.columns) == SKIPPED_COLUMNS
    empty = skipped[skipped["reason"].str.strip() == ""]
    assert empty.empty, f"design '{design_run.name}', stage {stage}: skipped rows without a reason:\n{empty}"


class _Text(HTMLParser):
    """The text a reader sees in an HTML document (scripts and styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return " ".join(" ".join(parser.parts).split())


def foreign_names(design_path: Path) -> set[str]:
    """Names a document of this study must not contain: the demo's programmes and waves, other scales."""
    design = load_design(design_path)
    demo = yaml.safe_load((ROOT / "data_raw" / "demo" / "study.yaml").read_text(encoding="utf-8"))
    own = {p.label_nl for p in design.programmes} | {p.label_en for p in design.programmes}
    own |= {w.label_nl for w in design.waves} | {w.label_en for w in design.waves}
    names = set()
    for key, prog in demo["programmes"].items():
        names |= {key, prog["label_nl"], prog["label_en"]}
    for wave in demo["waves"].values():
        names |= {wave["label_nl"], wave["label_en"]}
    for inst in load_library(INSTRUMENTS).values():
        abbreviation = inst.abbreviation or inst.id.upper()
        for scale in inst.scales:
            if scale.id not in design.scales:
                names |= {f"{scale.name.nl} ({abbreviation})", f"{scale.name.en} ({abbreviation})"}
    return {n for n in names if n not in own}


def test_documents_name_only_what_the_study_has(design_run: Run) -> None:
    design_run.require("report")
    pages = sorted(design_run.site.glob("*.html"))
    assert pages, f"design '{design_run.name}': no HTML document in {design_run.site}"
    foreign = foreign_names(design_run.clean / "design.json")
    found = []
    for page in pages:
        text = visible_text(page).casefold()
        found += [f"{page.name}: '{name}'" for name in sorted(foreign) if name.casefold() in text]
    assert not found, f"design '{design_run.name}': documents name what the study lacks: {found}"


def test_published_numbers_survive_the_disclosure_audit(design_run: Run) -> None:
    """An attacker with every rendered document of the study pins no number about fewer than min_cell people.

    The designs include studies of 20-60 people in groups of 3-8 with one to three programmes,
    so small programmes, strata and event counts occur; the audit solves for every hidden cell
    across all documents together (reporting/audit.py).
    """
    from reporting.audit import audit_site

    design_run.require("report")
    report = audit_site(design_run.site)
    assert report.n_cells > 0, f"design '{design_run.name}': no annotated number in the documents"
    assert report.ok, f"design '{design_run.name}': {report.summary()}\n" + "\n".join(f.line() for f in report.findings)


def test_the_estimand_and_the_words_follow_how_people_came_in(design_run: Run) -> None:
    """Without random allocation: an adjusted short-term row per outcome, the arms' balance on every declared
    covariate, no "intervisie helps" in the board report, and the adjustment explained in the methods appendix."""
    design_run.require("report")
    design = load_design(design_run.clean / "design.json")
    adjusted = pd.read_csv(design_run.results / "change" / "adjusted.csv")
    balance = pd.read_csv(design_run.results / "change" / "balance.csv")
    board = visible_text(design_run.site / "board.html")
    if not design.has_comparison:
        assert adjusted.empty and balance.empty
        return
    assert set(design.primary) <= set(adjusted["outcome"]), f"design '{design_run.name}': no adjusted row"
    assert adjusted["std_estimate"].notna().all(), adjusted[["outcome", "note"]].to_string()
    assert (adjusted["primary_estimate"] == (not design.randomised)).all()
    declared = {c.id for c in design.covariates}
    names = {str(c).split(": ")[0].removesuffix(" (missing)") for c in balance["covariate"]}
    assert declared <= names, f"design '{design_run.name}': covariates {declared - names} not balanced"
    methods = visible_text(design_run.site / "methods.html")
    adjusted_words = ("correctie voor verschillen bij de start", "adjusting for differences at the start")
    if design.randomised:
        assert not any(w in board for w in adjusted_words) and "allocated" in methods
    else:
        assert "intervisie helpt" not in board and "intervisie helps" not in board
        assert any(w in board for w in adjusted_words), board[:600]
        assert "How people came in" in methods and "E-value" in methods
