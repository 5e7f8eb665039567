"""Keys for tests, and turning a copied demo-like study into a real one that needs a key.

``demo: true`` with a study's published key is accepted only on the simulator's own files
(pipeline/keys.py); a test that edits a copy of a study, or runs a hand-made one, runs it as a
real study (``demo: false``) with :data:`TEST_KEY` in the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.keys import KEY_VARIABLE

#: a key that passes every rule of pipeline.keys (made with secrets.token_urlsafe(32)); public, tests only
TEST_KEY = "t9Qm2xV7bK4rZp1LwN8sHc3yJd6fGa0uEo5iRkT-_Xe"


def non_demo(study_dir: Path) -> Path:
    """Make the study in ``study_dir`` a real one: ``demo: false`` and no published key (edits study.yaml)."""
    path = study_dir / "study.yaml"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "demo_pseudonym_key" not in line]
    path.write_text("\n".join(lines).replace("demo: true", "demo: false") + "\n", encoding="utf-8")
    return study_dir


@pytest.fixture(scope="module", autouse=True)
def key_in_environment() -> Iterator[None]:
    """Autouse in a module that imports it: :data:`TEST_KEY` in the environment for the whole module.

    For modules that run the hand-made mini study (tests/fixtures/mini, ``demo: false``); a test
    that needs no key removes it with ``monkeypatch.delenv`` (restored after the test).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_VARIABLE, TEST_KEY)
        yield
