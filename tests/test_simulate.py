"""Tests of the demo-study simulator (pipeline.simulate): determinism, formats, defects, truth.

Most tests use a small study (60 participants); the committed demo is compared with a
fresh regeneration, and the diff-in-diff recovery uses 50,000 simulated participants in
memory (no files), where simulated truth is the known answer.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
import yaml

from pipeline.design import build_design
from pipeline.errors import InputError
from pipeline.instruments import load_library
from pipeline.items import data_columns, item_columns
from pipeline.readers import read_source
from pipeline.scoring import score
from pipeline.simulate import MANIFEST, load_config, run, simulate
from pipeline.simulate.variant_files import study_description
from pipeline.simulate.variants import DESIGNS, resolve_spec, write_design
from pipeline.study import Source, Study, load_study

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data_raw" / "demo"
INSTRUMENTS = ROOT / "instruments"
FIRST_ROW = {"csv": 2, "qualtrics_csv": 4, "spss": 1, "xlsx": 2}


def _run_small(root: Path, **kwargs: object) -> Path:
    """Copy the demo configuration and contract to ``root`` and simulate 60 participants there."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("simulation.yaml", "study.yaml"):
        shutil.copy(DEMO / name, root / name)
    out = root / "out"
    run(root / "simulation.yaml", INSTRUMENTS, out, n_participants=60, **kwargs)  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run_small(tmp_path_factory.mktemp("small"))


def _study_files(study_path: Path) -> list[str]:
    return [src.file for _, src in load_study(study_path).sources()]


def raw_rows(path: Path, source: Source) -> tuple[list[str], dict[int, list[object]]]:
    """Return the header and every data row keyed by the row number a person sees, cells untouched."""
    if source.format in ("csv", "qualtrics_csv"):
        text = path.read_bytes().decode(source.csv.encoding).removeprefix("\ufeff")
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=source.csv.sep))
        first = FIRST_ROW[source.format]
        return records[0], {n: r for n, r in enumerate(records[first - 1 :], start=first)}
    if source.format == "xlsx":
        sheet = openpyxl.load_workbook(path)[str(source.sheet)]
        rows = list(sheet.iter_rows(values_only=True))
        return [str(h) for h in rows[0]], {n: list(r) for n, r in enumerate(rows[1:], start=2)}
    frame, _ = pyreadstat.read_sav(str(path))
    return list(frame.columns), {n: list(r) for n, r in enumerate(frame.itertuples(index=False), start=1)}


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _number(value: object) -> float:
    return float(str(value).strip())


def _answer_steps(source: Source, library: dict, header: list[str], cells: list[object]) -> list[int]:
    """Each answered item of a raw row as its answer column (code minus the lowest code; labels decoded)."""
    from pipeline.simulate.defects import code_of

    steps = []
    for inst_id, mapping in item_columns(source, library).items():
        inst = library[inst_id]
        for item_id, column in mapping.items():
            cell = cells[header.index(column)]
            if _blank(cell):
                continue
            rs = inst.response_set_of(next(i for i in inst.items if i.id == item_id))
            steps.append(int(code_of(cell, rs, "labels")) - rs.min)
    return steps


