"""Run R on data from a test and read its results back, or skip the test with the reason.

R is the reference for the mixed-model engine (lme4, lmerTest, pbkrtest, emmeans). CI installs
it from Debian (``.ci/run``); where it is missing, tests that need it are skipped with a visible
reason (``pytest -ra`` lists it), never silently passed.

Usage::

    out = run_r("m <- lmer(y ~ x + (1 | g), data = d); out$beta <- fixef(m)", df)

The data frame is written to a temporary CSV at full precision and read as ``d`` (pandas
Categorical columns become R factors with the same levels, in the same order); the script
fills the list ``out``, which comes back through jsonlite as a dict.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

R_PACKAGES: tuple[str, ...] = ("lme4", "lmerTest", "jsonlite")
DEBIAN_PACKAGES = "r-base-core r-cran-lme4 r-cran-lmertest r-cran-pbkrtest r-cran-emmeans r-cran-jsonlite r-cran-sandwich r-cran-clubsandwich"


@functools.cache
def r_missing(packages: tuple[str, ...] = R_PACKAGES) -> str | None:
    """Why R cannot be used for ``packages``, or None when it can."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return f"Rscript not found on PATH (apt-get install {DEBIAN_PACKAGES})"
    probe = (
        "p <- c(" + ", ".join(f'"{p}"' for p in packages) + "); "
        "ok <- vapply(p, requireNamespace, logical(1), quietly = TRUE); "
        "cat(p[!ok], sep = ' '); quit(status = 0)"
    )
    try:
        done = subprocess.run(
            [rscript, "--vanilla", "-e", probe], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Rscript could not run: {exc}"
    if done.returncode != 0:
        return f"Rscript failed: {done.stderr.strip()[-300:]}"
    if done.stdout.strip():
        return f"R package(s) missing: {done.stdout.strip()} (apt-get install {DEBIAN_PACKAGES})"
    return None


def require_r(packages: tuple[str, ...] = R_PACKAGES) -> None:
    """Skip the calling test, with the reason, unless R has ``packages``."""
    reason = r_missing(tuple(packages))
    if reason is not None:
        label = "/".join(p for p in packages if p != "jsonlite") or "R"
        pytest.skip(f"R with {label} is not installed: {reason}")


def _factor_lines(name: str, frame: pd.DataFrame) -> list[str]:
    lines = []
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            levels = ", ".join(json.dumps(str(v)) for v in frame[col].cat.categories)
            lines.append(f"{name}${col} <- factor({name}${col}, levels = c({levels}))")
    return lines


def run_r(
    script: str,
    data: pd.DataFrame | dict[str, pd.DataFrame],
    *,
    packages: tuple[str, ...] = R_PACKAGES,
    timeout: float = 600,
) -> Any:
    """Run ``script`` with ``Rscript --vanilla`` on ``data`` and return the list ``out`` it fills.

    Parameters
    ----------
    script : str
        R code; the data are in ``d`` (or in variables named by the keys of a dict of frames).
        It must assign results to the list ``out``.
    data : DataFrame or dict of str to DataFrame
    packages : tuple of str
        Packages attached before the script runs (and whose absence skips the test).
    timeout : float
        Seconds before the R process is stopped (the test then fails).

    Raises
    ------
    RuntimeError
        If R exits with an error (its stderr is in the message).
    """
    require_r(packages)
    frames = {"d": data} if isinstance(data, pd.DataFrame) else dict(data)
    with tempfile.TemporaryDirectory(prefix="r_reference_") as tmp:
        root = Path(tmp)
        lines = [
            "options(warn = 1)",
            "suppressPackageStartupMessages({" + "; ".join(f"library({p})" for p in packages) + "})",
        ]
        for name, frame in frames.items():
            path = root / f"{name}.csv"
            frame.to_csv(path, index=False, float_format="%.17g")
            lines.append(f"{name} <- read.csv({json.dumps(str(path))}, stringsAsFactors = FALSE)")
            lines.extend(_factor_lines(name, frame))
        out_path = root / "out.json"
        lines += [
            "out <- list()",
            script,
            f"jsonlite::write_json(out, {json.dumps(str(out_path))}, digits = NA, auto_unbox = TRUE, na = 'null')",
        ]
        (root / "script.R").write_text("\n".join(lines) + "\n", encoding="utf-8")
        done = subprocess.run(
            ["Rscript", "--vanilla", str(root / "script.R")],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"R failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(out_path.read_text(encoding="utf-8"))
