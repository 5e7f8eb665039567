"""From latent scale scores to item answers, for any instrument of the library.

A scale's latent value ``y`` is mapped to its fraction of the score range,
``f = (y - lo) / (hi - lo)``; every item the scale *drives* gets the scored value
``f`` of its own range plus a fixed item offset (zero-sum within the scale) plus noise of
``noise_sd`` answer steps, rounded to the nearest code and kept within the codes; a
reverse-keyed item is written reversed.  Because every scoring method of the library is
linear in the items' scored values, the expected scale score equals ``y`` whenever the
noise is wide enough for rounding to be unbiased (``noise_sd >= 0.5`` step: the bias is
below ``exp(-2 pi^2 noise_sd^2)`` steps) and the answer stays inside the codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.instruments import Instrument, Item, Scale


@dataclass(frozen=True)
class ScaleGeometry:
    """Where a scale's score lives and which items it drives."""

    instrument: str
    scale: str
    low: float
    high: float
    #: +1 when higher scores are better, -1 when worse
    sign: int
    level: str
    #: items whose answers follow this scale (each item follows its smallest scale)
    driven: tuple[str, ...]

    @property
    def width(self) -> float:
        """Return the length of the score range."""
        return self.high - self.low


def _item_range(inst: Instrument, item: Item) -> tuple[float, float, int]:
    rs = inst.response_set_of(item)
    if rs.scores is None:
        return float(rs.min), float(rs.max), rs.max - rs.min
    values = [rs.scores[c] for c in range(rs.min, rs.max + 1)]
    return float(min(values)), float(max(values)), rs.max - rs.min


def score_range(inst: Instrument, scale: Scale) -> tuple[float, float]:
    """Return the lowest and highest possible score of a scale."""
    by_id = {i.id: i for i in inst.items}
    low, high, _ = _item_range(inst, by_id[scale.items[0]])
    k = len(scale.items)
    if scale.method in ("sum", "prorated_sum"):
        return k * low, k * high
    if scale.method == "pomp":
        return 0.0, 100.0
    return low, high


def geometry(inst: Instrument) -> list[ScaleGeometry]:
    """Return the geometry of every scale of an instrument.

    Each item follows the smallest scale that contains it (a subscale rather than a total);
    items in no scale follow the instrument's first scale.  A scale that drives no item
    (a total made of subscales) has an empty ``driven``: its truth is that of its parts.
    """
    driver: dict[str, str] = {}
    for scale in sorted(inst.scales, key=lambda s: len(s.items)):
        for item_id in scale.items:
            driver.setdefault(item_id, scale.id)
    for item in inst.items:
        driver.setdefault(item.id, inst.scales[0].id)
    out = []
    for scale in inst.scales:
        low, high = score_range(inst, scale)
        out.append(
            ScaleGeometry(
                instrument=inst.id,
                scale=scale.id,
                low=low,
                high=high,
                sign=1 if scale.direction == "higher_better" else -1,
                level=scale.level,
                driven=tuple(i.id for i in inst.items if driver[i.id] == scale.id),
            )
        )
    return out


def error_variance(inst: Instrument, geom: ScaleGeometry, noise_sd: float) -> float:
    """Return the variance that item noise and rounding add to a complete scale score.

    Per item ``(noise_sd^2 + 1/12)`` squared steps (the 1/12 is rounding), in units of the
    scale's range: ``width^2 * sum_j (noise_sd^2 + 1/12) / steps_j^2 / k^2``.
    """
    by_id = {i.id: i for i in inst.items}
    items = next(s for s in inst.scales if s.id == geom.scale).items
    steps = np.array([_item_range(inst, by_id[i])[2] for i in items], dtype=float)
    return float(geom.width**2 * np.sum((noise_sd**2 + 1 / 12) / steps**2) / len(items) ** 2)


def item_offsets(rng: np.random.Generator, inst: Instrument, geoms: list[ScaleGeometry], sd: float) -> dict[str, float]:
    """Draw a fixed offset (in answer steps) per item, summing to zero within each driving scale."""
    out: dict[str, float] = {}
    for geom in geoms:
        if not geom.driven:
            continue
        raw = rng.normal(0.0, sd, len(geom.driven))
        raw = raw - raw.mean() if len(raw) > 1 else np.zeros(1)
        out.update(zip(geom.driven, raw.tolist(), strict=True))
    return out


def answer_codes(
    rng: np.random.Generator,
    inst: Instrument,
    geoms: list[ScaleGeometry],
    latent: dict[str, np.ndarray],
    offsets: dict[str, float],
    noise_sd: float,
    shifts: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Draw the answer codes of every item of an instrument from its scales' latent scores.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random stream.
    inst : Instrument
        The instrument.
    geoms : list of ScaleGeometry
        Its scales (:func:`geometry`).
    latent : dict
        Scale id -> latent score per respondent (scale-score units), for every driving scale.
    offsets : dict
        Item id -> fixed offset in answer steps (:func:`item_offsets`).
    noise_sd : float
        SD of the item noise in answer steps.
    shifts : dict, optional
        Item id -> answer steps added per respondent (a planted non-invariant item; none by default).

    Returns
    -------
    dict
        Item id -> answer codes (float; integer-valued).
    """
    by_id = {i.id: i for i in inst.items}
    out: dict[str, np.ndarray] = {}
    for geom in geoms:
        if not geom.driven:
            continue
        f = (np.asarray(latent[geom.scale], dtype=float) - geom.low) / geom.width
        for item_id in geom.driven:
            item = by_id[item_id]
            rs = inst.response_set_of(item)
            codes = np.arange(rs.min, rs.max + 1, dtype=float)
            scored = codes if rs.scores is None else np.array([rs.scores[int(c)] for c in codes])
            steps = rs.max - rs.min
            g = f + offsets.get(item_id, 0.0) / steps
            if shifts and item_id in shifts:
                g = g + np.asarray(shifts[item_id], dtype=float) / steps
            ascending = scored[-1] > scored[0]
            if ascending == item.reverse:
                g = 1.0 - g
            if np.allclose(np.diff(scored), scored[1] - scored[0]):
                position = rs.min + g * steps
            else:  # a non-linear score table: place the value between the codes it falls in
                low, high = scored.min(), scored.max()
                value = low + (g if ascending else 1.0 - g) * (high - low)
                order = np.argsort(scored)
                position = np.interp(value, scored[order], codes[order])
            noisy = position + rng.normal(0.0, noise_sd, position.shape)
            out[item_id] = np.clip(np.rint(noisy), rs.min, rs.max)
    return out


def observed_score(codes: Mapping[str, np.ndarray], inst: Instrument, scale_id: str) -> np.ndarray:
    """Return one scale's score per row of answer codes, exactly as :func:`pipeline.scoring.score` computes it.

    The simulator's answers are valid codes by construction, so the code check of
    :func:`~pipeline.scoring.score` is skipped; the scored values and the combination into every
    scale (simple scales and composites) are the pipeline's own (:func:`pipeline.scoring.scored_values`,
    :func:`pipeline.scoring.combine`), so the numbers are identical (tests/test_simulate_selection.py).
    ``codes`` holds every item of the instrument.
    """
    from pipeline.scoring import combine, scored_values

    scored = {
        item.id: scored_values(np.asarray(codes[item.id], dtype=float), inst.response_set_of(item), reverse=item.reverse)
        for item in inst.items
    }
    return combine(scored, inst)[scale_id][0]
