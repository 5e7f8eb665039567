"""The cohort: programmes, groups, coaches and participants, with the groups' true qualities.

Everything here is drawn once per study from named random streams (:func:`stream`), so that
changing one part of the simulator does not reshuffle the others.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.simulate.config import ProgrammeDesign, SimulationConfig
from pipeline.simulate.text import draw_names, emails

NO_GROUP = -1


def stream(seed: int, name: str) -> np.random.Generator:
    """Return the random generator of one named part of the simulation.

    Parameters
    ----------
    seed : int
        The configuration's seed.
    name : str
        The part ("groups", "names", ...); its CRC-32 is the second seed word.

    Returns
    -------
    numpy.random.Generator
        A generator that depends only on ``seed`` and ``name``.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode("utf-8"))]))


def per_member(values: np.ndarray, group: np.ndarray, fill: object = 0.0) -> np.ndarray:
    """Return each participant's group value (``values[group]``), ``fill`` outside any group."""
    member = group != NO_GROUP
    if not len(values):
        return np.full(len(group), fill, dtype=object if isinstance(fill, str) or fill is None else None)
    return np.where(member, values[np.where(member, group, 0)], fill)


@dataclass(frozen=True)
class Cohort:
    """Who takes part.

    ``people`` has one row per participant (intervisie members ordered by group, then the
    comparison cohort) with ``pid``, ``first``, ``last``, ``email``, ``programme`` (canonical
    id), ``intervisie``, ``group`` (row of ``groups`` or -1), ``start``.  ``groups`` has
    ``group_id``, ``programme``, ``coach`` (row of ``coaches``), ``online``, ``start``,
    ``size``, ``first_member`` and the true z-scores ``coach_quality``, ``structure`` and
    ``safety``.  ``coaches`` has ``coach_id``, ``name``, ``programme`` and ``quality``.
    """

    people: pd.DataFrame
    groups: pd.DataFrame
    coaches: pd.DataFrame