def check_manifest(directory: Path, study_path: Path) -> dict[str, int]:
    """Check that every defect the manifest lists is present in the files; return counts per defect."""
    study = load_study(study_path)
    sources = {src.file: src for _, src in study.sources()}
    manifest = yaml.safe_load((directory / MANIFEST).read_text(encoding="utf-8"))
    files = {name: raw_rows(directory / name, src) for name, src in sources.items()}
    roster_header, roster = files[study.roster.file]
    rc = study.roster.columns
    pid_at = roster_header.index(rc["participant_id"])
    roster_ids = {str(r[pid_at]).strip().casefold() for r in roster.values() if not _blank(r[pid_at])}
    group_of = {str(r[pid_at]): r[roster_header.index(rc["group_id"])] for r in roster.values()}
    sessions = files[study.sessions.file][1] if study.sessions is not None else {}
    session_group = {r[0]: r[1] for r in sessions.values()}
    library = load_library(INSTRUMENTS)
    surveys = {s.file: s for s in study.surveys}
    seen: dict[str, int] = {}
    for rec in manifest["defects"]:
        kind, name, row = rec["defect"], rec["file"], rec["row"]
        header, rows = files[name]
        cells = rows[row]
        cell = cells[header.index(rec["column"])] if "column" in rec else None
        twin = rows[rec["duplicate_of_row"]] if "duplicate_of_row" in rec else None
        col = header.index(rec["column"]) if "column" in rec else None
        if kind == "item_nonresponse":
            assert _blank(cell), rec
        elif kind in ("out_of_range", "missing_codes", "codes_in_label_export"):
            if isinstance(rec["value"], str):
                assert str(cell).strip() == rec["value"], rec
            else:
                assert _number(cell) == rec["value"], rec
        elif kind in ("unknown_ids", "id_whitespace"):
            assert str(cell) == rec["value"], rec
            known = str(cell).strip().casefold() in roster_ids
            assert known == (kind == "id_whitespace"), rec
        elif kind in ("duplicate_submissions", "session_duplicate_id"):
            assert twin is not None and cell == twin[col] and row != rec["duplicate_of_row"], rec
        elif kind == "unfinished_responses":
            assert str(cell) in ("0", "False"), rec
        elif kind == "date_as_text":
            assert isinstance(cell, str), rec
        elif kind == "free_text_pii":
            assert rec["leaked"] in str(cell), rec
        elif kind == "trailing_empty_rows":
            assert all(_blank(c) for c in cells) and row > max(r for r in rows if not all(_blank(c) for c in rows[r])), rec
        elif kind == "no_consent":
            assert str(cell).casefold() in {"nee", "n", "false"}, rec
            for other, numbers in rec["survey_rows"].items():
                header_o, rows_o = files[other]
                at = header_o.index(sources[other].columns["participant_id"])
                assert all(str(rows_o[n][at]).strip() == rec["participant_id"] for n in numbers), rec
        elif kind == "session_dot_decimal":
            assert "." in str(cell), rec
        elif kind == "attendance_unknown_session":
            assert cell not in session_group, rec
        elif kind == "attendance_not_in_group":
            assert group_of[str(cell)] != session_group[cells[0]], rec
        elif kind == "attendance_conflicting_duplicate":
            assert twin is not None and twin[:2] == cells[:2] and twin[2] != cells[2], rec
        elif kind == "attendance_invalid_value":
            assert str(cell) == rec["value"] and rec["value"] not in ("ja", "nee", "Ja", "Nee", "0", "1"), rec
        elif kind in ("careless_straight_line", "careless_random"):
            steps = _answer_steps(surveys[name], library, header, cells)
            # the whole questionnaire (group ratings are empty for the comparison cohort)
            mapping = item_columns(surveys[name], library)
            n_items = sum(len(m) for i, m in mapping.items() if any(s.level != "group" for s in library[i].scales))
            assert len(steps) >= 0.9 * n_items, rec
            if kind == "careless_straight_line":  # the same answer column on every item answered
                assert set(steps) == {rec["value"]}, rec
            else:
                assert len(set(steps)) > 2, rec
        else:
            raise AssertionError(f"unknown defect {kind}")
        seen[kind] = seen.get(kind, 0) + 1
    return seen


