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

#: the module each ``intervisie`` sub-command imports to do its work (see pipeline/cli.py)
COMMAND_MODULES = {
    "ingest": ["pipeline.stages"],
    "score": ["pipeline.score_stage"],
    "careless": ["pipeline.careless_stage"],
    "analyze quality": ["analyses.stages"],
    "analyze reliability": ["analyses.short_term_stage"],
    "analyze change": ["analyses.short_term_stage"],
    "analyze growth": ["analyses.growth_stage"],
    "analyze implementation": ["analyses.implementation_stage"],
    "analyze power": ["analyses.power_stage"],
    "analyze sensitivity": ["analyses.sensitivity_stage"],
    "analyze survival": ["analyses.survival_stage"],
    "expectations validate": ["pipeline.expectations_run"],
    # the renderer, and the modules the documents' cells import in their Jupyter kernel
    "report": ["reporting.render", "reporting.board", "reporting.handout", "reporting.appendix", "reporting.provenance"],
}

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
mods = sorted(m for m in sys.modules if m.split('.')[0] in ('pipeline', 'analyses', 'reporting'))
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
    modules = ["pipeline.cli", *COMMAND_MODULES[command]]
    out = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, check=True, cwd=ROOT)
    imported = {str(Path(f).resolve().relative_to(ROOT)) for f in json.loads(out.stdout)}
    declared = {d for d in spec["deps"] if d.endswith(".py")}
    assert declared == imported, {"undeclared": sorted(imported - declared), "unused": sorted(declared - imported)}
