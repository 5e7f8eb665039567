"""Parts of ``benchmarks.pipeline``: the stage commands' import times and the growth model vs lmerTest.

``import_times``: for each stage command ``intervisie ...``, the modules it loads (``intervisie.cli``
and every module the command's click callbacks import when they run, read from their source) are
imported by a fresh interpreter (``python -P``: nothing but the installed packages on the path, as
the ``intervisie`` script runs); the time of the imports inside it (``import_s``) and of the whole
process, start-up included (``process_s``), best of ``repeat``.

``reference_fits``: the growth stage's model of the first primary outcome, on the model frame the
stage fits (``analyses.growth.growth_data`` on ``intervisie.stages.common.analysis_scores``, the
random structure the stage accepted: ``structure`` in its ``effects.csv``), fitted by
``analyses.mixed.MixedModel`` in this process and by ``lmerTest::lmer`` + ``summary`` (Satterthwaite
df) in R, timed inside R with ``system.time``; the best of ``repeat`` after one warm-up each side.
"""

from __future__ import annotations

import ast
import inspect
import json
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

CHILD = "import sys, time\nt = time.perf_counter()\nimport importlib\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\nprint(time.perf_counter() - t)"

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
spec <- fromJSON(commandArgs(trailingOnly = TRUE)[1])
classes <- setNames(rep("character", length(spec$strings)), spec$strings)
d <- read.csv(spec$csv, colClasses = classes)
for (name in names(spec$factors)) d[[name]] <- factor(d[[name]], levels = spec$factors[[name]])
form <- as.formula(spec$formula)
m <- lmerTest::lmer(form, data = d); s <- summary(m, ddf = "Satterthwaite")  # warm-up
t <- replicate(spec$repeat_n, system.time({m <- lmerTest::lmer(form, data = d); s <- summary(m, ddf = "Satterthwaite")})[["elapsed"]])
cs <- coef(s); v <- as.data.frame(VarCorr(m))
out <- list(lmertest_s = min(t), term = rownames(cs), estimate = unname(cs[, 1]), std_error = unname(cs[, 2]),
            df = unname(cs[, 3]), variance = v$vcov, loglik = as.numeric(logLik(m)), remlcrit = REMLcrit(m),
            r_version = R.version.string, lme4 = as.character(packageVersion("lme4")),
            lmerTest = as.character(packageVersion("lmerTest")))
write_json(out, spec$out, digits = NA, auto_unbox = TRUE)
"""


def command_modules(tokens: list[str]) -> list[str]:
    """The modules ``intervisie <tokens>`` imports: ``intervisie.cli`` and those its callbacks import.

    The callbacks are those of the group and subcommands ``tokens`` names (up to the first option);
    their source is read for ``import`` statements (every branch counted).
    """
    import click

    from intervisie.cli import cli

    command: click.Command = cli
    callbacks = [cli.callback]
    for token in tokens:
        if token.startswith("-") or not isinstance(command, click.Group) or token not in command.commands:
            break
        command = command.commands[token]
        callbacks.append(command.callback)
    modules = ["intervisie.cli"]
    for callback in callbacks:
        if callback is None:
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(callback))))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.append(node.module)
    return list(dict.fromkeys(modules))


def import_times(stages: list[tuple[str, str]], repeat: int) -> dict[str, dict[str, Any]]:
    """Per stage: the modules its command imports, ``import_s`` and ``process_s`` (best of ``repeat``)."""
    out: dict[str, dict[str, Any]] = {}
    for name, cmd in stages:
        tokens = shlex.split(cmd)
        if tokens[0] != "intervisie":
            out[name] = {"import_s": None, "note": f"not an intervisie command: {tokens[0]}"}
            continue
        modules = command_modules(tokens[1:])
        inside, whole = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-P", "-c", CHILD, *modules], capture_output=True, text=True, check=True
            )
            whole.append(time.perf_counter() - start)
            inside.append(float(done.stdout.strip()))
        out[name] = {"modules": modules, "import_s": round(min(inside), 3), "process_s": round(min(whole), 3)}
    return out


def growth_frame(copy: Path, growth_cmd: str) -> tuple[str, str, Any]:
    """``(outcome, formula, frame)``: the growth stage's accepted model of the first primary outcome and its data."""
    from analyses.growth import growth_data
    from analyses.mixed import MixedModel
    from intervisie.stages.common import DESIGN_FILE, analysis_scores, load_analysis_params

    tokens = shlex.split(growth_cmd)

    def option(name: str, default: str) -> Path:
        return copy / (tokens[tokens.index(name) + 1] if name in tokens else default)

    import pandas as pd

    clean = option("--clean", "data_clean")
    params = load_analysis_params(option("--params", "params.yaml"), clean / DESIGN_FILE)
    outcome = params.primary[0]
    effects = pd.read_csv(option("--out", "results/growth") / "effects.csv")
    structure = effects.loc[effects["outcome"] == outcome, "structure"].dropna()
    if not len(structure):
        raise LookupError(f"the growth stage fitted no model of {outcome}")
    _participants, scores = analysis_scores(clean, params)
    data = growth_data(scores, outcome, params.design.programme_ids)
    formula = str(structure.iloc[0])
    return outcome, formula, data[MixedModel(formula).parsed.variables]


