"""The two configuration files of a design variant: ``study.yaml`` (the contract) and ``simulation.yaml`` (the truth).

Both are plain data built from a :class:`~pipeline.simulate.variants.DesignSpec`; the study
description follows the format of ``data_raw/README.md`` (programmes with display names,
``design:`` and ``outcomes:``), the simulation configuration validates against
:class:`~pipeline.simulate.config.SimulationConfig`.  True effects are fractions of each
scale's score range, signed so that intervisie helps: short-term effect 6 % of the range on
the primary outcomes (3 % on secondary ones), a long-term effect a third of that per year.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from pipeline.atomic import write_text
from pipeline.instruments import Instrument
from pipeline.simulate.config import SimulationConfig
from pipeline.simulate.items import ScaleGeometry, geometry
from pipeline.simulate.tables import QUALTRICS_IDENTIFIERS, QUALTRICS_IGNORED
from pipeline.simulate.text import METHODS

if TYPE_CHECKING:
    from pipeline.simulate.variants import CovariateSpec, DesignSpec

#: display names of programme ids the named designs use (others get their id with spaces)
PROGRAMME_LABELS = {
    "huisarts": ("huisartsopleiding", "GP training"),
    "zorg_mix": ("gemengde zorgopleidingen", "mixed care programmes"),
    "spoedzorg": ("spoedeisende zorg", "emergency care"),
}
DUTCH_CSV = {"sep": ";", "decimal": ",", "encoding": "cp1252"}
BOOLEAN = {"true": ["ja", "Ja"], "false": ["nee", "Nee"]}
#: the rating scales, the implementation factor each measures, and their true distribution
RATINGS = {
    "coach_quality": ("coach_quality", {"drivers": {"coach_quality": 1.0}, "mean": 3.9, "sd": 0.55, "icc": 0.25}),
    "session_structure": ("structure", {"drivers": {"structure": 1.0}, "mean": 3.7, "sd": 0.55, "icc": 0.2}),
    "psysafety": ("safety", {"drivers": {"safety": 1.0}, "mean": 5.4, "sd": 0.8, "icc": 0.2}),
}


def wave_id(months: float) -> str:
    """The wave id of a wave at ``months`` (``m0``, ``m3``, ``m1_5``)."""
    return f"m{months:g}".replace(".", "_")


def wave_labels(months: float) -> tuple[str, str]:
    """Dutch and English names of a wave."""
    if months == 0:
        return "Start", "Baseline"
    if months == 1:
        return "1 maand", "1 month"
    return f"{months:g} maanden", f"{months:g} months"


def outcome_scales(spec: DesignSpec, library: dict[str, Instrument]) -> tuple[list[str], list[str]]:
    """The primary and secondary outcome scales: the spec's, or from the driven scales of its instruments."""
    driven = {inst: [g.scale for g in geometry(library[inst]) if g.driven] for inst in spec.instruments}
    primary = list(spec.primary) if spec.primary else [driven[spec.instruments[0]][0]]
    if spec.secondary is not None:
        return primary, list(spec.secondary)
    return primary, [driven[i][0] for i in spec.instruments[1:] if driven[i][0] not in primary]


def _rating_instruments(spec: DesignSpec) -> tuple[list[str], list[str]]:
    """Rating instruments asked after sessions, and at the follow-up waves."""
    if not spec.has_ratings:
        return [], []
    return (["coach_quality", "session_structure"] if spec.has_sessions else []), ["psysafety"]


def _survey(spec: DesignSpec, k: int, months: float, items: dict[str, str]) -> dict:
    """One wave's questionnaire export, in the format the spec asks for."""
    wave = wave_id(months)
    kind = "qualtrics_csv" if spec.formats == "csv" else ("qualtrics_csv", "spss", "xlsx")[k % 3]
    if kind == "qualtrics_csv":
        return {
            "file": f"survey_{wave}.csv",
            "format": "qualtrics_csv",
            "wave": wave,
            "columns": {
                "participant_id": "ExternalReference",
                "submitted_at": "RecordedDate",
                "duration_seconds": "Duration (in seconds)",
                "finished": "Finished",
            },
            "identifier_columns": list(QUALTRICS_IDENTIFIERS),
            "free_text_columns": ["Q_opmerking"],
            "ignore_columns": list(QUALTRICS_IGNORED),
            "items": {inst: f"{inst.upper()}_{{n}}" for inst in items},
        }
    survey = {
        "file": f"survey_{wave}.{'sav' if kind == 'spss' else 'xlsx'}",
        "format": kind,
        "wave": wave,
        "columns": {"participant_id": "deelnemer", "submitted_at": "datum"},
        "identifier_columns": ["email"],
        "free_text_columns": ["opmerking"],
        "items": {inst: f"{inst}{{n}}" for inst in items},
    }
    if kind == "xlsx":
        survey |= {"sheet": "Antwoorden", "date_format": "%d-%m-%Y %H:%M"}
    return survey


