"""The text of a draft ``study.yaml`` (``intervisie study init``): every guess commented, every doubt a TODO."""

from __future__ import annotations

import re
from pathlib import Path

from intervisie.study_init import Placed, q
from intervisie.study_scan import Table, wave_of
from pipeline.instruments import Instrument

HEADER = """# Draft written by `intervisie study init` from the export files in this folder: their names,
# sheets and column headers (no cell value is copied here). Every guess has a comment; decide
# every TODO, then run `intervisie study check {folder}`. The keys are described in data_raw/README.md.
"""


def _source_lines(table: Table, placed: Placed, indent: str, first: str) -> list[str]:
    """The keys every source has: file, format, csv, sheet, date_format, columns, the left-out columns."""
    lines = [f"{first}file: {q(table.file)}", f"{indent}format: {table.format}"]
    if table.format in ("csv", "qualtrics_csv") and (table.sep != "," or table.encoding != "utf-8"):
        decimal = "," if table.sep == ";" else "."
        lines.append(
            f"{indent}csv: {{sep: {q(table.sep)}, decimal: {q(decimal)}, encoding: {table.encoding}}}"
            + ("  # ';' between fields: a Dutch Excel CSV, so decimal commas (check)" if table.sep == ";" else "")
        )
    if table.sheet is not None:
        lines.append(f"{indent}sheet: {q(table.sheet)}")
    dated = [c for f, c in placed.fields.items() if f in ("date", "start_date", "end_date", "submitted_at")]
    formats = {table.date_format(c) for c in dated if c in table.frame} - {None}
    fmt = formats.pop() if len(formats) == 1 else None
    if fmt and not fmt.startswith("%Y-%m-%d"):
        lines.append(f"{indent}date_format: {q(fmt)}  # every date in {dated} reads in this format")
    lines.append(f"{indent}columns:")
    for fld, column in placed.fields.items():
        lines.append(f"{indent}  {fld}: {q(column)}")
    for key, columns in (("identifier_columns", placed.identifiers), ("free_text_columns", placed.free_text)):
        if columns:
            what = (
                "names, e-mail or IP addresses: read, never kept"
                if key == "identifier_columns"
                else "typed text: read, never kept"
            )
            lines.append(f"{indent}{key}: [{', '.join(q(c) for c in columns)}]  # {what}")
    if placed.ignored:
        lines.append(f"{indent}ignore_columns:")
        lines += [f"{indent}  - {q(c)}  # {why}" for c, why in placed.ignored]
    return lines


def _roster_lines(table: Table, placed: Placed) -> list[str]:
    lines = [f"roster:  # {table.label}: recognised by {placed.why}"]
    lines += _source_lines(table, placed, "  ", "  ")
    missing = [f for f in ("participant_id", "programme", "start_date", "consent") if f not in placed.fields]
    if missing:
        lines.append(f"  # TODO: no column found for required field(s) {missing}: add them under columns:")
    values = []
    if "arm" in placed.fields:
        n = table.n_distinct(placed.fields["arm"])
        values.append(
            f"    arm: {{intervisie: [TODO], comparison: [TODO]}}  # TODO: {n} distinct value(s) in the column"
        )
    if "format" in placed.fields:
        n = table.n_distinct(placed.fields["format"])
        values.append(f"    format: {{in_person: [TODO], online: [TODO]}}  # TODO: {n} distinct value(s) in the column")
    if values:
        lines += ["  values:", *values]
    if "consent" in placed.fields:
        lines.append("  # consent: ja/nee, yes/no, true/false and 1/0 are read without `values:`")
    return lines


def _programmes(roster: tuple[Table, Placed] | None) -> list[str]:
    n = None
    if roster is not None and "programme" in roster[1].fields:
        n = roster[0].n_distinct(roster[1].fields["programme"])
    how = f"{n} distinct value(s) in the roster's programme column" if n is not None else "no programme column found"
    return [
        f"# TODO: the programmes, in order (the first is the reference level), and how the roster writes them ({how})",
        "programmes:",
        "  TODO_programme: {label_nl: TODO, label_en: TODO, values: [TODO]}",
    ]


def _wave_lines(surveys: list[tuple[Table, Placed]]) -> tuple[list[str], dict[str, str]]:
    """The ``waves:`` block and the wave of each survey table (by label)."""
    waves: dict[str, tuple[float | None, str]] = {}
    of: dict[str, str] = {}
    for table, _placed in surveys:
        wave_id, months, how = wave_of(table.file if table.sheet is None else f"{table.sheet} {table.file}")
        if wave_id is None:
            wave_id, how = f"TODO_wave_{len(waves) + 1}", "TODO: the file name names no wave"
        waves.setdefault(wave_id, (months, how))
        of[table.label] = wave_id
    lines = ["waves:  # from the survey file names"]
    for wave_id, (months, how) in sorted(waves.items(), key=lambda kv: (kv[1][0] is None, kv[1][0] or 0, kv[0])):
        if months is None:
            lines.append(
                f"  {wave_id}: {{label_nl: TODO, label_en: TODO, months: 0}}  # TODO: months after the start? ({how})"
            )
        elif months == 0:
            lines.append(f"  {wave_id}: {{label_nl: Start, label_en: Baseline, months: 0}}  # {how}")
        else:
            lines.append(
                f'  {wave_id}: {{label_nl: "{months:g} maanden", label_en: "{months:g} months", months: {months:g}}}  # {how}'
            )
    return lines, of


