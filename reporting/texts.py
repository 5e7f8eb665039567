"""Words of the reports in Dutch and English: outcome names, the direction of each scale, phrases.

The documents speak the language of their ``lang`` parameter (``nl`` by default for the board
report); every phrase a cell writes comes from here, so a translation is one place.
"""

from __future__ import annotations

from pipeline.errors import InputError

LANGUAGES = ("nl", "en")

#: outcome scale -> (Dutch name, English name, higher is better?)
OUTCOMES: dict[str, tuple[str, str, bool]] = {
    "brs": ("Veerkracht (BRS)", "Resilience (BRS)", True),
    "cbi_work": ("Werkgerelateerde burn-out (CBI)", "Work-related burnout (CBI)", False),
    "cbi_personal": ("Persoonlijke burn-out (CBI)", "Personal burnout (CBI)", False),
    "cbi_patient": ("Patiëntgerelateerde burn-out (CBI)", "Patient-related burnout (CBI)", False),
    "olbi_exhaustion": ("Uitputting (OLBI)", "Exhaustion (OLBI)", False),
    "olbi_disengagement": ("Distantie (OLBI)", "Disengagement (OLBI)", False),
    "uwes_vigour": ("Vitaliteit (UWES)", "Vigour (UWES)", True),
    "uwes_dedication": ("Toewijding (UWES)", "Dedication (UWES)", True),
    "uwes_absorption": ("Absorptie (UWES)", "Absorption (UWES)", True),
    "gras": ("Reflectievermogen (GRAS)", "Reflective ability (GRAS)", True),
    "psych_safety": ("Psychologische veiligheid", "Psychological safety", True),
}

PROGRAMMES = {
    "all": ("alle programma's", "all programmes"),
    "coschappen": ("coschappen", "clerkships (coschappen)"),
    "anios": ("a(n)ios", "residents (a(n)ios)"),
    "buitenlandse_artsen": ("buitenlandse artsen", "foreign-trained doctors"),
}

ARMS = {"intervisie": ("intervisie", "intervisie"), "comparison": ("vergelijkingsgroep", "comparison group")}

#: Cohen (1988) conventions for standardised differences: upper bounds of each size class
#: (Dutch in the form used before a noun: "kleine verbetering")
SIZES = ((0.2, "zeer kleine", "very small"), (0.5, "kleine", "small"), (0.8, "middelgrote", "medium"))
LARGE = ("grote", "large")

PHRASES: dict[str, tuple[str, str]] = {
    "improvement": ("verbetering", "improvement"),
    "deterioration": ("verslechtering", "deterioration"),
    "no_clear": ("geen duidelijk verschil", "no clear difference"),
    "ci_excludes": ("BI bevat 0 niet", "CI does not include zero"),
    "ci_includes": ("BI bevat 0", "CI includes zero"),
    "suppressed": ("< 5 personen", "< 5 people"),
    "not_available": ("nog niet beschikbaar", "not available yet"),
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if the reports speak it, else raise :class:`InputError`."""
    if lang not in LANGUAGES:
        raise InputError(f"the report parameter lang is {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang


def pick(pair: tuple[str, str], lang: str) -> str:
    """The Dutch or English member of a ``(nl, en)`` pair."""
    return pair[LANGUAGES.index(check_lang(lang))]


def phrase(key: str, lang: str) -> str:
    """A fixed phrase in ``lang``."""
    return pick(PHRASES[key], lang)


def outcome_name(scale: str, lang: str) -> str:
    """The reader's name of an outcome scale (the scale id when it has none)."""
    entry = OUTCOMES.get(scale)
    return pick(entry[:2], lang) if entry else scale


def higher_is_better(scale: str) -> bool:
    """Whether a higher score is the better one (burnout scales: lower is better)."""
    return OUTCOMES.get(scale, ("", "", True))[2]


def programme_name(programme: str, lang: str) -> str:
    """The reader's name of a programme."""
    entry = PROGRAMMES.get(programme)
    return pick(entry, lang) if entry else programme.replace("_", " ")


def arm_name(arm: str, lang: str) -> str:
    """The reader's name of a study arm."""
    entry = ARMS.get(arm)
    return pick(entry, lang) if entry else arm


def size_word(std_effect: float, lang: str) -> str:
    """Cohen's (1988) size class of a standardised effect: very small (Cohen: negligible) < 0.2 <= small < 0.5 <= medium < 0.8 <= large."""
    magnitude = abs(std_effect)
    for bound, nl, en in SIZES:
        if magnitude < bound:
            return pick((nl, en), lang)
    return pick(LARGE, lang)


#: implementation factors (implementation/factors_ranked.csv ``factor``) in words
FACTORS: dict[str, tuple[str, str]] = {
    "dose": ("aanwezigheid bij de sessies", "attending the sessions"),
    "coach_quality": ("kwaliteit van de coach", "coach quality"),
    "safety": ("psychologische veiligheid", "psychological safety"),
    "structure": ("structuur van de sessies", "structure of the sessions"),
    "structure_quadratic": ("te veel of te weinig structuur", "too much or too little structure"),
    "group_size": ("groepsgrootte", "group size"),
    "online": ("online bijeenkomen", "meeting online"),
    "method_incidentmethode": ("vooral incidentmethode", "mostly incident method"),
    "method_roddelmethode": ("vooral roddelmethode", "mostly gossip method"),
    "method_other": ("vooral andere methoden", "mostly other methods"),
}
LEVELS = {"within": ("binnen de groep", "within the group"), "between": ("tussen groepen", "between groups")}


def factor_name(factor: str, level: str, lang: str) -> str:
    """A short name of an implementation factor and the level it acts on."""
    name = pick(FACTORS[factor], lang) if factor in FACTORS else factor.replace("_", " ")
    return f"{name} ({pick(LEVELS[level], lang)})" if level in LEVELS else name
