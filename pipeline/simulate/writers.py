"""Write exports in the formats studies arrive in, byte for byte reproducibly.

- Dutch Excel CSV: the source's separator and encoding (``;``, cp1252), CRLF line ends.
- Qualtrics CSV: UTF-8 with a byte-order mark, three header rows (column codes, question
  texts, ImportIds), CRLF line ends.
- SPSS ``.sav`` (pyreadstat): variable and value labels; the creation date and time that
  ReadStat stamps into the header are overwritten with the configured timestamp.
- Excel ``.xlsx`` (openpyxl): real Excel dates; the workbook's created/modified properties
  and every zip entry's date are set to the configured timestamp.
Every file is written through :mod:`pipeline.atomic`.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.atomic import write_with
from pipeline.simulate.tables import Export

#: bytes of the SAV header that hold ReadStat's creation date (9) and time (8)
SAV_DATE = slice(92, 101)
SAV_TIME = slice(101, 109)
EXCEL_DATE = "DD-MM-YYYY"
EXCEL_DATETIME = "DD-MM-YYYY HH:MM"


def write_export(path: Path, export: Export, stamp: date) -> None:
    """Write one export to ``path`` in its source's format.

    Parameters
    ----------
    path : Path
        The target file.
    export : Export
        The cells and the description of the file.
    stamp : datetime.date
        The fixed timestamp for file formats that record one.
    """
    fmt = export.source.format
    if fmt == "qualtrics_csv":
        write_with(path, lambda tmp: tmp.write_bytes(_qualtrics_bytes(export)))
    elif fmt == "csv":
        write_with(path, lambda tmp: tmp.write_bytes(_csv_bytes(export)))
    elif fmt == "spss":
        write_with(path, lambda tmp: _write_sav(tmp, export, stamp))
    else:
        write_with(path, lambda tmp: tmp.write_bytes(_xlsx_bytes(export, stamp)))


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the frame with whole-number float columns as nullable integers (``3``, not ``3.0``)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype.kind == "f":
            finite = values.dropna()
            if (finite == np.round(finite)).all():
                out[column] = values.astype("Int64")
        elif values.dtype == object:
            out[column] = values.map(_text_cell)
    return out


def _text_cell(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float):
        return "" if math.isnan(value) else (str(int(value)) if value.is_integer() else repr(value))
    return value


def _csv_bytes(export: Export) -> bytes:
    opts = export.source.csv
    text = _text_frame(export.visible()).to_csv(sep=opts.sep, index=False, lineterminator="\r\n", na_rep="")
    return text.encode(opts.encoding)


def _qualtrics_bytes(export: Export) -> bytes:
    opts = export.source.csv
    frame = export.visible()
    head = io.StringIO()
    writer = csv.writer(head, delimiter=opts.sep, lineterminator="\r\n")
    writer.writerow(list(frame.columns))
    writer.writerow([export.header_texts.get(c, (c, ""))[0] for c in frame.columns])
    writer.writerow([export.header_texts.get(c, ("", f'{{"ImportId":"{c}"}}'))[1] for c in frame.columns])
    body = _text_frame(frame).to_csv(sep=opts.sep, index=False, header=False, lineterminator="\r\n", na_rep="")
    bom = "\ufeff" if opts.encoding.replace("-", "").lower() == "utf8" else ""
    return (bom + head.getvalue() + body).encode(opts.encoding)


def _write_sav(tmp: Path, export: Export, stamp: date) -> None:
    import pyreadstat

    frame = export.visible().copy()
    labels: dict[str, str] = {}
    value_labels: dict[str, dict[float, str]] = {}
    measure: dict[str, str] = {}
    for column in frame.columns:
        if column in export.items:
            inst, item = export.items[column]
            rs = inst.response_set_of(item)
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
            labels[column] = f"{inst.name.nl}: {item.label.nl}"
            value_labels[column] = {float(c): t.nl for c, t in rs.labels.items()}
            measure[column] = "ordinal"
        elif frame[column].dtype.kind == "M":
            labels[column] = "Datum en tijd ingevuld"
            measure[column] = "scale"
        else:
            frame[column] = frame[column].map(lambda v: "" if _text_cell(v) is None else str(_text_cell(v)))
            labels[column] = column
            measure[column] = "nominal"
    pyreadstat.write_sav(
        frame,
        str(tmp),
        column_labels=labels,
        variable_value_labels=value_labels,
        variable_measure=measure,
        row_compress=True,
    )
    data = bytearray(tmp.read_bytes())
    data[SAV_DATE] = stamp.strftime("%d %b %y").encode("ascii")
    data[SAV_TIME] = b"00:00:00"
    tmp.write_bytes(bytes(data))


def _xlsx_bytes(export: Export, stamp: date) -> bytes:
    from openpyxl import Workbook

    frame = export.visible()
    book = Workbook()
    sheet = book.active
    sheet.title = str(export.source.sheet) if not isinstance(export.source.sheet, int) else "Blad1"
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        sheet.append([_excel_cell(v) for v in row])
    for n, column in enumerate(frame.columns, start=1):
        values = [v for v in frame[column] if isinstance(v, date)]
        fmt = EXCEL_DATETIME if any(isinstance(v, datetime) for v in values) else (EXCEL_DATE if values else None)
        if fmt:
            for cell in next(sheet.iter_cols(min_col=n, max_col=n, min_row=2)):
                if isinstance(cell.value, date):
                    cell.number_format = fmt
    fixed = datetime(stamp.year, stamp.month, stamp.day)
    book.properties.creator = "intervisie simulate"
    book.properties.created = fixed
    book.properties.modified = fixed
    buffer = io.BytesIO()
    book.save(buffer)
    return _fixed_zip(buffer.getvalue(), fixed)


def _excel_cell(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _fixed_zip(data: bytes, fixed: datetime) -> bytes:
    """Rewrite an xlsx archive with fixed entry dates and fixed core-property timestamps."""
    iso = fixed.strftime("%Y-%m-%dT%H:%M:%SZ")
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = content.decode("utf-8")
                for tag in ("created", "modified"):
                    text = re.sub(rf"(<dcterms:{tag}[^>]*>)[^<]*(</dcterms:{tag}>)", rf"\g<1>{iso}\g<2>", text)
                content = text.encode("utf-8")
            entry = zipfile.ZipInfo(info.filename, date_time=fixed.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            target.writestr(entry, content)
    return out.getvalue()