def draft_text(
    folder: Path, placed: list[tuple[Table, Placed]], library: dict[str, Instrument], unreadable: list[str]
) -> tuple[str, list[str]]:
    """Return the draft's text and a summary (one line per table) for the terminal."""
    by_role: dict[str, list[tuple[Table, Placed]]] = {}
    for table, p in placed:
        by_role.setdefault(p.role, []).append((table, p))
    roster = (by_role.get("roster") or [None])[0]
    surveys = by_role.get("survey", [])
    study_id = re.sub(r"[^a-z0-9_-]", "_", folder.resolve().name.casefold()).strip("_-") or "study"
    if not study_id[0].isalpha():
        study_id = f"s{study_id}"
    out = [
        HEADER.format(folder=folder).rstrip("\n"),
        f"study:\n  id: {study_id}  # from the folder name\n  title: TODO",
    ]
    wave_lines, wave_of_table = _wave_lines(surveys)
    out += ["", *wave_lines, "", *_programmes(roster)]
    out += [
        "",
        "# missing_codes: []  # answers that mean 'no answer' in these exports (LimeSurvey writes its no-answer text)",
    ]
    has_arm = roster is not None and "arm" in roster[1].fields
    out += [
        "",
        "design:",
        f"  comparison: {'true' if has_arm else 'false'}  # "
        + ("the roster has an arm column" if has_arm else "no arm column in the roster: everyone is in intervisie"),
        "  assignment: unknown  # TODO: randomised | cluster_randomised | self_selected | by_programme | unknown",
    ]
    scales = [s.id for t, p in surveys for inst in p.items for s in library[inst].scales]
    scales = list(dict.fromkeys(scales))
    out += [
        "",
        "outcomes:  # TODO: choose the primary outcome(s) (Holm); the others are secondary (BH)",
        f"  primary: [{scales[0] if scales else 'TODO'}]",
        f"  secondary: [{', '.join(scales[1:])}]",
        "",
        "# covariates:  # TODO if people were not randomised: roster columns known before the start, e.g.",
        "#   training_year: {column: <roster column>, kind: numeric, label_nl: opleidingsjaar, label_en: year of training}",
    ]
    summary = []
    if roster is None:
        out += [
            "",
            "# TODO: no roster found (a table with participant IDs, programme, start date and consent)",
            "roster: TODO",
        ]
    else:
        out += ["", *_roster_lines(*roster)]
    for role in ("sessions", "attendance"):
        for n, (table, p) in enumerate(by_role.get(role, [])):
            prefix = "" if n == 0 else "# TODO: a second table looks like this role too:\n# "
            out += ["", f"{prefix}{role}:  # {table.label}: recognised by {p.why}"]
            out += _source_lines(table, p, "  ", "  ")
            if role == "sessions" and {"session_id", "group_id"} <= set(p.fields):
                if table.repeats_across(p.fields["session_id"], p.fields["group_id"]):
                    out.append("  session_id_scope: group  # the same session numbers occur in several groups")
            if role == "sessions" and "method" in p.fields:
                n_methods = table.n_distinct(p.fields["method"])
                out.append(
                    f"  values: {{method: {{TODO: [TODO]}}}}  # TODO: list the methods ({n_methods} distinct value(s))"
                )
            if role == "attendance":
                out.append("  # attended: ja/nee, yes/no, true/false and 1/0 are read without `values:`")
    out += ["", "surveys:"]
    for table, p in surveys + by_role.get("session_survey", []):
        out.append(f"  # {table.label}: recognised by {p.why}")
        out += _source_lines(table, p, "    ", "  - ")
        if p.role == "session_survey":
            out.append("    occasion: session")
        else:
            out.append(f"    wave: {wave_of_table[table.label]}")
        out.append("    items:")
        out += [f"      {inst}: {q(pattern)}  # {comment}" for inst, (pattern, comment) in p.items.items()]
        out += [f"    # {note}" for note in p.todo]
        summary.append(f"{table.label}: {p.role}, {len(p.items)} instrument(s), {len(p.fields)} field(s)")
    for table, _p in by_role.get("unknown", []):
        out.append(
            f"# TODO: {table.label} ({len(table.columns)} columns) was not recognised: describe it or move it away"
        )
        summary.append(f"{table.label}: not recognised")
    for bad in unreadable:
        out.append(f"# TODO: could not be read: {bad}")
    for role in ("roster", "sessions", "attendance"):
        summary += [f"{t.label}: {role} ({len(p.fields)} field(s) mapped)" for t, p in by_role.get(role, [])]
    return "\n".join(out) + "\n", summary