def study_description(spec: DesignSpec, library: dict[str, Instrument], *, roster_arm: bool) -> dict:
    """The study description (``study.yaml``) of a design, as plain data."""
    primary, secondary = outcome_scales(spec, library)
    after_sessions, at_waves = _rating_instruments(spec)
    roster_columns = {"participant_id": "ID", "programme": "Programma"}
    if roster_arm:
        roster_columns["arm"] = "Arm"
    roster_columns |= {"group_id": "Groep", "coach_id": "Coach-ID", "format": "Vorm", "start_date": "Startdatum"}
    if spec.has_leaving:
        roster_columns["end_date"] = "Einddatum"
    roster_columns["consent"] = "Toestemming"
    values = {
        "consent": BOOLEAN,
        "format": {"in_person": ["fysiek", "Fysiek"], "online": ["online", "Teams"]},
    }
    if roster_arm:
        values["arm"] = {"intervisie": ["intervisie", "Intervisie"], "comparison": ["vergelijking", "controle"]}
    roster = {"file": "roster.csv", "format": "csv", "date_format": "%Y-%m-%d"}
    if spec.formats == "mixed":
        roster = {"file": "roster.xlsx", "format": "xlsx", "sheet": "Deelnemers"}
    roster |= {"columns": roster_columns, "values": values, "identifier_columns": ["Naam", "E-mail", "Coach"]}
    study: dict = {
        "study": {"id": f"design-{spec.name.replace('_', '-')}", "title": f"Synthetic design {spec.name}"},
        "waves": {},
        "programmes": {},
        "design": {"comparison": spec.has_comparison, "assignment": spec.assignment},
        "outcomes": {"primary": primary, "secondary": secondary},
        "roster": roster,
    }
    for months in spec.months:
        nl, en = wave_labels(months)
        study["waves"][wave_id(months)] = {"label_nl": nl, "label_en": en, "months": months}
    for prog in spec.programmes:
        nl, en = PROGRAMME_LABELS.get(prog, (prog.replace("_", " "),) * 2)
        study["programmes"][prog] = {"label_nl": nl, "label_en": en, "values": [nl, prog]}
    ratings = {RATINGS[i][0]: i for i in after_sessions + at_waves}
    if ratings:
        study["design"]["ratings"] = dict(sorted(ratings.items()))
    if spec.covariates:
        study["covariates"] = {c.name: _study_covariate(c) for c in spec.covariates}
    if spec.has_sessions:
        study["sessions"] = {
            "file": "sessions.csv",
            "format": "csv",
            "csv": DUTCH_CSV,
            "date_format": "%d-%m-%Y",
            "columns": {
                "session_id": "Sessie-ID",
                "group_id": "Groep",
                "date": "Datum",
                "duration_hours": "Duur (uur)",
                "method": "Methode",
                "cases_discussed": "Aantal casussen",
            },
            "values": {"method": {str(m): [str(m)] for m in METHODS}},
            "free_text_columns": ["Verslag"],
        }
    if spec.has_attendance:
        study["attendance"] = {
            "file": "attendance.csv",
            "format": "csv",
            "csv": DUTCH_CSV,
            "columns": {"session_id": "Sessie-ID", "participant_id": "ID", "attended": "Aanwezig"},
            "values": {"attended": {"true": ["ja", "1"], "false": ["nee", "0"]}},
        }
    surveys = []
    for k, months in enumerate(spec.months):
        items = list(spec.instruments) + (at_waves if months > 0 else [])
        surveys.append(_survey(spec, k, months, {i: "" for i in items}))
    if after_sessions:
        surveys.append(
            {
                "file": "session_evaluations.csv",
                "format": "csv",
                "csv": DUTCH_CSV,
                "occasion": "session",
                "date_format": "%d-%m-%Y %H:%M",
                "columns": {"participant_id": "ID", "session_id": "Sessie-ID", "submitted_at": "Ingevuld op"},
                "free_text_columns": ["Tip voor de coach"],
                "items": {i: f"{i}_{{n}}" for i in after_sessions},
            }
        )
    study["surveys"] = surveys
    return study


