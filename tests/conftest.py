"""How the test files share the cores (``make test`` runs them with pytest-xdist, ``--dist loadgroup``).

Each test file is one group, so its module-scoped fixtures (a simulated study, a pipeline run)
are built once, in one worker.  The files that use the one full ``dvc repro`` of the canary
project (``tests/hostile/project.py``, memoised per process) form a single group, so that run is
made once per test session rather than once per worker.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest


@functools.cache
def _uses_shared_run(path: Path) -> bool:
    """Whether a test file imports the shared canary project (``tests/hostile/project.py``)."""
    text = path.read_text(encoding="utf-8")
    return "tests.hostile.project" in text or "from tests.hostile import project" in text


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each test in the group of its file (or of the shared pipeline run)."""
    for item in items:
        group = "shared-pipeline-run" if _uses_shared_run(item.path) else item.path.name
        item.add_marker(pytest.mark.xdist_group(group))
