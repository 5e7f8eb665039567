"""Keyed pseudonyms: the same person gets the same pseudonym in every file, and nobody without
the key can go back from a pseudonym to the person.

A pseudonym is ``HMAC-SHA256(key, kind + ":" + normalised id)``, written as a prefix for the
kind (``P`` participant, ``G`` group, ``C`` coach, ``S`` session) and the first 16
hexadecimal digits (64 bits) of the digest.  The kinds keep the pseudonym of coach ``7`` and
participant ``7`` apart.  With 64 bits the chance that two of 100,000 participants share a
pseudonym is about 3e-10 (birthday bound n^2 / 2^65); :func:`pseudonymise` still checks.
Reference: RFC 2104 (HMAC); NIST SP 800-107 on truncated HMAC outputs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.errors import PrivacyError
from pipeline.study import StudyInfo

KEY_VARIABLE = "INTERVISIE_PSEUDONYM_KEY"
MIN_KEY_LENGTH = 32
PREFIX = {"participant": "P", "group": "G", "coach": "C", "session": "S"}


def normalise_id(raw: object) -> str:
    """Return the form of an identifier that is hashed: text, trimmed, case-folded.

    ``" i123456 "`` and ``"I123456"`` are one person; an Excel number ``123456.0`` is
    ``"123456"``.
    """
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    return str(raw).strip().casefold()


def resolve_key(study: StudyInfo, environ: Mapping[str, str]) -> bytes:
    """Return the pseudonymisation key: from the environment, or the demo study's own.

    A study that is not the demo refuses to run without ``INTERVISIE_PSEUDONYM_KEY``, and a
    key shorter than 32 characters is refused as guessable.
    """
    key = environ.get(KEY_VARIABLE, "")
    if key:
        if len(key) < MIN_KEY_LENGTH:
            raise PrivacyError(
                f"{KEY_VARIABLE} is {len(key)} characters long; use at least {MIN_KEY_LENGTH} random characters "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        return key.encode("utf-8")
    if study.demo and study.demo_pseudonym_key:
        return study.demo_pseudonym_key.encode("utf-8")
    raise PrivacyError(
        f"Study '{study.id}' is not the demo study and {KEY_VARIABLE} is not set, so its identifiers cannot be "
        "pseudonymised. Set the key in the environment (never in the repository); see README, 'Running a real study'."
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