def _study_covariate(cov: CovariateSpec) -> dict:
    """study.yaml's declaration of one covariate (format of data_raw/README.md)."""
    label = cov.name.replace("_", " ")
    out: dict = {"column": cov.roster_column, "kind": cov.kind, "label_nl": label, "label_en": label}
    if cov.kind == "numeric" and cov.range is not None:
        out["range"] = list(cov.range)
    elif cov.kind == "binary":
        out["values"] = BOOLEAN
    elif cov.kind == "categorical":
        out["values"] = {level: [level.replace("_", " ")] for level in cov.probabilities or {}}
    return out


def _simulation_covariate(cov: CovariateSpec, geoms: dict[str, ScaleGeometry]) -> dict:
    """simulation.yaml's model of one covariate: its distribution and effects on every outcome."""
    out: dict = {"kind": cov.kind}
    if cov.kind == "numeric":
        out |= {"mean": cov.mean, "sd": cov.sd}
        if cov.decimals is not None:
            out["decimals"] = cov.decimals
        if cov.range is not None:
            out["range"] = list(cov.range)
    elif cov.kind == "binary":
        out["probability"] = cov.probability
    else:
        out["probabilities"] = dict(cov.probabilities or {})
    if cov.missing:
        out["missing"] = cov.missing
    if cov.kind != "categorical" and (cov.level or cov.short or cov.long):
        parts = {"level": cov.level, "short": cov.short, "long": cov.long}
        out["effects"] = {s: {k: v * g.sign + 0.0 for k, v in parts.items() if v} for s, g in geoms.items()}
    return out


def _selection(spec: DesignSpec, primary: list[str]) -> dict:
    """simulation.yaml's ``selection:`` of a design (the first primary outcome / covariate by default)."""
    sel = spec.selection
    out: dict = {"mechanism": sel.mechanism, "log_odds_per_sd": sel.log_odds_per_sd}
    if sel.mechanism == "baseline":
        out["outcome"] = sel.outcome or primary[0]
    if sel.mechanism == "covariate":
        out["covariate"] = sel.covariate or spec.covariates[0].name
    return out


