"""The names the quality tables give a study's raw files: their place in study.yaml, not their names on disk.

A file's name on disk is chosen by whoever exported it (``evaluaties_coach_<name>.csv``) and
may hold a name; ``data_clean/`` (``responses.source_file``, the issue table, the row
accounting) and the log therefore name each source by its role in study.yaml:

- ``roster``, ``sessions``, ``attendance``;
- ``survey_<wave>`` for a survey of one wave (``wave: t1`` -> ``survey_t1``);
- ``survey_session`` for evaluations after each session (``occasion: session``);
- ``survey_<n>`` (its 1-based place under ``surveys:``) for a survey whose wave is a column.

When two surveys would share a name (two exports of one wave), the later ones get ``_2``,
``_3`` ... in study.yaml order.  The study.yaml and the row numbers still lead a researcher to
the cell in ``data_raw/``.
"""

from __future__ import annotations

from pipeline.study import Source, Study, SurveySource


def _base(role: str, source: Source, position: int) -> str:
    if role != "survey" or not isinstance(source, SurveySource):
        return role
    if source.occasion == "session":
        return "survey_session"
    if source.wave is not None:
        return f"survey_{source.wave}"
    return f"survey_{position}"


def source_labels(study: Study) -> list[tuple[str, Source, str]]:
    """Return ``(role, source, label)`` for every source of the study, in study.yaml order."""
    out: list[tuple[str, Source, str]] = []
    seen: dict[str, int] = {}
    position = 0
    for role, source in study.sources():
        if role == "survey":
            position += 1
        base = _base(role, source, position)
        seen[base] = seen.get(base, 0) + 1
        out.append((role, source, base if seen[base] == 1 else f"{base}_{seen[base]}"))
    return out


def source_label(study: Study, source: Source) -> str:
    """Return the label of one source of the study (see the module docstring)."""
    for _role, candidate, label in source_labels(study):
        if candidate is source:
            return label
    raise KeyError("the source is not part of this study")
