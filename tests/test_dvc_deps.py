"""Every DVC stage declares exactly the project modules its command imports.

A stage that reads an undeclared module would not rerun when that module changes; a stage
that declares modules it does not use reruns for nothing.  The command of each stage is run
under ``python -X importtime``-like inspection: a fresh interpreter imports the CLI and the
modules the sub-command imports, and the project modules it ends up with are compared with
the ``deps`` of the stage.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]

#: the module each ``intervisie`` sub-command imports to do its work (see intervisie/cli.py)
COMMAND_MODULES = {
    "design": ["intervisie.stages.design"],
    "ingest": ["intervisie.stages.ingest"],
    "score": ["intervisie.stages.score"],
    "careless": ["intervisie.stages.careless"],
    "analyze quality": ["intervisie.stages.common"],
    "analyze reliability": ["intervisie.stages.short_term"],
    "analyze change": ["intervisie.stages.short_term"],
    "analyze invariance": ["intervisie.stages.invariance"],
    "analyze growth": ["intervisie.stages.growth"],
    "analyze implementation": ["intervisie.stages.implementation"],
    "analyze power": ["intervisie.stages.power"],
    "analyze sensitivity": ["intervisie.stages.sensitivity"],
    "analyze survival": ["intervisie.stages.survival"],
    "analyze mediation": ["intervisie.stages.mediation"],
    "expectations validate": ["pipeline.expectations_run"],
    "plan": ["intervisie.stages.plan", "intervisie.stages.plan_inputs", "pipeline.plan_file"],
    # the renderer, and the modules the documents' cells import in their Jupyter kernel
    "report": ["reporting.render", "reporting.board", "reporting.handout", "reporting.appendix", "reporting.provenance"],
}

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
mods = sorted(m for m in sys.modules if m.split('.')[0] in ('intervisie', 'pipeline', 'analyses', 'reporting'))
print(json.dumps([sys.modules[m].__file__ for m in mods]))
"""


def _command(cmd: str) -> str:
    words = cmd.split()
    return " ".join(words[1:3]) if words[1] in ("analyze", "expectations") else words[1]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_declares_the_modules_it_imports(stage: str) -> None:
    spec = STAGES[stage]
    command = _command(spec["cmd"])
    assert command in COMMAND_MODULES, f"add the modules of `intervisie {command}` to COMMAND_MODULES"
    modules = ["intervisie.cli", *COMMAND_MODULES[command]]
    out = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, check=True, cwd=ROOT)
    imported = {str(Path(f).resolve().relative_to(ROOT)) for f in json.loads(out.stdout)}
    declared = {d for d in spec["deps"] if d.endswith(".py")}
    assert declared == imported, {"undeclared": sorted(imported - declared), "unused": sorted(declared - imported)}


def imported_modules(stage: str) -> list[str]:
    """The project modules the command of ``stage`` imports (paths relative to the project)."""
    modules = ["intervisie.cli", *COMMAND_MODULES[_command(STAGES[stage]["cmd"])]]
    out = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, check=True, cwd=ROOT)
    return sorted(str(Path(f).resolve().relative_to(ROOT)) for f in json.loads(out.stdout))


def rewrite_deps(path: Path) -> None:
    """Rewrite the module deps (``*.py``) of every stage in ``dvc.yaml`` to what its command imports.

    A developer's tool (``python -m tests.test_dvc_deps``): the test above then passes.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    stage = None
    in_deps = False
    for line in lines:
        stripped = line.strip()
        if line.startswith("  ") and not line.startswith("   ") and stripped.endswith(":"):
            stage = stripped[:-1]
        if stripped == "deps:":
            in_deps = True
            out.append(line)
            continue
        if in_deps and stripped.startswith("- ") and stripped.endswith(".py"):
            continue
        if in_deps and not stripped.startswith("- "):
            indent = " " * (len(out[-1]) - len(out[-1].lstrip())) if out[-1].strip().startswith("- ") else "      "
            out.extend(f"{indent}- {m}" for m in imported_modules(stage))
            in_deps = False
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    rewrite_deps(ROOT / "dvc.yaml")
