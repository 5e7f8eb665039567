"""The pseudonymisation key: where it comes from, when it is good enough, and its fingerprint.

Rules (see the README, "Running a real study"):

* A study with ``demo: false`` takes its key from ``INTERVISIE_PSEUDONYM_KEY``.  The key must
  be at least :data:`MIN_KEY_LENGTH` characters, carry no surrounding whitespace or control
  characters (they are refused, never stripped: a stripped key would be a different key), not be
  a published key, not be one block repeated, and reach :data:`MIN_KEY_BITS` estimated bits
  (:func:`estimated_bits`).  ``secrets.token_urlsafe(32)`` (43 characters) always passes.
* The key written in a study.yaml (``demo_pseudonym_key``) is public.  It is used only when
  ``demo: true`` and every raw file the study names is byte-for-byte a file the simulator wrote:
  its SHA-256 is in the simulator's manifest (:data:`DEMO_MANIFEST`) beside study.yaml.  Edited
  or real data with ``demo: true`` is refused.
* The key's fingerprint, ``HMAC-SHA256(key, FINGERPRINT_LABEL)`` cut to 16 hexadecimal digits,
  identifies the key without revealing it (RFC 2104).  It is stored beside the clean tables so
  a later run with another key is caught before it writes tables that do not link.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from pipeline.errors import PrivacyError

KEY_VARIABLE = "INTERVISIE_PSEUDONYM_KEY"
MIN_KEY_LENGTH = 32
#: the smallest accepted estimate of :func:`estimated_bits`; token_urlsafe(32) gives at least ~180
MIN_KEY_BITS = 128.0
#: a key containing this text (any case) is published and is refused for a study that is not the demo
PUBLISHED_MARKER = "demo-only"
#: SHA-256 of keys published with the project (the demo study's and the test fixtures'); never accepted
#: from the environment
PUBLISHED_KEY_SHA256 = frozenset(
    {
        "ac23fcbc45cdc34664c2103254247d0f3d695e78491600efbc547819531e123f",  # data_raw/demo/study.yaml
        "4ed57c91a7eddd3d7a0cee5a545fbb124ef9b038fd90286dade04e802d52dbc5",  # tests/fixtures/mini/study.yaml
    }
)
FINGERPRINT_LABEL = b"intervisie pseudonym key fingerprint v1"
FINGERPRINT_FILE = "key_fingerprint.json"
#: the parquet schema-metadata key under which each clean table carries its key's fingerprint
FINGERPRINT_METADATA = "intervisie.key_fingerprint"
DEMO_MANIFEST = "simulation_manifest.yaml"
HOW_TO_MAKE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def estimated_bits(key: str) -> float:
    """Return a conservative estimate of the key's entropy in bits.

    .. math:: \\hat H = n \\cdot \\min\\bigl(H(c_1..c_n),\\; H(c_2 - c_1, \\dots, c_n - c_{n-1})\\bigr)

    where :math:`H` is the Shannon entropy (bits per symbol) of the empirical distribution of
    the characters, respectively of the steps between consecutive code points, and :math:`n`
    the length.  The character term refuses few distinct characters (32 ``a``: 0 bits;
    ``abab…``: 32 bits); the step term refuses runs and repeated patterns of many characters
    (``abcdefgh…``: about 7 bits; ``0123456789`` four times: about 16 bits).  A random key
    from an alphabet of 64 symbols scores close to :math:`n \\log_2 \\min(n, 64)` minus the
    small-sample bias (``secrets.token_urlsafe(32)``: mean 208, smallest of 100,000 draws 183).
    Reference: Shannon (1948), "A mathematical theory of communication".
    """
    if len(key) < 2:
        return 0.0
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(key)]
    return len(key) * min(_shannon(key), _shannon(steps))


def _shannon(symbols: Iterable[object]) -> float:
    counts = Counter(symbols)
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


def _period(key: str) -> int:
    """Return the length of the shortest block whose repetition makes the key (its length if none)."""
    for p in range(1, len(key) // 2 + 1):
        if all(key[i] == key[i - p] for i in range(p, len(key))):
            return p
    return len(key)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_problem(key: str) -> str | None:
    """Return why a key from the environment is refused, or ``None`` when it is good enough."""
    if key != key.strip():
        return (
            "starts or ends with whitespace (a space, tab, \\r or \\n, often from a file or a copied line); "
            "it is refused, not stripped, because a stripped key is a different key"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in key):
        return "contains control or invisible characters"
    if len(key) < MIN_KEY_LENGTH:
        return f"is {len(key)} characters long; at least {MIN_KEY_LENGTH} are needed"
    if PUBLISHED_MARKER in key.casefold() or _sha256(key) in PUBLISHED_KEY_SHA256:
        return "is a published demo key, known to anyone with a copy of the pipeline"
    if _period(key) <= len(key) // 2:
        return f"repeats a block of {_period(key)} character(s)"
    bits = estimated_bits(key)
    if bits < MIN_KEY_BITS:
        return (
            f"is too predictable: about {bits:.0f} bits by the pipeline's estimate (characters and the steps "
            f"between them), at least {MIN_KEY_BITS:.0f} are needed"
        )
    return None


def check_key(key: str) -> bytes:
    """Return the key as bytes, or raise :class:`PrivacyError` saying what is wrong and how to make one."""
    problem = key_problem(key)
    if problem:
        raise PrivacyError(
            f"{KEY_VARIABLE} {problem}. Make a key with: {HOW_TO_MAKE} and keep it outside the repository "
            "(see README, 'Running a real study'). The key itself is never printed."
        )
    return key.encode("utf-8")


def fingerprint(key: bytes) -> str:
    """Return the key's fingerprint: ``HMAC-SHA256(key, FINGERPRINT_LABEL)``, first 16 hex digits.

    The fingerprint names a key without revealing it: finding the key from it is as hard as
    finding the key from any pseudonym.
    """
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes (read in blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def demo_data_problem(study_dir: Path, files: Mapping[str, str]) -> str | None:
    """Return why the files of a ``demo: true`` study are not the simulator's, or ``None`` when they are.

    ``files`` maps each source's name in study.yaml to its file (relative to ``study_dir``);
    every file must appear in :data:`DEMO_MANIFEST` with the SHA-256 of its bytes.  Messages
    name the source, never the file: a file's name on disk may hold a person's name.
    """
    manifest_path = study_dir / DEMO_MANIFEST
    if not manifest_path.is_file():
        return f"there is no {DEMO_MANIFEST} beside study.yaml (only `intervisie simulate` writes the demo data)"
    try:
        manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return f"{DEMO_MANIFEST} cannot be read"
    listed = manifest.get("files") if isinstance(manifest, Mapping) else None
    if not isinstance(listed, Mapping):
        return f"{DEMO_MANIFEST} lists no files"
    for label, name in files.items():
        entry = listed.get(Path(name).as_posix())
        expected = entry.get("sha256") if isinstance(entry, Mapping) else None
        if not expected:
            return f"the file of source '{label}' is not one the simulator wrote ({DEMO_MANIFEST} has no checksum for it)"
        path = study_dir / name
        if not path.is_file() or file_sha256(path) != expected:
            return f"the file of source '{label}' is not the one the simulator wrote (its SHA-256 differs from {DEMO_MANIFEST})"
    return None
