"""Words of the reports in Dutch and English: fixed phrases, and names taken from the study's design.

The documents speak the language of their ``lang`` parameter (``nl`` by default for the board
report); every fixed phrase a cell writes comes from here, so a translation is one place.  The
names of outcomes, programmes, arms and waves are *not* kept here: they come from the study's
:class:`~pipeline.design.Design` (``study.yaml`` and the instrument files), so a report never
names something its study lacks.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.design import Design
from pipeline.errors import InputError

LANGUAGES = ("nl", "en")

#: Cohen (1988) conventions for standardised differences: upper bounds of each size class
#: (Dutch in the form used before a noun: "kleine verbetering")
SIZES = ((0.2, "zeer kleine", "very small"), (0.5, "kleine", "small"), (0.8, "middelgrote", "medium"))
LARGE = ("grote", "large")

PHRASES: dict[str, tuple[str, str]] = {
    "improvement": ("verbetering", "improvement"),
    "deterioration": ("verslechtering", "deterioration"),
    "no_clear": ("geen duidelijk verschil", "no clear difference"),
    "no_clear_change": ("geen duidelijke verandering", "no clear change"),
    "ci_excludes": ("BI bevat 0 niet", "CI does not include zero"),
    "ci_includes": ("BI bevat 0", "CI includes zero"),
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


def size_word(std_effect: float, lang: str) -> str:
    """Cohen's (1988) size class of a standardised effect: very small (Cohen: negligible) < 0.2 <= small < 0.5 <= medium < 0.8 <= large."""
    magnitude = abs(std_effect)
    for bound, nl, en in SIZES:
        if magnitude < bound:
            return pick((nl, en), lang)
    return pick(LARGE, lang)


# -- names from the design ---------------------------------------------------------------------


def outcome_name(design: Design, scale: str, lang: str) -> str:
    """The reader's name of a scale, from its instrument file (the scale id when the study has no such scale)."""
    info = design.scales.get(scale)
    return info.label(lang) if info is not None else scale


def higher_is_better(design: Design, scale: str) -> bool:
    """Whether a higher score is the better one, as the scale's instrument file says (unknown: higher)."""
    info = design.scales.get(scale)
    return True if info is None else info.higher_is_better


def programme_name(design: Design, programme: str, lang: str) -> str:
    """The reader's name of a programme (``all``: all programmes together)."""
    try:
        return design.programme(programme).label(lang)
    except KeyError:
        return programme.replace("_", " ")


def arm_name(design: Design, arm: str, lang: str) -> str:
    """The reader's name of a study arm."""
    try:
        return design.arm(arm).label(lang)
    except StopIteration:
        return arm


def wave_name(design: Design, wave: str, lang: str) -> str:
    """The reader's name of a wave (its label in ``study.yaml``)."""
    try:
        return design.wave(wave).label(lang)
    except StopIteration:
        return wave


def join_words(words: Sequence[str], lang: str) -> str:
    """``a``, ``a en b``, ``a, b en c`` (English: ``a, b and c``)."""
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {pick(('en', 'and'), lang)} {words[-1]}"


def months(value: float, lang: str) -> str:
    """A number of months in words: ``3 maanden``, ``1 maand``, ``1,5 months``."""
    number = f"{value:g}".replace(".", "," if check_lang(lang) == "nl" else ".")
    return f"{number} {pick(('maand', 'month') if value == 1 else ('maanden', 'months'), lang)}"


def short_months(design: Design, lang: str) -> str:
    """The months from the baseline to the short-term wave (the knot of the growth model), in words."""
    return months(design.knot_months, lang)


def wave_months(design: Design, wave: str, lang: str) -> str:
    """The months of a wave after the baseline, in words."""
    return months(design.wave_months[wave] - design.wave_months[design.baseline], lang)


def programmes_phrase(design: Design, lang: str) -> str:
    """The study's programmes in the reader's words, joined: ``A, B en C``."""
    return join_words([p.label(lang) for p in design.programmes], lang)


# -- implementation factors ---------------------------------------------------------------------

#: the generic implementation factors (implementation/factors_ranked.csv ``factor``) in words;
#: ``method_<name>`` factors carry the name of a method as the session log writes it
FACTORS: dict[str, tuple[str, str]] = {
    "dose": ("aanwezigheid bij de sessies", "attending the sessions"),
    "coach_quality": ("kwaliteit van de coach", "coach quality"),
    "safety": ("psychologische veiligheid", "psychological safety"),
    "structure": ("structuur van de sessies", "structure of the sessions"),
    "structure_quadratic": ("te veel of te weinig structuur", "too much or too little structure"),
    "group_size": ("groepsgrootte", "group size"),
    "online": ("online bijeenkomen", "meeting online"),
    "method_other": ("vooral andere methoden", "mostly other methods"),
}
LEVELS = {"within": ("binnen de groep", "within the group"), "between": ("tussen groepen", "between groups")}


def factor_name(factor: str, level: str, lang: str) -> str:
    """A short name of an implementation factor and the level it acts on.

    A ``method_<name>`` factor (the method a group mostly used) is named by the method as the
    data write it: ``vooral <name>`` / ``mostly <name>``.
    """
    if factor in FACTORS:
        name = pick(FACTORS[factor], lang)
    elif factor.startswith("method_"):
        name = f"{pick(('vooral', 'mostly'), lang)} {factor.removeprefix('method_').replace('_', ' ')}"
    else:
        name = factor.replace("_", " ")
    return f"{name} ({pick(LEVELS[level], lang)})" if level in LEVELS else name


def adjusted_for(design: Design, lang: str) -> str:
    """What the adjusted difference between arms accounts for, in words ("the baseline score, the programme and ...")."""
    parts = [pick(("de beginscore", "the baseline score"), lang)]
    parts += [pick(("het programma", "the programme"), lang)] if design.several_programmes else []
    parts += [c.label(lang) for c in design.covariates]
    return join_words(parts, lang)