def time_engine(formula: str, frame: Any, repeat: int) -> tuple[float, Any]:
    """Best wall time of ``MixedModel(formula).fit(frame)`` after a warm-up, and the last model."""
    from analyses.mixed import MixedModel

    model = MixedModel(formula).fit(frame)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        model = MixedModel(formula).fit(frame)
        best = min(best, time.perf_counter() - start)
    return best, model


def time_lmertest(formula: str, frame: Any, repeat: int) -> dict[str, Any]:
    """lmerTest ``lmer`` + ``summary`` on the same frame in one R process; best elapsed time and tables."""
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        csv, out, script = Path(tmp, "frame.csv"), Path(tmp, "out.json"), Path(tmp, "fit.R")
        frame.to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_SCRIPT, encoding="utf-8")
        factors = {c: list(map(str, frame[c].cat.categories)) for c in frame if isinstance(frame[c].dtype, pd.CategoricalDtype)}
        strings = [c for c in frame if frame[c].dtype == object and c not in factors]
        spec = {"csv": str(csv), "out": str(out), "formula": formula, "factors": factors, "strings": strings}
        spec["repeat_n"] = repeat
        done = subprocess.run(
            ["Rscript", "--vanilla", str(script), json.dumps(spec)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"R failed:\n{done.stderr[-2000:]}")
        return json.loads(out.read_text(encoding="utf-8"))


def reference_fits(copy: Path, growth_cmd: str, repeat: int, *, with_r: bool) -> dict[str, Any]:
    """The engine against lmerTest on the growth stage's model frame of one study copy (R only ``with_r``)."""
    from benchmarks.mixed import compare

    try:
        outcome, formula, frame = growth_frame(copy, growth_cmd)
    except (OSError, LookupError, ValueError) as exc:
        return {"note": f"no model frame: {type(exc).__name__}: {exc}"}
    engine_s, model = time_engine(formula, frame, repeat)
    out: dict[str, Any] = {"outcome": outcome, "formula": formula, "rows": len(frame), "engine_s": round(engine_s, 4)}
    out["participants"] = int(frame["participant"].nunique()) if "participant" in frame else None
    if with_r:
        try:
            r = time_lmertest(formula, frame, repeat)
        except RuntimeError as exc:
            return {**out, "note": str(exc)[-500:]}
        out |= {"lmertest_s": round(r["lmertest_s"], 4), "r": {k: r[k] for k in ("r_version", "lme4", "lmerTest")}}
        out["ratio"] = round(engine_s / r["lmertest_s"], 3) if r["lmertest_s"] > 0 else None
        try:
            out["max_rel_diff"] = {k: float(f"{v:.3g}") for k, v in compare(model, r).items()}
        except (KeyError, ValueError) as exc:
            out["max_rel_diff"] = f"not comparable: {exc}"
    return out


def format_reference(runs: list[dict[str, Any]], note: str | None) -> str:
    """A Markdown table of the reference fits per scale (the R columns empty with ``note``)."""
    head = ["scale", "outcome", "rows", "engine s", "lmerTest s", "engine / R", "max rel. diff (estimate, SE, df)"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for run in runs:
        ref = run.get("reference") or {}
        diffs = ref.get("max_rel_diff")
        text = ", ".join(f"{diffs[k]:.1e}" for k in ("estimate", "std_error", "df")) if isinstance(diffs, dict) else "-"
        cells = [f"{run['scale']:g}x", ref.get("outcome", "-"), ref.get("rows", "-"), ref.get("engine_s", "-")]
        cells += [ref.get("lmertest_s", "-"), ref.get("ratio", "-"), text]
        lines.append(" | ".join(map(str, cells)))
        if ref.get("note"):
            lines.append(f"note ({run['scale']:g}x): {ref['note']}")
    formulas = {ref["formula"] for run in runs if (ref := run.get("reference")) and "formula" in ref}
    lines += [f"model: {f}" for f in sorted(formulas)]
    if note:
        lines.append(f"note: {note}; the R column is left empty")
    return "\n".join(lines)
