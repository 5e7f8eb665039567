"""Corpus cases about instrument files: what `intervisie instruments check` (and every stage) must refuse.

tests/test_instruments_check.py covers most rules of the format one by one; these are the
defects it does not, run through the command line as a methodologist would.
"""

from __future__ import annotations

from pathlib import Path

from tests.hostile.edits import Case, Fails
from tests.hostile.files import PNG

TEMPLATE = """\
id: extra
version: "1.0"
name: {nl: Extra, en: Extra}
construct: test
citation: Test citation
licence: MIT
occasion: wave
response_sets:
  agree5:
    min: 1
    max: 5
    labels: {1: {nl: een, en: one}, 2: {nl: twee, en: two}, 3: {nl: drie, en: three}, 4: {nl: vier, en: four}, 5: {nl: vijf, en: five}}
  yesno:
    min: 0
    max: 1
    labels: {0: {nl: nee, en: "no"}, 1: {nl: ja, en: "yes"}}
items:
  - {id: extra_1, label: {nl: een, en: one}, response_set: agree5}
  - {id: extra_2, label: {nl: twee, en: two}, response_set: agree5, reverse: true}
  - {id: extra_3, label: {nl: drie, en: three}, response_set: yesno}
scales:
  - id: extra_total
    name: {nl: Totaal, en: Total}
    items: [extra_1, extra_2]
    method: mean
    min_items: 2
    direction: higher_better
"""


def _write(text: str, name: str = "extra.yaml", encoding: str = "utf-8"):
    def build(_study: Path, instruments: Path) -> None:
        (instruments / name).write_text(text, encoding=encoding)

    return build


def _edit(old: str, new: str):
    if TEMPLATE.count(old) != 1:
        raise ValueError(f"{old!r} must occur once in the template")
    return _write(TEMPLATE.replace(old, new))


def _binary(_study: Path, instruments: Path) -> None:
    (instruments / "extra.yaml").write_bytes(PNG)


def _line(needle: str, text: str = TEMPLATE) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _check(*fragments: str) -> Fails:
    return Fails(fragments, command="instruments")


CASES = [
    Case("instrument_empty_file", "an empty instrument file", _write(""), _check("extra.yaml:1:", "must be a mapping")),
    Case(
        "instrument_not_utf8",
        "an instrument file saved as Windows-1252 (é in a label)",
        _write(TEMPLATE.replace("nl: drie", "nl: drieë"), encoding="cp1252"),
        _check("extra.yaml:1:", "cannot be read", "utf-8"),
    ),
    Case("instrument_binary", "an image saved as an instrument file", _binary, _check("extra.yaml:1:", "cannot be read")),
    Case(
        "instrument_sum_across_response_sets",
        "a sum scale over items on different response sets",
        _edit("    items: [extra_1, extra_2]\n    method: mean", "    items: [extra_1, extra_3]\n    method: sum"),
        _check(f"extra.yaml:{_line('method: mean')}:", "a sum needs all its items on one response set"),
    ),
    Case(
        "instrument_item_twice_in_scale",
        "a scale naming one item twice",
        _edit("items: [extra_1, extra_2]", "items: [extra_1, extra_1]"),
        _check(f"extra.yaml:{_line('items: [extra_1, extra_2]')}:", "duplicate item in scale id 'extra_1'"),
    ),
    Case(
        "instrument_without_citation",
        "no citation (every instrument records where it comes from)",
        _edit("citation: Test citation\n", ""),
        _check("extra.yaml:1: citation", "Field required"),
    ),
    Case(
        "instrument_label_without_english",
        "an item label with Dutch text only",
        _edit("{id: extra_1, label: {nl: een, en: one}", "{id: extra_1, label: {nl: een}"),
        _check(f"extra.yaml:{_line('{id: extra_1')}: items[0].label.en", "Field required"),
    ),
    Case(
        "instrument_unknown_cutoff_operator",
        "a cut-off with the operator '=>'",
        _edit(
            "    direction: higher_better\n",
            "    direction: higher_better\n    cutoffs:\n"
            "      - {operator: '=>', threshold: 3, label: {nl: hoog, en: high}, source: test}\n",
        ),
        _check("extra.yaml:", "cutoffs[0].operator", "'>=', '>', '<=' or '<'"),
    ),
    Case(
        "instrument_scale_id_taken",
        "a scale id ('brs') that the shipped BRS file already uses",
        _edit("  - id: extra_total", "  - id: brs"),
        _check(f"extra.yaml:{_line('- id: extra_total')}: scales[0].id", "also used by brs.yaml"),
    ),
    Case(
        "instrument_breaks_ingest",
        "a broken instrument file stops the ingest too, with the same file:line listing",
        _edit("min_items: 2", "min_items: 3"),
        Fails((f"extra.yaml:{_line('min_items: 2')}:", "min_items (3) exceeds the 2 items", "instrument library")),
    ),
]
