"""``intervisie study check DIR``: study.yaml and params.yaml against the export files, writing nothing.

Reports the design found (:func:`pipeline.design.build_design`, params checked by
:func:`intervisie.choices.check_all_params`), the columns mapped and left out per source, what
each analysis will do with this design, and the fate of the rows in an in-memory ingest (counts
and rules only: no value, no pseudonym). Every problem found is listed; any problem raises
:class:`~pipeline.errors.InputError` (exit code 2) after the report.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from intervisie.choices import check_all_params, read_params
from pipeline.design import Design, build_design
from pipeline.errors import InputError
from pipeline.ingest import IngestParams, build_clean
from pipeline.instruments import Instrument, load_library
from pipeline.items import data_columns, item_columns
from pipeline.readers import RawTable, read_source
from pipeline.study import Study, load_study

TODO = re.compile(r"\bTODO")


def _todos(path: Path) -> list[str]:
    """Lines of study.yaml that still hold a TODO outside a comment."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        code = re.split(r"(?:^|\s)#", line, maxsplit=1)[0]
        if TODO.search(code):
            found.append(f"{path.name}:{number}: still a TODO: {code.strip()}")
    return found


def consequences(design: Design, analyses: dict[str, Any]) -> list[str]:
    """What each analysis will do with this design, in plain words."""
    out = [
        f"growth model: {analyses['growth']['fixed']}; effects reported: {', '.join(analyses['growth']['effect_terms'])}"
    ]
    if not design.has_comparison:
        out.append("no comparison cohort: between-arm effects skipped (change is estimated within intervisie only)")
    if design.has_comparison and not design.randomised:
        adjusted = ", ".join(["baseline score", *(["programme"] if design.several_programmes else []),
                              *(c.id for c in design.covariates)])  # fmt: skip
        out.append(f"not randomised ({design.assignment}): the short-term effect is adjusted (propensity weights + "
                   f"weighted ANCOVA) for {adjusted}; the reports speak of association, not of an effect")  # fmt: skip
        if not design.covariates:
            out.append("no baseline covariates declared (study.yaml `covariates:`): only the baseline score and the "
                       "programme are adjusted for")  # fmt: skip
    if not design.long_term:
        out.append(
            f"{len(design.waves)} waves: no long-term slope (nothing follows the short-term wave {design.short_term})"
        )
    if not design.several_programmes:
        out.append("one programme: no moderation by programme")
    if not design.data.sessions:
        out.append("no sessions: dose and method factors skipped")
    elif not design.data.attendance:
        out.append("no attendance list: dose (sessions attended) skipped")
    if not design.ratings:
        out.append("no rating scales (design.ratings): coach quality, structure and safety factors skipped")
    if not design.data.groups:
        out.append("no groups in the roster: no group random effect, no group-level factors")
    if not design.data.leaving_dates:
        out.append("no leaving dates (roster end_date): time to leaving intervisie skipped")
    if (analyses.get("survival") or {}).get("caseness", {}).get("scale") is None:
        out.append("no outcome with a published cutoff: time to caseness skipped")
    if not design.data.format:
        out.append("no format column: in person vs online not compared")
    return out


def _read_all(study: Study, folder: Path, library: dict[str, Instrument], problems: list[str]) -> dict[str, RawTable]:
    raw: dict[str, RawTable] = {}
    for role, source in study.sources():
        name = study.source_name(source)
        try:
            items = data_columns(study, role, source, library)
            raw[name] = read_source(folder / source.file, source, items)
        except InputError as exc:
            problems.append(f"{name} ({role}): {exc}")
    return raw


