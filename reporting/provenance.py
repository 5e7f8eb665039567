"""The provenance block that ends every document: commit, data hashes, params, versions, date.

With it every number in a report can be traced: the git commit of the code, the MD5 hashes
``dvc.lock`` recorded for the raw data and for every result file (and whether the file read
now still has that hash), the researcher's choices in ``params.yaml``, the versions of the
software that computed and rendered the results, and the render date.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from pipeline.errors import InputError
from reporting import fmt

#: distributions whose versions are reported (analysis, then rendering)
PACKAGES = (
    "pandas", "numpy", "scipy", "statsmodels", "mixedlm", "pingouin", "lifelines", "pandera",
    "great-expectations", "matplotlib", "dvc", "pypandoc-binary", "typst", "nbclient",
)  # fmt: skip
#: the parts of dvc.lock whose hashes trace the data: raw inputs and finished results
DATA_PREFIXES = ("data_raw/", "results/")


def git_commit(repo: Path) -> tuple[str, bool]:
    """The commit checked out in ``repo`` and whether the working tree differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)", False
    return head.stdout.strip(), bool(status.stdout.strip())


def lock_hashes(lock_path: Path, *, skip_stage: str = "report") -> pd.DataFrame:
    """The data entries of ``dvc.lock``: ``stage``, ``path``, ``md5`` and ``current`` (does the file still match?).

    The entries of ``skip_stage`` (the stage rendering the documents) are left out: DVC writes
    them only after that stage has run, so while it runs they describe the previous run.

    ``current`` is ``True``/``False`` for files and missing for directories (DVC hashes
    those over a listing).  MD5 of the file bytes is the hash DVC 3 records for a file.
    """
    if not lock_path.is_file():
        raise InputError(f"{lock_path} is missing: run `dvc repro` once so the results have recorded hashes")
    # libyaml's loader when present: a large dvc.lock takes about a second with the pure-Python one
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    lock = yaml.load(lock_path.read_text(encoding="utf-8"), Loader=loader) or {}
    rows, seen = [], set()
    for stage, spec in (lock.get("stages") or {}).items():
        if stage == skip_stage:
            continue
        for entry in [*(spec.get("deps") or []), *(spec.get("outs") or [])]:
            path = str(entry.get("path", ""))
            if not path.startswith(DATA_PREFIXES) or path in seen:
                continue
            seen.add(path)
            md5 = str(entry.get("md5", ""))
            file = lock_path.parent / path
            current = None
            if not md5.endswith(".dir") and file.is_file():
                current = hashlib.md5(file.read_bytes(), usedforsecurity=False).hexdigest() == md5
            rows.append({"stage": stage, "path": path, "md5": md5, "current": current})
    return pd.DataFrame(rows, columns=["stage", "path", "md5", "current"])


def flat_params(params_path: Path, sections: tuple[str, ...] = ("analyses", "reports")) -> list[tuple[str, str]]:
    """The choices in ``params.yaml`` the results depend on, as ``(dotted.key, value)`` pairs."""
    data = yaml.safe_load(params_path.read_text(encoding="utf-8")) or {}
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}", inner)
        else:
            pairs.append((prefix, str(value)))

    for section in sections:
        if section in data:
            walk(section, data[section])
    return pairs


def versions() -> list[tuple[str, str]]:
    """Python and the installed versions of :data:`PACKAGES` (``not installed`` when absent)."""
    found = [("python", sys.version.split()[0])]
    for name in PACKAGES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            found.append((name, "not installed"))
    try:
        import pypandoc

        found.append(("pandoc", pypandoc.get_pandoc_version()))
    except (ImportError, OSError):
        found.append(("pandoc", "not found"))
    return found


LABELS = {
    "title": ("Herkomst van de cijfers", "Provenance"),
    "intro": (
        "Elk getal in dit document komt uit de resultaten hieronder; met deze gegevens is het te herleiden.",
        "Every number in this document comes from the results below; these details trace it.",
    ),
    "commit": ("Code (git-commit)", "Code (git commit)"),
    "dirty": ("met niet-vastgelegde wijzigingen", "with uncommitted changes"),
    "date": ("Datum van opmaak", "Render date"),
    "data": ("Gegevens (MD5 volgens dvc.lock)", "Data (MD5 as recorded in dvc.lock)"),
    "params": ("Keuzes (params.yaml)", "Choices (params.yaml)"),
    "software": ("Software", "Software"),
    "ok": ("klopt", "matches"),
    "differs": ("WIJKT AF", "DIFFERS"),
    "dir": ("map", "folder"),
    "file": ("bestand", "file"),
    "check": ("controle", "check"),
    "results_ok": (
        "De overige {n} resultaatbestanden hebben alle de hash die dvc.lock vastlegde (volledige lijst: methodebijlage).",
        "The other {n} result files all have the hash dvc.lock recorded (full list: methods appendix).",
    ),
}


def _plain(text: str) -> str:
    """Escape the characters markdown would read as markup (``*``, ``_``, brackets, ``|``)."""
    return re.sub(r"([*_\[\]|`<>])", r"\\\1", text)


def _label(key: str, lang: str) -> str:
    return LABELS[key][0 if lang == "nl" else 1]


def provenance_markdown(
    *, dvc_lock: str, params_file: str, render_date: str, lang: str = "nl", compact: bool = False
) -> str:
    """The provenance block as Pandoc markdown: a level-2 heading, the data hashes and the params.

    ``compact`` (short documents) lists only the raw input data and any result file that no
    longer matches its recorded hash, with one sentence for the rest, and prints the params as
    one paragraph instead of a table.
    """
    lock_path, params_path = Path(dvc_lock), Path(params_file)
    commit, dirty = git_commit(lock_path.parent)
    hashes = lock_hashes(lock_path)
    check = {True: _label("ok", lang), False: _label("differs", lang)}
    shown = hashes
    if compact:
        shown = hashes[hashes["path"].str.startswith("data_raw/") | hashes["current"].eq(False)]
    data_rows = [
        [f"`{r.path}`", f"`{r.md5}`", _label("dir", lang) if pd.isna(r.current) else check[bool(r.current)]]
        for r in shown.itertuples()
    ]
    rest = len(hashes) - len(shown)
    commit_text = f"`{commit}`" + (f" ({_label('dirty', lang)})" if dirty else "")
    parts = [
        f"## {_label('title', lang)} {{#provenance}}",
        _label("intro", lang),
        f"- **{_label('commit', lang)}:** {commit_text}\n- **{_label('date', lang)}:** {render_date}",
        f"**{_label('data', lang)}**",
        fmt.table([_label("file", lang), "MD5", _label("check", lang)], data_rows, align="lll", widths=[34, 30, 8]),
        *([_label("results_ok", lang).format(n=rest)] if rest else []),
        f"**{_label('params', lang)}**",
        (
            "; ".join(f"{_plain(k)} = {_plain(v)}" for k, v in flat_params(params_path))
            if compact
            else fmt.table(["", ""], [[f"`{k}`", _plain(v)] for k, v in flat_params(params_path)], align="ll", widths=[25, 50])
        ),
        f"**{_label('software', lang)}:** " + ", ".join(f"{name} {version}" for name, version in versions()),
    ]
    return "\n\n".join(parts) + "\n"