def scaled_counts(cfg: SimulationConfig, n_participants: int | None) -> dict[str, tuple[int, int, int]]:
    """Return ``{programme: (n_intervisie, n_comparison, n_groups)}`` scaled to ``n_participants``."""
    base = cfg.design.base_size()
    if n_participants is not None and n_participants < 1:
        raise InputError(f"n_participants must be at least 1, not {n_participants}")
    factor = 1.0 if n_participants is None else n_participants / base
    out = {}
    for key, prog in cfg.design.programmes.items():
        n_int = round(prog.n_intervisie * factor)
        n_cmp = round(prog.n_comparison * factor)
        wanted = max(1, round(prog.n_groups * factor)) if n_int else 0
        fewest = -(-n_int // prog.group_size.max)
        most = max(fewest, n_int // prog.group_size.min)
        out[key] = (n_int, n_cmp, min(max(wanted, fewest), most))
    planned_comparison = any(p.n_comparison for p in cfg.design.programmes.values())
    if not sum(c[0] for c in out.values()) or (planned_comparison and not sum(c[1] for c in out.values())):
        raise InputError(
            f"n_participants={n_participants} is too small for this design: it leaves no intervisie or no comparison "
            f"participants (the design has {base}; try at least {round(2 * base / min(_arm_sizes(cfg)))})"
        )
    return out


def _arm_sizes(cfg: SimulationConfig) -> tuple[int, int]:
    programmes = cfg.design.programmes.values()
    return max(1, sum(p.n_intervisie for p in programmes)), max(1, sum(p.n_comparison for p in programmes))


def group_sizes(rng: np.random.Generator, n: int, n_groups: int, prog: ProgrammeDesign) -> np.ndarray:
    """Split ``n`` members over ``n_groups`` groups within the programme's size limits.

    Every group starts at the minimum size; the remaining members take free places chosen
    at random among all groups' places up to the maximum (so sizes sum exactly to ``n``).
    """
    if n_groups == 0:
        return np.zeros(0, dtype=np.int64)
    low = min(prog.group_size.min, n // n_groups)
    room = prog.group_size.max - low
    extra = n - low * n_groups
    if extra > room * n_groups:
        raise InputError(f"{n} members do not fit in {n_groups} groups of at most {prog.group_size.max}")
    places = rng.choice(room * n_groups, size=extra, replace=False) if extra else np.zeros(0, dtype=np.int64)
    return low + np.bincount(places // max(room, 1), minlength=n_groups)


def _monday_on_or_after(days: np.ndarray, first: pd.Timestamp) -> np.ndarray:
    dates = first + pd.to_timedelta(days, unit="D")
    return (dates + pd.to_timedelta((7 - dates.dayofweek) % 7, unit="D")).to_numpy()


def _ids(rng: np.random.Generator, n: int, prog: ProgrammeDesign) -> np.ndarray:
    digits = prog.id_digits
    while 9 * 10 ** (digits - 1) < 4 * n:  # keep IDs sparse, so a typo rarely hits another person
        digits += 1
    numbers = rng.choice(9 * 10 ** (digits - 1), size=n, replace=False) + 10 ** (digits - 1)
    return np.char.add(prog.id_prefix, numbers.astype(str)).astype(object)


def _coaches_per_programme(cfg: SimulationConfig, n_groups: dict[str, int], factor: float) -> dict[str, int]:
    total = max(1, round(cfg.design.n_coaches * factor))
    groups = sum(n_groups.values())
    out = {}
    for key, g in n_groups.items():
        out[key] = 0 if g == 0 else min(g, max(1, round(total * g / max(groups, 1))))
    return out


def build_cohort(cfg: SimulationConfig, n_participants: int | None) -> Cohort:
    """Draw programmes' groups, coaches and participants.

    Parameters
    ----------
    cfg : SimulationConfig
        The configuration.
    n_participants : int or None
        Scale the design to about this many participants (groups and coaches scale along).

    Returns
    -------
    Cohort
        The participants, groups and coaches.
    """
    counts = scaled_counts(cfg, n_participants)
    factor = 1.0 if n_participants is None else n_participants / cfg.design.base_size()
    rng_groups, rng_people, rng_names = (stream(cfg.seed, s) for s in ("groups", "people", "names"))
    first_start = pd.Timestamp(cfg.design.first_start)
    n_coaches = _coaches_per_programme(cfg, {k: c[2] for k, c in counts.items()}, factor)

    coach_parts, group_parts = [], []
    coach_offset = 0
    for key, prog in cfg.design.programmes.items():
        n_int, _, g = counts[key]
        k = n_coaches[key]
        quality = rng_groups.standard_normal(k)
        coach_parts.append(pd.DataFrame({"programme": key, "quality": quality}))
        # every coach leads a group; the remaining groups go to coaches with a skewed popularity
        popularity = rng_groups.gamma(0.7, size=k)
        rest = rng_groups.choice(k, size=g - k, p=popularity / popularity.sum()) if g > k else []
        coach = rng_groups.permutation(np.r_[np.arange(k), rest].astype(np.int64))
        width = max(3, len(str(g)))
        group_parts.append(
            pd.DataFrame(
                {
                    "group_id": [f"{prog.group_prefix}-{i:0{width}d}" for i in range(1, g + 1)],
                    "programme": key,
                    "coach": coach + coach_offset,
                    "online": rng_groups.random(g) < prog.online_share,
                    "start": _monday_on_or_after(rng_groups.integers(0, cfg.design.enrolment_days, g), first_start),
                    "size": group_sizes(rng_groups, n_int, g, prog),
                }
            )
        )
        coach_offset += k
    coaches = pd.concat(coach_parts, ignore_index=True)
    groups = pd.concat(group_parts, ignore_index=True)
    coaches["coach_id"] = [f"C{i:0{max(3, len(str(len(coaches))))}d}" for i in range(1, len(coaches) + 1)]
    cf, cl = draw_names(rng_names, np.full(len(coaches), "dutch", dtype=object))
    coaches["name"] = cf + " " + cl
    _group_qualities(cfg, rng_groups, groups, coaches)
    groups["first_member"] = np.r_[0, np.cumsum(groups["size"].to_numpy())[:-1]].astype(np.int64)

    people = _people(cfg, counts, groups, rng_people, rng_names, first_start)
    return Cohort(people=people, groups=groups, coaches=coaches)


def _group_qualities(
    cfg: SimulationConfig, rng: np.random.Generator, groups: pd.DataFrame, coaches: pd.DataFrame
) -> None:
    """Add the groups' true coach quality, structure and safety (z-scores, population SD 1)."""
    imp = cfg.implementation
    n = len(groups)
    coach_part = coaches["quality"].to_numpy()[groups["coach"].to_numpy()] if n else np.zeros(0)
    cq = np.sqrt(imp.coach_share) * coach_part + np.sqrt(1 - imp.coach_share) * rng.standard_normal(n)
    r = imp.safety_coach_correlation
    groups["coach_quality"] = cq
    groups["structure"] = rng.standard_normal(n)
    groups["safety"] = r * cq + np.sqrt(1 - r**2) * rng.standard_normal(n)


def _people(
    cfg: SimulationConfig,
    counts: dict[str, tuple[int, int, int]],
    groups: pd.DataFrame,
    rng: np.random.Generator,
    rng_names: np.random.Generator,
    first_start: pd.Timestamp,
) -> pd.DataFrame:
    parts = []
    for arm in (True, False):
        for key, prog in cfg.design.programmes.items():
            _, n_cmp, _ = counts[key]
            mine = groups[groups["programme"] == key]
            if arm:
                group = np.repeat(mine.index.to_numpy(), mine["size"].to_numpy().astype(np.int64))
                start = groups["start"].to_numpy()[group]
            else:
                group = np.full(n_cmp, NO_GROUP)
                start = _monday_on_or_after(rng.integers(0, cfg.design.enrolment_days, n_cmp), first_start)
            parts.append(
                pd.DataFrame(
                    {
                        "programme": key,
                        "intervisie": arm,
                        "group": group.astype(np.int64),
                        "start": start,
                        "pool": prog.names,
                        "domain": prog.email_domain,
                    }
                )
            )
    people = pd.concat(parts, ignore_index=True)
    people["pid"] = None
    for key, prog in cfg.design.programmes.items():
        mine = (people["programme"] == key).to_numpy()
        people.loc[mine, "pid"] = _ids(rng, int(mine.sum()), prog)
    if people["pid"].duplicated().any():
        raise InputError("two programmes share an id_prefix and drew the same participant ID; use distinct prefixes")
    first, last = draw_names(rng_names, people["pool"].to_numpy())
    people["first"], people["last"] = first, last
    people["email"] = emails(first, last, people["domain"].to_numpy())
    people["start"] = pd.to_datetime(people["start"])
    return people.drop(columns=["pool", "domain"])
