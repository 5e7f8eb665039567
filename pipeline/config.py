"""Reading a YAML file (or one section of it) into a pydantic model, reporting every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pipeline.errors import InputError

Model = TypeVar("Model", bound=BaseModel)


def load_yaml_model(path: Path, model: type[Model], what: str, *, section: str | None = None) -> Model:
    """Validate the YAML file at ``path`` (or its ``section``) as ``model``.

    Raises :class:`~pipeline.errors.InputError` naming the file (``what`` says what it is) and,
    for a schema violation, every offending key with its message, one per line.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"The {what} {path} cannot be read: {exc}") from exc
    prefix = ""
    if section is not None:
        data = (data or {}).get(section) if isinstance(data, dict | None) else data
        data = {} if data is None else data
        prefix = f"{section}."
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise InputError(f"The {what} {path} is not valid:\n" + "\n".join(lines)) from exc
