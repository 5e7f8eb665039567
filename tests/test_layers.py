"""The layers of the project point down only: intervisie -> {pipeline, analyses, reporting}; analyses and
reporting -> pipeline; pipeline -> itself.

``intervisie/`` (the command line, the design choices and the DVC stage wiring) is the only layer that
knows about paths and stages; ``pipeline`` turns raw exports into clean tables (and holds the design and
the instrument library every layer reads), ``analyses`` turns clean tables into results and
``reporting`` results into documents. An import that runs back up (or sideways between analyses and
reporting) makes a layer depend on one it must not know.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
#: package -> the project packages it may import
ALLOWED = {
    "pipeline": {"pipeline"},
    "analyses": {"analyses", "pipeline"},
    "reporting": {"reporting", "pipeline"},
    "intervisie": {"intervisie", "pipeline", "analyses", "reporting"},
}


def project_imports(path: Path) -> set[str]:
    """The top-level project packages a module imports (anywhere in it, including inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_only(package: str) -> None:
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = project_imports(path) - ALLOWED[package]
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert not wrong, f"imports against the layers: {wrong}"


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from reporting.results import Results\n    import analyses.mixed\n", encoding="utf-8")
    assert project_imports(module) == {"reporting", "analyses"}
