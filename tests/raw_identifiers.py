"""What must never leave data_raw/: every identifier, name, e-mail address and free-text answer."""

from __future__ import annotations

from pathlib import Path

from pipeline.instruments import load_library
from pipeline.items import data_columns
from pipeline.readers import read_source
from pipeline.study import load_study

INSTRUMENTS = Path(__file__).parents[1] / "instruments"
ID_FIELDS = ("participant_id", "group_id", "coach_id", "session_id")


def raw_identifiers(study_dir: Path, min_length: int = 5) -> set[str]:
    """Return the distinct identifying or free-text values of a study's raw files.

    Values shorter than ``min_length`` characters (e.g. "ja", "G1") are left out: they are not
    identifying on their own and would match by chance.
    """
    study = load_study(study_dir / "study.yaml")
    instruments = load_library(INSTRUMENTS)
    found: set[str] = set()
    for role, source in study.sources():
        frame = read_source(study_dir / source.file, source, data_columns(study, role, source, instruments)).frame
        columns = [*source.identifier_columns, *source.free_text_columns]
        columns += [source.columns[f] for f in ID_FIELDS if f in source.columns]
        for column in columns:
            for value in frame[column].dropna():
                text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
                if len(text) >= min_length:
                    found.add(text)
    return found