def _n_groups(n: int, low: int, high: int) -> int:
    fewest = -(-n // high)
    most = max(fewest, n // low)
    return min(max(round(n / ((low + high) / 2)), fewest), most)


def _outcome(geom: ScaleGeometry, spec: DesignSpec, share: float) -> dict:
    """True parameters of one outcome scale, as fractions of its score range (see module docstring)."""
    w, sign = geom.width, geom.sign
    means = {p: round(geom.low + (0.45 + 0.05 * (k % 3)) * w, 4) for k, p in enumerate(spec.programmes)}
    return {
        "mean": means,
        "person_sd": round(0.12 * w, 4),
        "group_sd": round(0.03 * w, 4),
        "slope_sd": round(0.02 * w, 4),
        "residual_sd": round(0.05 * w, 4),
        "change_short": round(-0.01 * sign * w, 4),
        "effect_short": round(share * sign * w, 4) + 0.0,  # + 0.0: a zero effect is written 0.0, not -0.0
        "effect_long": round(share / 3 * sign * w, 4) + 0.0,
    }


def simulation_config(spec: DesignSpec, library: dict[str, Instrument], study: dict) -> dict:
    """The simulation configuration (``simulation.yaml``) of a design, as plain data (validated)."""
    primary = study["outcomes"]["primary"]
    geoms = {g.scale: g for i in spec.instruments for g in geometry(library[i]) if g.driven}
    burnout = "cbi_work" if "cbi_work" in geoms else primary[0]
    low, high = spec.group_size
    programmes = {}
    for k, prog in enumerate(spec.programmes):
        programmes[prog] = {
            "n_intervisie": spec.n_intervisie,
            "n_comparison": spec.n_comparison,
            "n_groups": _n_groups(spec.n_intervisie, low, high),
            "group_size": {"min": low, "max": high},
            "online_share": 0.0 if k == 0 else 0.3,
            "id_prefix": chr(ord("A") + k),
            "id_digits": 5,
            "email_domain": "example.nl",
            "names": "dutch" if k % 2 == 0 else "international",
            "session_interval_days": {"min": 28, "max": 42},
            "session_jitter_days": 5,
            "session_hours": {2.0: 0.5, 2.5: 0.5},
            "group_prefix": f"G{chr(ord('A') + k)}",
        }
    n_groups = sum(p["n_groups"] for p in programmes.values())
    ratings = list(study["design"].get("ratings", {}).values())
    first = primary[0]
    w, sign = geoms[first].width, geoms[first].sign
    qualtrics = [s["file"] for s in study["surveys"] if s["format"] == "qualtrics_csv" and s["wave"] != "m0"]
    config = {
        "seed": spec.seed,
        "study": "study.yaml",
        "file_timestamp": "2026-01-05",
        "label_exports": qualtrics[:1] if spec.formats == "mixed" else [],
        "design": {
            "first_start": "2024-01-08",
            "enrolment_days": 120,
            "follow_up_months": max(1, math.ceil(spec.months[-1])),
            "short_term_months": spec.months[1],
            "n_coaches": max(1, n_groups // 2),
            "programmes": programmes,
        },
        "items": {"noise_sd": 0.6, "offset_sd": 0.15},
        "outcomes": {
            "person_correlation": 0.3,
            "defaults": {"mean": 0.5, "person_sd": 0.12, "group_sd": 0.02, "slope_sd": 0.02, "residual_sd": 0.05},
            "scales": {
                s: _outcome(geoms[s], spec, spec.effect_short if s in primary else spec.effect_short / 2) for s in geoms
            },
        },
        "implementation": {
            "coach_share": 0.6,
            "safety_coach_correlation": 0.4,
            "structure_peak": 0.3,
            # scaled with the spec's effect, so that a zero effect is zero for everyone
            "effects_short": {
                first: {
                    "coach_quality": round(0.02 * sign * w * spec.effect_short / 0.06, 4) + 0.0,
                    "dose": round(0.05 * sign * w * spec.effect_short / 0.06, 4) + 0.0,
                }
            },
        },
        "ratings": {s: RATINGS[s][1] | {"person_share": 0.5} for s in ratings},
        "dropout": {
            "hazard_per_year": 0.15,
            "burnout_scale": burnout,
            "log_hr_burnout": 0.405,
            "log_hr_coach_quality": -0.357,
        },
        "attendance": {"mean": 0.8, "concentration": 8},
        "response": {
            "burnout_scale": burnout,
            "logit_intercept": {wave_id(m): round(3.0 - 0.3 * k, 2) for k, m in enumerate(spec.months)},
            "last_observed_burnout": -0.3,
            "current_burnout": -0.1,
            "left_intervisie": -1.5,
            "comparison": -0.4,
            "evaluation_rate": 0.35,
            "free_text_rate": 0.12,
            "spelling_variant_rate": 0.03,
        },
        "defects": {
            "item_nonresponse": 3,
            "duplicate_submissions": 1,
            "out_of_range": 1,
            "missing_codes": 1,
            "unknown_ids": 1,
            "id_whitespace": 1,
            "unfinished_responses": 1,
            "codes_in_label_export": 3,
            "date_as_text": 1,
            "free_text_pii": 1,
            "trailing_empty_rows": 1,
            "no_consent": 1,
            "session_duplicate_id": 1,
            "session_dot_decimal": 1,
            "attendance_unknown_session": 1,
            "attendance_not_in_group": 1,
            "attendance_conflicting_duplicate": 1,
            "attendance_invalid_value": 1,
            "careless_straight_line": 1,
            "careless_random": 1,
        },
    }
    if spec.covariates:
        config["covariates"] = {c.name: _simulation_covariate(c, geoms) for c in spec.covariates}
    if spec.selection.mechanism != "random":
        config["selection"] = _selection(spec, primary)
    SimulationConfig.model_validate(config)  # a mistake here is the generator's: fail before writing
    return config


class _PlainDumper(yaml.SafeDumper):
    """A safe dumper that writes repeated values out in full (no ``&id001`` anchors)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def write_yaml(path: Path, data: dict, comment: str) -> None:
    """Write plain data as YAML (keys in order) with a comment line on top."""
    text = yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=120)
    write_text(path, f"# {comment}\n# Written by pipeline.simulate.variants; regenerate rather than edit.\n{text}")
