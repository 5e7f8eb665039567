"""Keyed pseudonyms: the same person gets the same pseudonym in every file, and nobody without
the key can go back from a pseudonym to the person.

A pseudonym is ``HMAC-SHA256(key, kind + ":" + normalised id)`` (:func:`normalise_id`), written as a prefix for the
kind (``P`` participant, ``G`` group, ``C`` coach, ``S`` session) and the first 16
hexadecimal digits (64 bits) of the digest.  The kinds keep the pseudonym of coach ``7`` and
participant ``7`` apart.  With 64 bits the chance that two of 100,000 participants share a
pseudonym is about 3e-10 (birthday bound n^2 / 2^65); :func:`pseudonymise` still checks.
Reference: RFC 2104 (HMAC); NIST SP 800-107 on truncated HMAC outputs.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import PrivacyError
from pipeline.keys import HOW_TO_MAKE, KEY_VARIABLE, MIN_KEY_LENGTH, check_key, demo_data_problem
from pipeline.study import StudyInfo

__all__ = [
    "KEY_VARIABLE",
    "MIN_KEY_LENGTH",
    "MIXED_SCRIPT_RULE",
    "PREFIX",
    "Pseudonymiser",
    "is_mixed_script",
    "mixed_script_mask",
    "normalise_id",
    "pseudonym",
    "pseudonymise",
    "resolve_key",
    "scripts",
]
#: the rule under which a row whose identifier mixes scripts is quarantined (see :func:`is_mixed_script`)
MIXED_SCRIPT_RULE = "mixed_script_id"
PREFIX = {"participant": "P", "group": "G", "coach": "C", "session": "S"}


def normalise_id(raw: object) -> str:
    """Return the form of an identifier that is hashed: text, Unicode NFC, trimmed, case-folded.

    ``" i123456 "`` and ``"I123456"`` are one person; an Excel number ``123456.0`` is
    ``"123456"``; ``"Zoë"`` typed with one code point (NFC) or two (NFD: ``e`` + combining
    diaeresis) is one person (Unicode Standard Annex #15).
    """
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", str(raw)).strip().casefold())


def scripts(raw: object) -> frozenset[str]:
    """Return the writing systems of the letters of an identifier (``LATIN``, ``CYRILLIC``, ...).

    Digits, punctuation and marks belong to none; the script is the first word of the
    character's Unicode name (a simplification of UAX #24 that is enough for identifiers).
    """
    found = set()
    for ch in unicodedata.normalize("NFC", str(raw)):
        if unicodedata.category(ch).startswith("L"):
            found.add(unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0])
    return frozenset(found)


def is_mixed_script(raw: object) -> bool:
    """True when an identifier mixes letters of two scripts, such as a Latin ``i`` with a Cyrillic ``і``.

    Such an ID looks like another person's ID but hashes to a different pseudonym; the caller
    quarantines its row under the rule :data:`MIXED_SCRIPT_RULE` instead of inventing a person.
    """
    return len(scripts(raw)) > 1


def mixed_script_mask(ids: pd.Series) -> pd.Series:
    """Return, per row, whether its identifier mixes scripts (missing identifiers: ``False``)."""
    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    flags = np.array([is_mixed_script(v) for v in uniques] + [False], dtype=bool)
    return pd.Series(flags[codes], index=ids.index, dtype=bool)


def resolve_key(
    study: StudyInfo, environ: Mapping[str, str], *, study_dir: Path | None = None, files: Mapping[str, str] | None = None
) -> bytes:
    """Return the pseudonymisation key: from the environment, or the demo study's own.

    Rules (:mod:`pipeline.keys`): a study marked ``demo: true`` runs only on the simulator's
    own files (``files``: source name in study.yaml -> file relative to ``study_dir``, checked
    against the manifest's SHA-256),
    whichever key it uses; a key from the environment must pass :func:`pipeline.keys.check_key`
    (length, no surrounding whitespace, not published, enough estimated entropy); a study that
    is not the demo refuses to run without one.

    Raises
    ------
    PrivacyError
        When any rule is broken; the message says which and how to make a key, never the key.
    """
    if study.demo:
        problem = "no study folder was given" if study_dir is None else demo_data_problem(study_dir, files or {})
        if problem:
            raise PrivacyError(
                f"Study '{study.id}' says `demo: true`, but {problem}. `demo: true` and the published demo key "
                f"are only for the synthetic data `intervisie simulate` writes. For any other data set `demo: false`, "
                f"remove demo_pseudonym_key and set {KEY_VARIABLE} in the environment (README, 'Running a real study')."
            )
    key = environ.get(KEY_VARIABLE)
    if key is not None and (key or not study.demo):
        return check_key(key)
    if study.demo and study.demo_pseudonym_key:
        return study.demo_pseudonym_key.encode("utf-8")
    raise PrivacyError(
        f"Study '{study.id}' is not the demo study and {KEY_VARIABLE} is not set, so its identifiers cannot be "
        f"pseudonymised. Make a key with: {HOW_TO_MAKE}; set it in the environment (never in the repository); "
        "see README, 'Running a real study'."
    )


def pseudonym(key: bytes, kind: str, raw: object) -> str:
    """Return the pseudonym of one identifier of a kind (``participant``, ``group``, ...)."""
    digest = hmac.new(key, f"{kind}:{normalise_id(raw)}".encode(), hashlib.sha256).hexdigest()
    return PREFIX[kind] + digest[:16]


class Pseudonymiser:
    """Pseudonymises columns with one key, remembering every identifier it has hashed.

    A study's participant IDs recur in the roster, the attendance list and every survey; each
    distinct ID is normalised and hashed once per run.  Two different identifiers that would
    share a pseudonym stop the run (:class:`~pipeline.errors.PrivacyError`).
    """

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._seen: dict[tuple[str, object], str | None] = {}
        self._hashed: dict[str, str] = {}
        self._taken: dict[str, str] = {}

    def _one(self, kind: str, raw: object) -> str | None:
        memo = (kind, type(raw), raw)
        if memo not in self._seen:
            normal = normalise_id(raw)  # a blank identifier is missing, not one shared "person"
            self._seen[memo] = self._hash(kind, normal) if normal else None
        return self._seen[memo]

    def _hash(self, kind: str, normal: str) -> str:
        message = f"{kind}:{normal}"
        if message not in self._hashed:
            name = PREFIX[kind] + hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()[:16]
            if self._taken.setdefault(name, message) != message:
                raise PrivacyError(f"two different {kind} identifiers share a pseudonym; report this as a bug")
            self._hashed[message] = name
        return self._hashed[message]

    def __call__(self, kind: str, ids: pd.Series) -> pd.Series:
        """Return the pseudonyms of a column of identifiers (missing stays missing)."""
        codes, uniques = pd.factorize(ids, use_na_sentinel=True)
        table = np.array([self._one(kind, v) for v in uniques] + [None], dtype=object)
        return pd.Series(table[codes], index=ids.index, dtype="string")


def pseudonymise(key: bytes, kind: str, ids: pd.Series) -> pd.Series:
    """Pseudonymise a column of identifiers (missing stays missing); each distinct id is hashed once.

    A blank identifier (empty after trimming) is missing too, not one shared "person".
    """
    return Pseudonymiser(key)(kind, ids)