def _columns_report(study: Study, library: dict[str, Instrument]) -> list[str]:
    lines = []
    for role, source in study.sources():
        lines.append(f"  {study.source_name(source)} ({role}, {source.format})")
        lines.append("    mapped: " + ", ".join(f"{f} <- {c}" for f, c in source.columns.items()))
        if role == "survey":
            try:
                for inst, mapping in item_columns(source, library).items():  # type: ignore[arg-type]
                    cols = list(mapping.values())
                    lines.append(f"    items:  {inst} <- {cols[0]} .. {cols[-1]} ({len(cols)} columns)")
            except InputError:
                pass  # reported with the problems
        left = [
            (what, cols)
            for what, cols in (
                ("identifiers", source.identifier_columns),
                ("free text", source.free_text_columns),
                ("ignored", source.ignore_columns),
            )
            if cols
        ]
        for what, cols in left:
            lines.append(f"    left out ({what}, never kept): {', '.join(cols)}")
    return lines


def _ingest_report(
    study: Study, raw: dict[str, RawTable], library: dict[str, Instrument], problems: list[str]
) -> list[str]:
    """Run the ingest in memory with a throwaway key; return row counts and rules per source."""
    try:
        clean = build_clean(study, raw, library, secrets.token_bytes(32), IngestParams())
    except InputError as exc:
        problems.append(str(exc))
        return []
    lines = []
    accounting = clean.ledger.accounting()
    for row in accounting.itertuples(index=False):
        rules = {
            c.removeprefix("n_"): getattr(row, c) for c in accounting.columns if c.startswith("n_") and getattr(row, c)
        }
        why = f" ({', '.join(f'{r}: {n}' for r, n in sorted(rules.items()))})" if rules else ""
        lines.append(
            f"  {row.source_file}: {row.rows_read} read, {row.rows_clean} clean, {row.rows_quarantined} quarantined, "
            f"{row.rows_excluded} excluded{why}"
        )
        if row.rows_read and not row.rows_clean:
            hint = ""
            if row.role == "sessions" and rules.get("duplicate_value") and study.session_scope == "study":
                hint = "; are the sessions numbered per group? then say `session_id_scope: group` under sessions:"
            problems.append(f"{row.source_file}: none of its {row.rows_read} rows is clean{hint}")
    return lines


def check_study(folder: Path, instruments_dir: Path, params_path: Path) -> tuple[str, list[str]]:
    """Return the report on a study folder and every problem found (nothing is written).

    A study.yaml that cannot be read at all raises :class:`InputError` at once.
    """
    path = folder / "study.yaml"
    if not path.is_file():
        raise InputError(f"{path} does not exist: write a draft with `intervisie study init {folder}`")
    problems = _todos(path)
    study = load_study(path)
    library = load_library(instruments_dir)
    report = [f"Study {study.study.id} ({path})"]
    design = None
    try:
        design = build_design(study, library)
    except InputError as exc:
        problems.append(str(exc))
    analyses: dict[str, Any] | None = None
    if design is not None:
        try:
            analyses = check_all_params(read_params(params_path), design, params_path)
        except InputError as exc:
            problems.append(str(exc))
        arms = " vs ".join(a.id for a in design.arms)
        report += [
            "Design:",
            f"  waves: {', '.join(f'{w.id} ({w.months:g} months)' for w in design.waves)}; baseline {design.baseline}, "
            f"short term {design.short_term}",
            f"  programmes: {', '.join(design.programme_ids)} (reference: {design.programme_ids[0]})",
            f"  arms: {arms}; assignment: {design.assignment}",
            f"  covariates: {', '.join(f'{c.id} ({c.kind})' for c in design.covariates) or 'none'}",
            f"  outcomes: primary {design.primary}, secondary {design.secondary}",
            f"  ratings: {design.ratings or 'none'}",
        ]
    report += ["Columns:", *_columns_report(study, library)]
    if design is not None and analyses is not None:
        report += ["Analyses with this design:", *(f"  {line}" for line in consequences(design, analyses))]
    raw = _read_all(study, folder, library, problems)
    if len(raw) == len(study.sources()):
        report += ["Rows (an ingest in memory; nothing written):", *_ingest_report(study, raw, library, problems)]
    return "\n".join(report), problems
