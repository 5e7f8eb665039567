"""Property-based tests (hypothesis): scoring invariants, and readers that never crash or lose a row.

Scoring: for random instruments (any code range, optional scored values, any reverse keys,
every method) and random answer sheets with gaps, :func:`pipeline.scoring.score` agrees with
a direct NumPy computation of the published rules (reverse ``s_min + s_max - s``; mean, sum,
prorated sum ``k * mean``, POMP ``100 (mean - min) / (max - min)``, Cohen et al. 1999), stays in
range, ignores the order of items, and is missing exactly when fewer than ``min_items`` items
are answered.  The reference is the same as R's ``rowMeans(x, na.rm = TRUE)`` on the reversed
items; tolerance ``rtol=1e-12`` (floating-point summation order only).

Readers: arbitrary bytes under a ``.csv``, ``.xlsx`` or ``.sav`` name either give a table
whose every record is a row or a blank row (checked against the standard library's CSV
parser, cell by cell), or an :class:`~pipeline.errors.InputError` naming the file: never
another exception.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from pipeline.errors import InputError
from pipeline.instruments import Instrument
from pipeline.readers import read_csv, read_qualtrics_csv, read_spss, read_xlsx
from pipeline.scoring import score
from pipeline.study import Source

FAST = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
READERS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --------------------------------------------------------------------------- scoring


@st.composite
def instruments(draw: st.DrawFn, method: str | None = None) -> Instrument:
    """A random valid instrument with one response set and one scale over all its items."""
    k = draw(st.integers(1, 8))
    low = draw(st.integers(-3, 3))
    high = low + draw(st.integers(1, 6))
    codes = range(low, high + 1)
    scored = draw(st.booleans())
    values = draw(st.lists(st.integers(-100, 100), min_size=len(codes), max_size=len(codes))) if scored else None
    return Instrument.model_validate(
        {
            "id": "prop",
            "version": "1",
            "name": {"nl": "p", "en": "p"},
            "construct": "test",
            "citation": "test",
            "licence": "test",
            "response_sets": {
                "rs": {
                    "min": low,
                    "max": high,
                    "labels": {c: {"nl": f"c{c}", "en": f"c{c}"} for c in codes},
                    **({"scores": dict(zip(codes, values, strict=True))} if values else {}),
                }
            },
            "items": [
                {"id": f"i_{n}", "label": {"nl": "x", "en": "x"}, "reverse": draw(st.booleans())} for n in range(k)
            ],
            "scales": [
                {
                    "id": "s",
                    "name": {"nl": "s", "en": "s"},
                    "items": [f"i_{n}" for n in range(k)],
                    "method": method or draw(st.sampled_from(["mean", "sum", "prorated_sum", "pomp"])),
                    "min_items": draw(st.integers(1, k)),
                    "below_min": draw(st.sampled_from(["missing", "flag"])),
                    "direction": "higher_better",
                }
            ],
        }
    )


@st.composite
def sheets(draw: st.DrawFn, inst: Instrument) -> pd.DataFrame:
    """Answer sheets for an instrument: codes in range, some items not answered."""
    rs = next(iter(inst.response_sets.values()))
    n = draw(st.integers(1, 12))
    cell = st.one_of(st.integers(rs.min, rs.max).map(float), st.just(np.nan))
    rows = draw(st.lists(st.lists(cell, min_size=len(inst.items), max_size=len(inst.items)), min_size=n, max_size=n))
    return pd.DataFrame(rows, columns=inst.item_ids(), index=[f"r{i}" for i in range(n)])


def reference(codes: pd.DataFrame, inst: Instrument) -> tuple[np.ndarray, np.ndarray]:
    """The published rules computed directly, row by row: (score, n_answered)."""
    rs = next(iter(inst.response_sets.values()))
    scale = inst.scales[0]
    value_of = rs.scores or {c: float(c) for c in range(rs.min, rs.max + 1)}
    low, high = min(value_of.values()), max(value_of.values())
    scores, answered = [], []
    for _, row in codes.iterrows():
        values = [
            (low + high - value_of[int(row[i.id])]) if i.reverse else value_of[int(row[i.id])]
            for i in inst.items
            if not np.isnan(row[i.id])
        ]
        m, k = len(values), len(inst.items)
        mean = sum(values) / m if m else np.nan
        result = {"mean": mean, "sum": sum(values) if m else np.nan, "prorated_sum": k * mean}
        result["pomp"] = 100 * (mean - low) / (high - low) if high > low else np.nan
        too_few = m < scale.min_items and scale.below_min == "missing"
        scores.append(np.nan if too_few else result[scale.method])
        answered.append(m)
    return np.array(scores, dtype=float), np.array(answered)


@FAST
@given(data=st.data())
def test_score_follows_the_published_rules(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    codes = data.draw(sheets(inst))
    got = score(codes, inst)
    expected, answered = reference(codes, inst)
    assert_allclose(got["score"].to_numpy(dtype=float), expected, rtol=1e-12, atol=1e-9, equal_nan=True)
    assert (got["n_answered"].to_numpy() == answered).all()
    assert (got["n_items"] == len(inst.items)).all()


@FAST
@given(data=st.data())
def test_missing_item_rule(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    codes = data.draw(sheets(inst))
    got = score(codes, inst)
    scale = inst.scales[0]
    enough = got["n_answered"].to_numpy() >= scale.min_items
    assert (got["score_status"].to_numpy() == np.where(enough, "ok", _below(scale.below_min))).all()
    missing = np.isnan(got["score"].to_numpy(dtype=float))
    if scale.below_min == "missing":
        assert (missing == (~enough | (got["n_answered"].to_numpy() == 0))).all()
    else:
        assert (missing == (got["n_answered"].to_numpy() == 0)).all()


def _below(rule: str) -> str:
    return "too_few_items" if rule == "missing" else "scored_below_min"


@FAST
@given(data=st.data())
def test_mean_and_pomp_stay_in_range(data: st.DataObject) -> None:
    inst = data.draw(instruments(method=data.draw(st.sampled_from(["mean", "pomp"]))))
    codes = data.draw(sheets(inst))
    rs = next(iter(inst.response_sets.values()))
    values = list((rs.scores or {c: c for c in range(rs.min, rs.max + 1)}).values())
    low, high = (0.0, 100.0) if inst.scales[0].method == "pomp" else (min(values), max(values))
    got = score(codes, inst)["score"].dropna().to_numpy(dtype=float)
    assert (got >= low - 1e-9).all() and (got <= high + 1e-9).all()


@FAST
@given(data=st.data())
def test_prorated_sum_is_k_times_the_mean_and_the_sum_when_complete(data: st.DataObject) -> None:
    inst = data.draw(instruments(method="mean"))
    codes = data.draw(sheets(inst))
    as_method = {m: _with_method(inst, m) for m in ("mean", "sum", "prorated_sum")}
    got = {m: score(codes, i)["score"].to_numpy(dtype=float) for m, i in as_method.items()}
    assert_allclose(got["prorated_sum"], len(inst.items) * got["mean"], rtol=1e-12, atol=1e-9, equal_nan=True)
    complete = codes.notna().all(axis=1).to_numpy()
    assert_allclose(got["prorated_sum"][complete], got["sum"][complete], rtol=1e-12, atol=1e-9)


def _with_method(inst: Instrument, method: str) -> Instrument:
    scale = inst.scales[0].model_copy(update={"method": method})
    return inst.model_copy(update={"scales": [scale]})


@FAST
@given(data=st.data())
def test_reverse_keying_twice_is_identity(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    rs = next(iter(inst.response_sets.values()))
    if rs.scores is not None:  # reversing the codes mirrors the values only without a score table
        inst = inst.model_copy(update={"response_sets": {"rs": rs.model_copy(update={"scores": None})}})
    codes = data.draw(sheets(inst))
    # flip every item's key and mirror every answer (c -> min + max - c): the same scores
    flipped = inst.model_copy(update={"items": [i.model_copy(update={"reverse": not i.reverse}) for i in inst.items]})
    mirrored = rs.min + rs.max - codes
    assert_allclose(
        score(mirrored, flipped)["score"].to_numpy(dtype=float),
        score(codes, inst)["score"].to_numpy(dtype=float),
        rtol=1e-12,
        atol=1e-9,
        equal_nan=True,
    )
    # and flipping twice gives the instrument back
    twice = [i.model_copy(update={"reverse": not i.reverse}) for i in flipped.items]
    assert [i.reverse for i in twice] == [i.reverse for i in inst.items]


@FAST
@given(data=st.data())
def test_the_order_of_items_does_not_matter(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    codes = data.draw(sheets(inst))
    order = data.draw(st.permutations(range(len(inst.items))))
    items = [inst.items[i] for i in order]
    scale = inst.scales[0].model_copy(update={"items": [i.id for i in items]})
    shuffled = inst.model_copy(update={"items": items, "scales": [scale]})
    assert_allclose(
        score(codes[[i.id for i in items]], shuffled)["score"].to_numpy(dtype=float),
        score(codes, inst)["score"].to_numpy(dtype=float),
        rtol=1e-12,
        atol=1e-9,
        equal_nan=True,
    )


# --------------------------------------------------------------------------- readers

TEXT_PIECES = st.sampled_from(
    ["id", "a", "b", "P1", " ", ",", ";", "\t", '"', '""', "\n", "\r\n", "\r", "é", "ë", "4,5", "2.5", "\ufeff", "\x00"]
)


def _source(fmt: str, sep: str = ",", encoding: str = "utf-8") -> Source:
    return Source(file="x", format=fmt, columns={}, csv={"sep": sep, "encoding": encoding})


def _stdlib_records(text: str, sep: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True))


def _check_accounted(table: object, data: bytes, source: Source, header_rows: int) -> None:
    """Every record after the header is a row or a blank row, and every non-empty cell is kept."""
    text = codecs.decode(data, source.csv.encoding).removeprefix("\ufeff")
    records = _stdlib_records(text, source.csv.sep)
    body = records[header_rows:]
    assert len(table.rows) == len(table.frame)
    assert not set(table.rows) & set(table.blank_rows)
    assert len(table.rows) + len(table.blank_rows) == len(body)
    assert list(table.rows) == sorted(table.rows) and (np.asarray(table.rows) > header_rows).all()
    width = table.frame.shape[1]
    expected = Counter(c.strip() for r in body for c in r[:width] if c.strip())
    kept = Counter(v for v in table.frame.to_numpy(dtype=object).ravel() if v is not None and not pd.isna(v))
    assert kept == expected
    assert all(not c.strip() for r in body for c in r[width:])  # nothing beyond the header's columns was dropped


def _read_or_refuse(reader, path: Path, source: Source) -> object | None:
    try:
        return reader(path, source)
    except InputError as exc:
        assert path.name in str(exc)
        return None


@READERS
@given(
    pieces=st.lists(TEXT_PIECES, max_size=40),
    sep=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "cp1252", "utf-16"]),
)
def test_delimited_text_is_read_whole_or_refused(tmp_path: Path, pieces: list[str], sep: str, encoding: str) -> None:
    text = "".join(pieces)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    source = _source("csv", sep, encoding)
    table = _read_or_refuse(read_csv, path, source)
    if table is not None:
        _check_accounted(table, data, source, header_rows=1)


@READERS
@given(data=st.binary(max_size=300), fmt=st.sampled_from(["csv", "qualtrics_csv"]))
def test_arbitrary_bytes_as_csv_never_crash(tmp_path: Path, data: bytes, fmt: str) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    source = _source(fmt)
    reader = read_csv if fmt == "csv" else read_qualtrics_csv
    table = _read_or_refuse(reader, path, source)
    if table is not None:
        _check_accounted(table, data, source, header_rows=1 if fmt == "csv" else 3)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), zipped=st.booleans())
def test_arbitrary_bytes_as_xlsx_or_sav_are_refused(tmp_path: Path, data: bytes, zipped: bool) -> None:
    if zipped:  # a zip archive that is not a workbook (or a workbook with a broken part)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("xl/workbook.xml", data)
        data = buffer.getvalue()
    for name, reader, fmt in (("book.xlsx", read_xlsx, "xlsx"), ("data.sav", read_spss, "spss")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError) as caught:
            reader(path, _source(fmt))
        assert name in str(caught.value)


CELLS = st.one_of(
    st.none(),
    st.text(alphabet="abé 1,;", max_size=5),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(st.sampled_from(["id", "a", "b", "c"]), min_size=1, max_size=4, unique=True),
    body=st.lists(st.lists(CELLS, min_size=4, max_size=4), max_size=6),
)
def test_workbooks_are_read_whole_or_refused(tmp_path: Path, header: list[str], body: list[list[object]]) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in body:
        sheet.append(row)
    path = tmp_path / "book.xlsx"
    book.save(path)
    table = _read_or_refuse(read_xlsx, path, _source("xlsx"))
    if table is None:
        return
    width = len(header)
    stored = list(openpyxl.load_workbook(path).active.iter_rows(min_row=2, values_only=True))

    def present(v: object) -> bool:
        return v is not None and not (isinstance(v, str) and not v.strip())

    # rows after the last one holding anything at all (not even a space) are outside the sheet's data
    # (Excel's used range as pandas reads it): they hold nothing that could be lost
    while stored and all(v is None for v in stored[-1]):
        stored.pop()
    assert len(table.rows) + len(table.blank_rows) == len(stored)

    expected = Counter(v.strip() if isinstance(v, str) else v for r in stored for v in r[:width] if present(v))
    kept = Counter(v for v in table.frame.to_numpy(dtype=object).ravel() if v is not None)
    assert kept == expected
