"""The ``intervisie`` command: one sub-command per step of the pipeline.

Errors a user can fix end the command with one paragraph on standard error and exit code 2;
anything else is reported as an internal error (exit code 1).  ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from pipeline.atomic import stop_with_dvc
from pipeline.errors import PipelineError
from pipeline.instruments import InstrumentError

PathArg = click.Path(path_type=Path)


def _progress(message: str) -> None:
    click.echo(f"  {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the full traceback when something goes wrong.")
@click.version_option(package_name="intervisie")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Measure whether intervisie works: raw study exports -> clean, scored, pseudonymised data.

    A study runs as `dvc repro`, which calls these commands with the paths in dvc.yaml.
    """
    ctx.obj = {"debug": debug}


@cli.group()
def instruments() -> None:
    """The instrument library (one YAML file per questionnaire)."""


@instruments.command("check")
@click.argument("directory", type=PathArg, default=Path("instruments"))
def instruments_check(directory: Path) -> None:
    """Check every instrument file in DIRECTORY (and its hand-worked examples); list every problem as file:line."""
    from pipeline.instrument_examples import check_library

    if not directory.is_dir():
        raise PipelineError(f"{directory} is not a directory of instrument files")
    results = check_library(directory)
    problems = [p for found in results.values() for p in found]
    for problem in problems:
        click.echo(str(problem))
    n_bad = sum(1 for found in results.values() if found)
    if problems:
        raise PipelineError(f"{len(problems)} problem(s) in {n_bad} of {len(results)} instrument file(s).")
    click.echo(f"{len(results)} instrument file(s) checked: no problems.")


