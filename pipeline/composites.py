"""Composite scores: scales of an instrument file that combine other scales of the same file.

A composite lists ``subscales`` instead of ``items`` (instruments/README.md, *Composite
scores*); its items and ``min_items`` follow from them (:func:`composite_rule`), filled in when
a file is read (:func:`expand_composites`), and :func:`composite_problems` states every rule a
composite must keep.  The score itself is computed by :func:`pipeline.scoring.combine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.instruments import Instrument

Loc = tuple[str | int, ...]


def composite_rule(parts: Sequence[tuple[Sequence[str], int]], min_subscales: int) -> tuple[list[str], int]:
    """Return a composite's items and ``min_items`` from its subscales' ``(items, min_items)``.

    The items are the subscales' items in the order the composite names the subscales; the
    ``min_items`` is the fewest answered items a score can rest on: the sum of the
    ``min_subscales`` smallest ``min_items`` of the subscales (at least 1).
    """
    items = [i for part_items, _ in parts for i in part_items]
    smallest = sorted(m for _, m in parts)[: max(1, min(min_subscales, len(parts)))]
    return items, max(1, sum(smallest))


def expand_composites(data: dict) -> dict:
    """Fill in the ``items`` and ``min_items`` of every composite of a raw instrument mapping.

    A composite (a scale with ``subscales``) lists no items of its own: they are those of its
    subscales (:func:`composite_rule`).  Values written in the file are kept (and checked by
    :func:`composite_problems`); a subscale that does not exist or is malformed contributes
    nothing here and is reported by :func:`composite_problems`.
    """
    scales = data.get("scales")
    if not isinstance(scales, list) or not any(isinstance(s, dict) and "subscales" in s for s in scales):
        return data
    simple = {
        s["id"]: s for s in scales if isinstance(s, dict) and isinstance(s.get("id"), str) and "subscales" not in s
    }
    out = []
    for s in scales:
        if isinstance(s, dict) and isinstance(s.get("subscales"), list):
            parts = []
            for sub_id in s["subscales"]:
                sub = simple.get(sub_id) if isinstance(sub_id, str) else None
                if sub is None or not isinstance(sub.get("items"), list):
                    continue
                m = sub.get("min_items")
                parts.append(([str(i) for i in sub["items"]], m if isinstance(m, int) and m >= 1 else 1))
            m_sub = s.get("min_subscales")
            items, min_items = composite_rule(parts, m_sub if isinstance(m_sub, int) else len(parts))
            s = {"items": items, "min_items": min_items, **s}
        out.append(s)
    return {**data, "scales": out}


def composite_problems(inst: Instrument) -> list[tuple[Loc, str]]:
    """Return the rules a composite scale breaks (see instruments/README.md, *Composite scores*)."""
    problems: list[tuple[Loc, str]] = []
    by_id = {s.id: s for s in inst.scales}
    for n, scale in enumerate(inst.scales):
        loc: Loc = ("scales", n)
        if scale.subscales is None:
            if scale.min_subscales is not None:
                problems.append(
                    ((*loc, "min_subscales"), "only a composite (a scale with `subscales`) has min_subscales")
                )
            continue
        what = f"composite '{scale.id}'"
        if not scale.subscales:
            problems.append(((*loc, "subscales"), f"{what} names no subscales"))
        problems += [
            ((*loc, "subscales", k), f"duplicate subscale id '{sub_id}'")
            for k, sub_id in enumerate(scale.subscales)
            if scale.subscales[:k].count(sub_id) == 1  # reported once, at its second mention
        ]
        parts: list[tuple[Sequence[str], int]] = []
        for k, sub_id in enumerate(scale.subscales):
            sub = by_id.get(sub_id)
            if sub is None:
                problems.append(((*loc, "subscales", k), f"'{sub_id}' is not a scale of this instrument"))
            elif sub.is_composite or sub_id == scale.id:
                problems.append(
                    ((*loc, "subscales", k), f"'{sub_id}' is a composite; a composite combines simple scales")
                )
            else:
                parts.append((sub.items, sub.min_items))
                if getattr(sub, "direction", scale.direction) != scale.direction:
                    problems.append(
                        (
                            (*loc, "subscales", k),
                            f"'{sub_id}' is {sub.direction} but {what} is {scale.direction}: "
                            "a mean of scales with opposite directions has no direction",
                        )
                    )
        if scale.min_subscales is None:
            problems.append(((*loc, "min_subscales"), f"{what} needs min_subscales (fewest subscales with a score)"))
        elif scale.subscales and scale.min_subscales > len(scale.subscales):
            problems.append(
                (
                    (*loc, "min_subscales"),
                    f"min_subscales ({scale.min_subscales}) exceeds the {len(scale.subscales)} subscales",
                )
            )
        if scale.method != "mean":
            problems.append(((*loc, "method"), f"{what} must use method mean (the mean of its subscales' items)"))
        if scale.below_min != "missing":
            problems.append(
                ((*loc, "below_min"), f"{what} has no score below min_subscales: below_min must be missing")
            )
        if scale.multiplier is not None:
            problems.append(((*loc, "multiplier"), f"{what} takes no multiplier (it is on the items' metric)"))
        if scale.source is None:
            problems.append(((*loc, "source"), f"{what} needs a source: the published grouping of its subscales"))
        if len(parts) == len(scale.subscales) and scale.min_subscales is not None:
            items, min_items = composite_rule(parts, scale.min_subscales)
            if list(scale.items) != items:
                problems.append(((*loc, "items"), f"{what} takes its items from its subscales: leave `items` out"))
            elif scale.min_items != min_items:
                problems.append(
                    ((*loc, "min_items"), f"{what} takes min_items from min_subscales ({min_items}): leave it out")
                )
    return problems