def test_two_runs_are_byte_identical(small: Path, tmp_path: Path) -> None:
    again = _run_small(tmp_path)
    names = sorted(p.name for p in small.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (small / name).read_bytes() == (again / name).read_bytes(), name


@pytest.mark.slow
def test_committed_demo_equals_a_fresh_regeneration(tmp_path: Path) -> None:
    run(DEMO / "simulation.yaml", INSTRUMENTS, tmp_path)
    for name in [*_study_files(DEMO / "study.yaml"), MANIFEST]:
        assert (DEMO / name).read_bytes() == (tmp_path / name).read_bytes(), f"{name} differs: regenerate the demo"


@pytest.mark.parametrize("which", ["small", "demo"])
def test_group_sizes_respect_programme_limits(which: str, small: Path) -> None:
    directory = small if which == "small" else DEMO
    cfg = load_config(DEMO / "simulation.yaml")
    study = load_study(DEMO / "study.yaml")
    roster = pd.read_excel(directory / study.roster.file, sheet_name=study.roster.sheet, dtype=str)
    roster = roster[roster["Deelnemer-ID"].str.strip().astype(bool)]
    spelled = {raw.casefold(): key for key, raws in study.programmes.items() for raw in raws}
    roster["programme"] = roster["Programma"].str.casefold().map(spelled)
    members = roster[roster["Arm"].str.casefold() == "intervisie"]
    sizes = members.groupby(["programme", "Groep"]).size()
    for programme, size in sizes.groupby(level=0):
        assert size.max() <= cfg.design.programmes[programme].group_size.max, programme
    comparison = roster[roster["Arm"].str.casefold() == "vergelijking"]
    assert comparison["Groep"].isna().all() and comparison["Coach-ID"].isna().all()
    online = members["Vorm"].str.casefold().isin(["online", "teams"])
    assert online[members["programme"] == "buitenlandse_artsen"].all()
    assert not online[members["programme"] == "coschappen"].any()


@pytest.mark.parametrize("which", ["small", "demo"])
def test_every_planted_defect_is_in_the_files(which: str, small: Path) -> None:
    directory = small if which == "small" else DEMO
    seen = check_manifest(directory, DEMO / "study.yaml")
    cfg = load_config(DEMO / "simulation.yaml")
    configured = {k for k, v in cfg.defects.model_dump().items() if v > 0}
    assert set(seen) == configured
    manifest = yaml.safe_load((directory / MANIFEST).read_text(encoding="utf-8"))
    assert {k: sum(v.values()) for k, v in manifest["defect_counts"].items()} == seen


def test_files_are_readable_by_the_ingest_readers(small: Path) -> None:
    study = load_study(DEMO / "study.yaml")
    library = load_library(INSTRUMENTS)
    for role, src in study.sources():
        table = read_source(small / src.file, src, data_columns(study, role, src, library))  # raises on undeclared or missing columns
        assert len(table.rows) > 0, src.file


def test_formats_match_the_study_description(small: Path) -> None:
    study = load_study(DEMO / "study.yaml")
    by_format: dict[str, list] = {}
    for _, src in study.sources():
        by_format.setdefault(src.format, []).append(src)
    for src in by_format["qualtrics_csv"]:
        lines = (small / src.file).read_text(encoding="utf-8-sig").splitlines()
        third = next(csv.reader([lines[2]]))
        assert all(cell.startswith('{"ImportId":') for cell in third)
        assert next(csv.reader([lines[0]]))[0] == "StartDate"
    for src in by_format["csv"]:
        data = (small / src.file).read_bytes()
        assert src.csv.encoding == "cp1252" and src.csv.sep == ";"
        text = data.decode("cp1252")
        header = text.splitlines()[0]
        assert ";" in header and "," not in header
    sessions = (small / study.sessions.file).read_bytes()  # type: ignore[union-attr]
    with pytest.raises(UnicodeDecodeError):
        sessions.decode("utf-8")  # accents in cp1252, as Excel writes them
    durations = [r[3] for r in csv.reader(io.StringIO(sessions.decode("cp1252")), delimiter=";")][1:]
    assert any("," in d for d in durations)
    for src in by_format["spss"]:
        _, meta = pyreadstat.read_sav(str(small / src.file), metadataonly=True)
        assert meta.variable_value_labels["brs1"][5.0] == "Helemaal mee eens"
        assert meta.column_names_to_labels["brs1"]
        assert meta.original_variable_types[src.columns["submitted_at"]].startswith("DATETIME")
    for src in by_format["xlsx"]:
        book = openpyxl.load_workbook(small / src.file)
        assert book.sheetnames == [src.sheet]
    start = openpyxl.load_workbook(small / study.roster.file)[str(study.roster.sheet)].cell(2, 10).value
    assert hasattr(start, "year")  # a real Excel date


def test_label_export_mixes_labels_and_codes() -> None:
    study = load_study(DEMO / "study.yaml")
    src = next(s for s in study.surveys if s.file == "survey_t2_12m.csv")
    header, rows = raw_rows(DEMO / src.file, src)
    column = [r[header.index("BRS_1")] for r in rows.values()]
    assert "Helemaal mee eens" in column or "Mee eens" in column
    everywhere = [c for r in rows.values() for c in r[header.index("BRS_1") : header.index("Q_opmerking")]]
    assert any(c.strip().isdigit() for c in everywhere)


def test_csv_formats_for_benchmarks(tmp_path: Path) -> None:
    out = _run_small(tmp_path, formats="csv")
    study = load_study(out / "study.yaml")
    assert study.roster.format == "csv" and study.roster.file == "roster.csv"
    assert all(s.format in ("qualtrics_csv", "csv") for s in study.surveys)
    assert not list(out.glob("*.xlsx")) and not list(out.glob("*.sav"))
    library = load_library(INSTRUMENTS)
    for role, src in study.sources():
        read_source(out / src.file, src, data_columns(study, role, src, library))
    (out / "roster.csv").read_bytes().decode("utf-8")
    with pytest.raises(InputError):
        run(tmp_path / "simulation.yaml", INSTRUMENTS, tmp_path, n_participants=60, formats="csv")


def test_configuration_rejects_unknown_keys(tmp_path: Path) -> None:
    text = (DEMO / "simulation.yaml").read_text(encoding="utf-8") + "\nsurprise: 1\n"
    (tmp_path / "simulation.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="surprise"):
        load_config(tmp_path / "simulation.yaml")


@pytest.fixture(scope="module")
def large() -> tuple:
    cfg = load_config(DEMO / "simulation.yaml")
    library = load_library(INSTRUMENTS)
    sim = simulate(cfg, load_study(DEMO / "study.yaml"), library, n_participants=50_000)
    return sim, library


def _scores(sim: object, library: dict, wave: str, instrument: str) -> pd.DataFrame:
    frame = sim.waves[wave]  # type: ignore[attr-defined]
    long = score(frame[library[instrument].item_ids()], library[instrument])
    wide = long.pivot_table(index=long.index, columns="scale", values="score", aggfunc="first")
    wide.index = frame["participant"].to_numpy()[wide.index]
    return wide


@pytest.mark.slow
@pytest.mark.parametrize(
    ("instrument", "scale"),
    [("brs", "brs"), ("cbi", "cbi_work"), ("cbi", "cbi_personal"), ("olbi", "olbi_exhaustion"),
     ("uwes9", "uwes_vigour"), ("gras", "gras")],
)
def test_naive_diff_in_diff_recovers_the_short_term_effect(large: tuple, instrument: str, scale: str) -> None:
    """Simulated truth as the known answer: (t1 - t0) intervisie minus (t1 - t0) comparison.

    Tolerance: 4 standard errors of the estimate (sampling) plus 5% of the effect, which
    bounds the attenuation by answers clipped at the ends of the response range (measured
    at 2-4% for these scales, see the report).  The truth is each programme's effect_short
    averaged over the intervisie completers; the implementation covariates are centred
    within programme, so they add nothing on average.
    """
    sim, library = large
    before, after = _scores(sim, library, "t0", instrument), _scores(sim, library, "t1", instrument)
    both = before.index.intersection(after.index)
    change = (after.loc[both, scale] - before.loc[both, scale]).to_numpy()
    people = sim.cohort.people
    arm = people["intervisie"].to_numpy()[both]
    ok = ~np.isnan(change)
    treated, control = change[arm & ok], change[~arm & ok]
    estimate = treated.mean() - control.mean()
    se = math.sqrt(treated.var(ddof=1) / len(treated) + control.var(ddof=1) / len(control))
    effect = sim.model.outcomes[scale].params.effect_short
    programmes = people["programme"].to_numpy()[both][arm & ok]
    truth = float(pd.Series(programmes).map(effect).mean()) if isinstance(effect, dict) else float(effect)
    assert se < 0.2 * abs(truth)  # the check has power
    assert abs(estimate - truth) <= 4 * se + 0.05 * abs(truth), (estimate, truth, se)


@pytest.mark.slow
def test_scale_scores_are_unbiased_for_the_latent(large: tuple) -> None:
    """Items are drawn so that E[scale score] = latent score: check at baseline, all outcome scales."""
    sim, library = large
    for instrument in ("brs", "cbi", "olbi", "uwes9", "gras"):
        scores = _scores(sim, library, "t0", instrument)
        latent = sim.latents["t0"].iloc[scores.index]
        for scale in scores.columns:
            if scale not in latent:
                continue  # a total made of subscales
            geom = sim.model.outcomes[scale].geom
            bias = np.nanmean(scores[scale].to_numpy() - latent[scale].to_numpy())
            assert abs(bias) < 0.01 * geom.width, (scale, bias)


@pytest.mark.slow
def test_ratings_have_the_intended_group_agreement(large: tuple) -> None:
    """ICC(1) (one-way ANOVA, Shrout & Fleiss 1979) of coach-quality ratings within groups: 0.15-0.35."""
    sim, library = large
    frame = sim.evaluations
    long = score(frame[library["coach_quality"].item_ids()], library["coach_quality"])
    data = pd.DataFrame({"y": long["score"].to_numpy(), "g": sim.sessions["group"].to_numpy()[frame["session"]]})
    data = data.dropna()
    k = data.groupby("g").size()
    means = data.groupby("g")["y"].mean()
    n, groups = len(data), len(k)
    msb = (k * (means - data["y"].mean()) ** 2).sum() / (groups - 1)
    msw = ((data["y"] - data["g"].map(means)) ** 2).sum() / (n - groups)
    k0 = (n - (k**2).sum() / n) / (groups - 1)
    icc = (msb - msw) / (msb + (k0 - 1) * msw)
    assert 0.15 <= icc <= 0.35


# -- design variants (pipeline/simulate/variants.py): any common design, not only the demo's -------------

VARIANTS = ("single_arm_two_waves", "mixed_formats_four_waves", "safety_rating_only", "three_programmes")


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("variants")
    for name in VARIANTS:
        write_design(name, root / name, instruments_dir=INSTRUMENTS)
    return {name: root / name for name in VARIANTS}


def test_design_variants_are_byte_identical_by_seed(variants: dict[str, Path], tmp_path: Path) -> None:
    name = "mixed_formats_four_waves"
    write_design(name, tmp_path / "again", instruments_dir=INSTRUMENTS)
    files = sorted(p.name for p in variants[name].iterdir())
    assert files == sorted(p.name for p in (tmp_path / "again").iterdir())
    for file in files:
        assert (variants[name] / file).read_bytes() == (tmp_path / "again" / file).read_bytes(), file
    write_design(name, tmp_path / "other", seed=7, instruments_dir=INSTRUMENTS)
    assert (tmp_path / "other" / "roster.xlsx").read_bytes() != (variants[name] / "roster.xlsx").read_bytes()


@pytest.mark.parametrize("name", VARIANTS)
def test_design_variants_plant_every_defect_in_the_files(variants: dict[str, Path], name: str) -> None:
    seen = check_manifest(variants[name], variants[name] / "study.yaml")
    assert seen.get("duplicate_submissions", 0) >= len(resolve_spec(name).months)
    assert seen.get("careless_straight_line", 0) == len(resolve_spec(name).months)


@pytest.mark.parametrize("name", VARIANTS)
def test_design_variant_files_follow_the_spec(variants: dict[str, Path], name: str) -> None:
    spec, folder = resolve_spec(name), variants[name]
    study = load_study(folder / "study.yaml")
    design = build_design(study, load_library(INSTRUMENTS))
    assert [w.months for w in design.waves] == list(spec.months)
    assert design.programme_ids == list(spec.programmes)
    assert design.has_comparison == spec.has_comparison
    data = design.data
    assert (data.sessions, data.attendance, data.leaving_dates) == (
        spec.has_sessions,
        spec.has_attendance,
        spec.has_leaving,
    )
    assert bool(design.ratings) == spec.has_ratings
    written = {p.name for p in folder.iterdir()} - {"study.yaml", "simulation.yaml", MANIFEST}
    assert written == {src.file for _, src in study.sources()}
    header, rows = raw_rows(folder / study.roster.file, study.roster)
    roster = pd.DataFrame([r for r in rows.values() if not _blank(r[0])], columns=header)
    canonical = {v: k for k, vs in study.programmes.items() for v in vs}
    programmes = roster[study.roster.columns["programme"]].map(canonical)
    assert programmes.value_counts().to_dict() == dict.fromkeys(spec.programmes, spec.n_intervisie + spec.n_comparison)
    if not spec.has_comparison:  # a single-arm roster: no arm column, everyone in a group
        assert "Arm" not in header
        assert roster[study.roster.columns["group_id"]].notna().all()
    groups = roster[study.roster.columns["group_id"]]
    sizes = groups[~groups.map(_blank)].value_counts()
    assert sizes.between(*spec.group_size).all(), sizes.to_dict()
    assert sizes.sum() == len(spec.programmes) * spec.n_intervisie


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_every_named_design_is_a_small_valid_study(name: str) -> None:
    """Each named design's study.yaml passes the design check; 20-60 participants, groups of 3-8."""
    spec = resolve_spec(name)
    library = load_library(INSTRUMENTS)
    study = Study.model_validate(study_description(spec, library, roster_arm=spec.has_comparison))
    design = build_design(study, library)
    assert 20 <= spec.size <= 60
    assert 3 <= spec.group_size[0] <= spec.group_size[1] <= 8
    assert not {"coschappen", "anios", "buitenlandse_artsen"} & set(design.programme_ids)
    assert not {"t0", "t1", "t2", "t3"} & set(design.wave_ids)
    assert set(design.outcomes()) <= {s for s, info in design.scales.items() if info.instrument in spec.instruments}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "x", "months": [3, 0]}, "months must start at 0"),
        ({"name": "x", "has_sessions": False, "has_attendance": True}, "has_attendance needs has_sessions"),
        ({"name": "x", "instruments": ["brs", "psysafety"]}, "use has_ratings"),
        ({"name": "x", "n_participants": 3}, "n_participants"),
        ("no_such_design", "unknown design 'no_such_design'"),
    ],
)
def test_design_spec_mistakes_are_input_errors(spec: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        resolve_spec(spec)  # type: ignore[arg-type]