@cli.command()
@click.option(
    "--config",
    type=PathArg,
    default=Path("data_raw/demo/simulation.yaml"),
    show_default=True,
    help="Simulation configuration (design, seed, true effects, defects).",
)
@click.option("--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True)
@click.option(
    "--out", type=PathArg, default=Path("data_raw/demo"), show_default=True, help="Directory to write the raw files to."
)
@click.option("--participants", type=int, default=None, help="Scale the design to this many participants.")
@click.option(
    "--formats",
    type=click.Choice(["demo", "csv"]),
    default="demo",
    show_default=True,
    help="demo: Qualtrics CSV, SPSS, Excel and Dutch CSV as a real study; csv: CSV only (benchmarks).",
)
@click.option(
    "--design",
    "design_name",
    default=None,
    help="Instead of --config: write a small study of a named design (pipeline/simulate/variants.py), "
    "with its own study.yaml and simulation.yaml.",
)
@click.option("--seed", type=int, default=None, help="With --design: the seed (default: the design's).")
def simulate(
    config: Path,
    instruments_dir: Path,
    out: Path,
    participants: int | None,
    formats: str,
    design_name: str | None,
    seed: int | None,
) -> None:
    """Write a synthetic study in the raw formats a real one arrives in (seeded, reproducible)."""
    from pipeline.simulate import run

    if design_name is not None:
        from pipeline.simulate.variants import write_design

        if out == Path("data_raw/demo"):
            raise click.UsageError("--design writes a new study: give --out a folder other than the demo's")
        spec = write_design(design_name, out, seed, instruments_dir=instruments_dir, progress=_progress)
        click.echo(f"Study of design '{spec.name}' ({spec.size} participants) written to {out}.")
        return
    run(config, instruments_dir, out, n_participants=participants, formats=formats, progress=_progress)  # type: ignore[arg-type]
    click.echo(f"Synthetic study written to {out}.")


@cli.command("design")
@click.option("--study", "study_path", type=PathArg, required=True, help="The study description (study.yaml).")
@click.option("--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True)
@click.option("--params", "params_path", type=PathArg, default=Path("params.yaml"), show_default=True)
@click.option("--out", "out_path", type=PathArg, default=Path("data_clean/design.json"), show_default=True)
def design_command(study_path: Path, instruments_dir: Path, params_path: Path, out_path: Path) -> None:
    """Check the study's design (study.yaml) with the instruments and params.yaml; write design.json."""
    from intervisie.stages.design import run_design

    design = run_design(study_path, instruments_dir, params_path, out_path)
    arms = "intervisie vs comparison" if design.has_comparison else "intervisie only (no comparison cohort)"
    click.echo(
        f"Design of {design.study_id}: {len(design.waves)} waves ({', '.join(design.wave_ids)}), "
        f"{len(design.programmes)} programme(s), {arms}, {len(design.outcomes())} outcome(s); written to {out_path}."
    )


@cli.group()
def study() -> None:
    """Start a study: a draft study.yaml from the export files, and a check of it against them."""


@study.command("init")
@click.argument("folder", type=PathArg)
@click.option("--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing study.yaml with a new draft.")
def study_init_command(folder: Path, instruments_dir: Path, force: bool) -> None:
    """Write FOLDER/study.yaml, a draft from the headers of the exports in FOLDER (no cell value is copied)."""
    from intervisie.study_init import write_draft
    from pipeline.instruments import load_library

    target, summary = write_draft(folder, load_library(instruments_dir), force=force)
    for line in summary:
        click.echo(f"  {line}")
    click.echo(f"Draft written to {target}: decide every TODO, then run `intervisie study check {folder}`.")


@study.command("check")
@click.argument("folder", type=PathArg)
@click.option("--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True)
@click.option("--params", "params_path", type=PathArg, default=Path("params.yaml"), show_default=True)
def study_check_command(folder: Path, instruments_dir: Path, params_path: Path) -> None:
    """Check FOLDER/study.yaml and params.yaml against the export files; write nothing."""
    from intervisie.study_check import check_study

    report, problems = check_study(folder, instruments_dir, params_path)
    click.echo(report)
    if problems:
        raise PipelineError(f"{len(problems)} problem(s) in {folder}:\n" + "\n".join(f"  {p}" for p in problems))
    click.echo("No problems found.")


@cli.command()
@click.option("--study", "study_path", type=PathArg, required=True, help="The study description (study.yaml).")
@click.option("--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True)
@click.option("--params", "params_path", type=PathArg, default=Path("params.yaml"), show_default=True)
@click.option("--out", "out_dir", type=PathArg, default=Path("data_clean"), show_default=True)
def ingest(study_path: Path, instruments_dir: Path, params_path: Path, out_dir: Path) -> None:
    """Read, validate and pseudonymise every raw file; write clean and quality tables."""
    from intervisie.stages.ingest import run_ingest

    click.echo(f"Ingesting {study_path} ...", err=True)
    records = run_ingest(study_path, instruments_dir, params_path, out_dir, _progress)
    total = {k: sum(r[k] for r in records) for k in ("rows_read", "rows_clean", "rows_quarantined", "rows_excluded")}
    click.echo(
        f"{total['rows_read']} raw rows: {total['rows_clean']} clean, {total['rows_quarantined']} quarantined, "
        f"{total['rows_excluded']} excluded (see {out_dir / 'quality' / 'row_accounting.csv'})."
    )


@cli.command("score")
@click.option("--clean", "clean_dir", type=PathArg, default=Path("data_clean"), show_default=True)
@click.option("--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True)
@click.option("--out", "scores_path", type=PathArg, default=Path("data_clean/scale_scores.parquet"), show_default=True)
@click.option(
    "--dictionary", "dictionary_path", type=PathArg, default=Path("data_clean/data_dictionary.csv"), show_default=True
)
def score_command(clean_dir: Path, instruments_dir: Path, scores_path: Path, dictionary_path: Path) -> None:
    """Score every instrument of the clean item responses; write scale scores and the data dictionary."""
    from intervisie.stages.score import run_score

    n = run_score(clean_dir, instruments_dir, scores_path, dictionary_path, _progress)
    click.echo(f"{n} scale scores written to {scores_path}.")


@cli.command("careless")
@click.option("--clean", "clean_dir", type=PathArg, default=Path("data_clean"), show_default=True)
@click.option("--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True)
@click.option("--params", "params_path", type=PathArg, default=Path("params.yaml"), show_default=True)
@click.option("--out", "out_path", type=PathArg, default=Path("data_clean/careless.parquet"), show_default=True)
def careless_command(clean_dir: Path, instruments_dir: Path, params_path: Path, out_path: Path) -> None:
    """Screen every response for careless responding (longstring, IRV, Mahalanobis, even-odd, speed)."""
    from intervisie.stages.careless import run_careless

    n = run_careless(clean_dir, instruments_dir, params_path, out_path, _progress)
    click.echo(f"{n} responses screened; indices and flags written to {out_path}.")


@cli.group()
def expectations() -> None:
    """Great Expectations: suites generated from the schemas and instruments; Data Docs of the clean tables."""


@expectations.command("generate")
@click.option("--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True)
@click.option("--context", "context_dir", type=PathArg, default=Path("gx"), show_default=True)
def expectations_generate(instruments_dir: Path, context_dir: Path) -> None:
    """Write the GE file context (suites, validation definitions, checkpoints) from pipeline/schemas.py and instruments/."""
    from pipeline.expectations_context import generate_context

    n = generate_context(instruments_dir, context_dir, _progress)
    click.echo(f"{n} expectations written to {context_dir}.")


@expectations.command("validate")
@click.option("--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True)
@click.option("--clean", "clean_dir", type=PathArg, default=Path("data_clean"), show_default=True)
@click.option("--docs", "docs_dir", type=PathArg, default=Path("reports/_site/data-docs"), show_default=True)
@click.option("--out", "out_dir", type=PathArg, default=Path("results/expectations"), show_default=True)
@click.option(
    "--context", "context_dir", type=PathArg, default=None, help="A generated context that must still match (optional)."
)
def expectations_validate(
    instruments_dir: Path, clean_dir: Path, docs_dir: Path, out_dir: Path, context_dir: Path | None
) -> None:
    """Generate the suites from the schemas and instruments, run them on the clean tables; write Data Docs."""
    from pipeline.expectations_run import validate_clean_tables

    summary = validate_clean_tables(instruments_dir, clean_dir, docs_dir, out_dir, _progress, context_dir)
    failed = int((~summary["success"]).sum())
    click.echo(f"{len(summary) - failed} of {len(summary)} expectations met; Data Docs: {docs_dir / 'index.html'}.")


@cli.group()
def analyze() -> None:
    """Clean data -> results: data quality, reliability, short- and long-term effects.

    Each step reads tables in the canonical form (data_clean/ or your own scored data, see
    docs/canonical-form.md) and writes tidy tables under --out.
    """


def _analysis_options(default_out: str, *, instruments: bool = True) -> Callable:
    """The options every analysis step shares: --clean, --params, --out (and --instruments)."""

    def decorate(func: Callable) -> Callable:
        if instruments:
            func = click.option(
                "--instruments", "instruments_dir", type=PathArg, default=Path("instruments"), show_default=True
            )(func)
        func = click.option("--out", "out_dir", type=PathArg, default=Path(default_out), show_default=True)(func)
        func = click.option("--params", "params_path", type=PathArg, default=Path("params.yaml"), show_default=True)(
            func
        )
        return click.option("--clean", "clean_dir", type=PathArg, default=Path("data_clean"), show_default=True)(func)

    return decorate


@analyze.command("quality")
@_analysis_options("results/quality", instruments=False)
def analyze_quality(clean_dir: Path, params_path: Path, out_dir: Path) -> None:
    """Response flow per wave, missing-data patterns, completers vs dropouts at baseline."""
    from intervisie.stages.common import run_quality

    run_quality(clean_dir, params_path, out_dir, _progress)
    click.echo(f"Data quality and attrition tables written to {out_dir}.")


@analyze.command("reliability")
@_analysis_options("results/reliability")
def analyze_reliability(clean_dir: Path, params_path: Path, out_dir: Path, instruments_dir: Path) -> None:
    """Cronbach's alpha (CI), McDonald's omega and item-rest correlations per scale, wave and programme."""
    from intervisie.stages.short_term import run_reliability

    run_reliability(clean_dir, instruments_dir, params_path, out_dir, _progress)
    click.echo(f"Reliability table written to {out_dir}.")


@analyze.command("invariance")
@_analysis_options("results/invariance")
def analyze_invariance(clean_dir: Path, params_path: Path, out_dir: Path, instruments_dir: Path) -> None:
    """Measurement invariance (configural, metric, scalar CFA) of each outcome scale across programmes and waves."""
    from intervisie.stages.invariance import run_invariance

    run_invariance(clean_dir, instruments_dir, params_path, out_dir, _progress)
    click.echo(f"Measurement invariance tables written to {out_dir}.")


@analyze.command("change")
@_analysis_options("results/change")
@click.option(
    "--reliability",
    "reliability_path",
    type=PathArg,
    default=Path("results/reliability/reliability.csv"),
    show_default=True,
)
def analyze_change(
    clean_dir: Path, params_path: Path, out_dir: Path, instruments_dir: Path, reliability_path: Path
) -> None:
    """Short-term effects: change with Hedges' g, between-arm g, reliable change shares, responsiveness (SRM)."""
    from intervisie.stages.short_term import run_change

    run_change(clean_dir, instruments_dir, reliability_path, params_path, out_dir, _progress)
    click.echo(f"Short-term effects written to {out_dir}.")


@analyze.command("growth")
@_analysis_options("results/growth")
@click.option(
    "--exclude-flagged",
    "exclude_flagged",
    type=PathArg,
    default=None,
    help="Leave out the responses this careless-screen table flags (data_clean/careless.parquet).",
)
@click.option(
    "--compare",
    "compare_with",
    type=PathArg,
    default=None,
    help="Effects of the run on all responses (results/growth/effects.csv): writes comparison.csv.",
)
def analyze_growth(
    clean_dir: Path,
    params_path: Path,
    out_dir: Path,
    instruments_dir: Path,
    exclude_flagged: Path | None,
    compare_with: Path | None,
) -> None:
    """Long-term effects: piecewise growth models (lme4-grade mixed models), wave means, figures."""
    from intervisie.stages.growth import run_growth

    run_growth(
        clean_dir,
        instruments_dir,
        params_path,
        out_dir,
        _progress,
        exclude_flagged=exclude_flagged,
        compare_with=compare_with,
    )
    click.echo(f"Growth models written to {out_dir}.")


@analyze.command("sensitivity")
@_analysis_options("results/sensitivity")
@click.option(
    "--effects",
    "effects_path",
    type=PathArg,
    default=Path("results/growth/effects.csv"),
    show_default=True,
    help="The growth models' effects (written by `intervisie analyze growth`).",
)
def analyze_sensitivity(
    clean_dir: Path, params_path: Path, out_dir: Path, instruments_dir: Path, effects_path: Path
) -> None:
    """Multiplicity (Holm/BH), complete vs available case, and a tipping point for dropout not at random."""
    from intervisie.stages.sensitivity import run_sensitivity

    run_sensitivity(clean_dir, instruments_dir, effects_path, params_path, out_dir, _progress)
    click.echo(f"Multiplicity and sensitivity analyses written to {out_dir}.")


@analyze.command("power")
@_analysis_options("results/power", instruments=False)
def analyze_power(clean_dir: Path, params_path: Path, out_dir: Path) -> None:
    """What a programme needs: participants and groups per arm, from the study's own variance estimates."""
    from intervisie.stages.power import run_power

    run_power(clean_dir, params_path, out_dir, _progress)
    click.echo(f"Sample sizes written to {out_dir}.")


@analyze.command("implementation")
@_analysis_options("results/implementation")
def analyze_implementation(clean_dir: Path, params_path: Path, out_dir: Path, instruments_dir: Path) -> None:
    """Implementation factors: aggregation checks, moderators of change, ranked promoting/hindering factors."""
    from intervisie.stages.implementation import run_implementation

    run_implementation(clean_dir, instruments_dir, params_path, out_dir, _progress)
    click.echo(f"Implementation factors written to {out_dir}.")


@analyze.command("survival")
@_analysis_options("results/survival", instruments=False)
def analyze_survival(clean_dir: Path, params_path: Path, out_dir: Path) -> None:
    """Leaving intervisie (Kaplan-Meier, Cox with group-clustered SEs, PH check) and time to burnout caseness."""
    from intervisie.stages.survival import run_survival

    run_survival(clean_dir, params_path, out_dir, _progress)
    click.echo(f"Dropout and caseness analyses written to {out_dir}.")


@analyze.command("mediation")
@_analysis_options("results/mediation", instruments=False)
def analyze_mediation(clean_dir: Path, params_path: Path, out_dir: Path) -> None:
    """Mechanisms: does the effect on a later outcome run through the mediator's short-term change?"""
    from intervisie.stages.mediation import run_mediation

    run_mediation(clean_dir, params_path, out_dir, _progress)
    click.echo(f"Mediation estimates written to {out_dir}.")


@analyze.command("all")
@_analysis_options("results")
def analyze_all(clean_dir: Path, params_path: Path, out_dir: Path, instruments_dir: Path) -> None:
    """Every analysis in order, into OUT/quality, OUT/reliability, OUT/change, OUT/growth, OUT/mediation (no DVC needed)."""
    from intervisie.stages.common import run_quality
    from intervisie.stages.growth import run_growth
    from intervisie.stages.short_term import run_change, run_reliability

    run_quality(clean_dir, params_path, out_dir / "quality", _progress)
    if (clean_dir / "item_responses.parquet").exists():
        run_reliability(clean_dir, instruments_dir, params_path, out_dir / "reliability", _progress)
    else:
        click.echo(
            f"No item_responses.parquet under {clean_dir}: reliability (and reliable change) left out.", err=True
        )
    run_change(
        clean_dir,
        instruments_dir,
        out_dir / "reliability" / "reliability.csv",
        params_path,
        out_dir / "change",
        _progress,
    )
    run_growth(clean_dir, instruments_dir, params_path, out_dir / "growth", _progress)
    from intervisie.stages.mediation import run_mediation

    run_mediation(clean_dir, params_path, out_dir / "mediation", _progress)
    if (clean_dir / "sessions.parquet").exists():
        from intervisie.stages.survival import run_survival

        run_survival(clean_dir, params_path, out_dir / "survival", _progress)
    else:
        click.echo(f"No sessions.parquet under {clean_dir}: dropout and caseness analyses left out.", err=True)
    click.echo(f"All analyses written to {out_dir}.")


@cli.command("check-clean")
@click.option("--clean", "clean_dir", type=PathArg, default=Path("data_clean"), show_default=True)
def check_clean_command(clean_dir: Path) -> None:
    """Check tables in the canonical form (e.g. scored data you supply yourself) against their schemas."""
    from intervisie.stages.score import check_clean

    checked, problems = check_clean(clean_dir)
    if not checked:
        raise PipelineError(f"{clean_dir} holds none of the canonical tables (see docs/canonical-form.md)")
    for line in problems:
        click.echo(line)
    if problems:
        raise PipelineError(f"{len(problems)} violation(s) in the canonical tables under {clean_dir}.")
    click.echo(f"{', '.join(checked)}: in the canonical form.")


@cli.command("plan")
@click.option("--plan", "plan_path", type=PathArg, default=None,
              help="A plan file: the design and the grid to simulate (plans/example.yaml shows every key).")  # fmt: skip
@click.option("--from-results", "results_dir", type=PathArg, default=None,
              help="Plan from a finished study's own estimates (its results folder); grid and seed from `plan` in --params.")  # fmt: skip
@click.option("--params", "params_path", type=PathArg, default=Path("params.yaml"), show_default=True)
@click.option("--out", "out_dir", type=PathArg, default=Path("results/plan"), show_default=True)
@click.option("--scheduler", default=None,
              help="Address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786); default: a cluster on this machine.")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Worker processes of the local cluster (default: one per core; 0: no Dask, one study at a time).")  # fmt: skip
def plan_command(
    plan_path: Path | None,
    results_dir: Path | None,
    params_path: Path,
    out_dir: Path,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Plan the next study by simulation: power, bias and CI coverage of the growth model over a grid of designs.

    Every simulated study is fitted with the growth stage's own model; finished grid cells are kept
    in OUT/cells, so an interrupted plan resumes where it stopped (README, 'Planning a study').
    """
    from intervisie.stages.plan import run_plan
    from intervisie.stages.plan_inputs import load_choices, plan_from_results
    from pipeline.plan_file import load_plan

    if (plan_path is None) == (results_dir is None):
        raise click.UsageError("give either --plan FILE or --from-results DIR")
    if plan_path is not None:
        plan, source = load_plan(plan_path), str(plan_path)
    else:
        plan = plan_from_results(results_dir, load_choices(params_path))
        source = f"estimates in {results_dir}, grid in {params_path}"
    run = run_plan(plan, out_dir, _progress, scheduler=scheduler, workers=workers, source=source)
    cells = len(run.computed) + len(run.reused)
    click.echo(f"Power of {cells} designs written to {out_dir / 'power.csv'} (figure: power_curve.png; handout.csv).")


@cli.group("report", invoke_without_command=True)
@click.option("--results", "results_dir", type=PathArg, default=Path("results"), show_default=True)
@click.option("--design", "design_path", type=PathArg, default=Path("data_clean/design.json"), show_default=True,
              help="The study's design (written by `intervisie design`): names of waves, programmes, outcomes.")  # fmt: skip
@click.option("--reports", "reports_dir", type=PathArg, default=Path("reports"), show_default=True,
              help="The Quarto sources (*.qmd, _quarto.yml).")  # fmt: skip
@click.option("--params", "params_path", type=PathArg, default=Path("params.yaml"), show_default=True)
@click.option("--lock", "lock_path", type=PathArg, default=Path("dvc.lock"), show_default=True,
              help="Where the data hashes of the provenance block come from.")  # fmt: skip
@click.option("--out", "out_dir", type=PathArg, default=Path("reports/_site"), show_default=True)
@click.pass_context
def report(
    ctx: click.Context,
    results_dir: Path,
    design_path: Path,
    reports_dir: Path,
    params_path: Path,
    lock_path: Path,
    out_dir: Path,
) -> None:
    """Render the board report, methods appendix and round-table handout from finished results (no Quarto needed).

    `intervisie report audit SITE` checks a rendered site for disclosure instead (see `intervisie report audit -h`).
    """
    if ctx.invoked_subcommand is not None:
        return
    from reporting.render import run_report

    for path in run_report(results_dir, reports_dir, out_dir, params_path, lock_path, _progress, design_path=design_path):
        click.echo(str(path))


@report.command("audit")
@click.argument("site_dir", type=PathArg, default=Path("reports/_site"))
@click.option("--protection", type=click.IntRange(min=0), default=None,
              help="Narrowest feasible interval (people) a hidden small cell may have; default min_cell - 1.")  # fmt: skip
@click.option("--min-cell", type=click.IntRange(min=1), default=None,
              help="Override the documents' own min_cell (default: the largest they state).")  # fmt: skip
@click.option("--time-limit", type=click.FloatRange(min=0.1), default=20.0, show_default=True,
              help="Seconds per integer program; a cell not settled in time fails as 'undecided'.")  # fmt: skip
def report_audit(site_dir: Path, protection: int | None, min_cell: int | None, time_limit: float) -> None:
    """Act as an attacker on every *.html document in SITE_DIR together: can a hidden number be recovered?

    Exit 0 when nothing is disclosed, 1 when anything fails (each finding is printed with its document,
    cell id, rule and feasible interval), 2 when the site cannot be read.
    """
    from reporting.audit import audit_site

    result = audit_site(site_dir, protection=protection, min_cell=min_cell, time_limit=time_limit)
    for finding in result.findings:
        click.echo(finding.line())
    click.echo(result.summary(), err=not result.ok)
    if not result.ok:
        raise SystemExit(1)


@cli.command()
@click.option("--clean", "clean_dir", type=PathArg, default=Path("data_clean"), show_default=True)
@click.option("--results", "results_dir", type=PathArg, default=Path("results"), show_default=True)
@click.option("--site", "site_dir", type=PathArg, default=Path("reports/_site"), show_default=True)
def where(clean_dir: Path, results_dir: Path, site_dir: Path) -> None:
    """Say where the results of the last run are, with the row accounting."""
    import pandas as pd

    accounting = clean_dir / "quality" / "row_accounting.csv"
    if not accounting.exists():
        raise PipelineError(f"No results under {clean_dir} yet: run `dvc repro` first.")
    table = pd.read_csv(accounting)
    click.echo("Row accounting per raw file (every row is clean, quarantined or excluded):")
    for row in table.itertuples():
        click.echo(
            f"  {row.source_file:<28} {row.rows_read:>6} read  {row.rows_clean:>6} clean  "
            f"{row.rows_quarantined:>4} quarantined  {row.rows_excluded:>4} excluded"
        )
    click.echo(
        f"Clean, pseudonymised, scored data: {clean_dir}/ (data dictionary: {clean_dir / 'data_dictionary.csv'})"
    )
    click.echo(f"What was quarantined or excluded, and why: {clean_dir / 'quality' / 'issues.parquet'}")
    if results_dir.is_dir():
        for part in sorted(p for p in results_dir.iterdir() if p.is_dir()):
            tables = sorted(f.name for f in part.iterdir() if f.suffix in (".csv", ".json", ".png"))
            click.echo(f"Results, {part.name}: {part}/ ({', '.join(tables)})")
    documents = {"board.html": "Board report", "methods.html": "Methods appendix", "handout.html": "Round-table handout"}
    rendered = [site_dir / name for name in documents if (site_dir / name).is_file()]
    for name, what in documents.items():
        if (site_dir / name).is_file():
            click.echo(f"{what}: {site_dir / name}")
    inputs = [p for p in [*clean_dir.rglob("*"), *results_dir.rglob("*")] if p.is_file()]
    if rendered and inputs and max(p.stat().st_mtime for p in inputs) > min(p.stat().st_mtime for p in rendered):
        click.echo(
            "Note: these documents are older than the data or results they describe: the last run did not "
            "reach the report stage. Fix what stopped it and run `make repro` (or `dvc repro`) again.",
            err=True,
        )
    elif not rendered:
        click.echo(f"No rendered documents under {site_dir} yet: the report stage has not run.", err=True)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; turn known errors into one clear paragraph and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    stop_with_dvc()  # SIGTERM/SIGHUP clean up; under `dvc repro`, end when DVC ends (pipeline/atomic.py)
    try:
        cli.main(args=argv, prog_name="intervisie", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except InstrumentError as exc:
        if debug:
            raise
        click.echo("error: the instrument library has problems:\n" + str(exc), err=True)
        sys.exit(2)
    except PipelineError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"internal error: {type(exc).__name__}: {exc}\nThis is a bug in the pipeline, not in your data. "
            "Run the same command with --debug (intervisie --debug ...) for the traceback and report it.",
            err=True,
        )
        sys.exit(1)
