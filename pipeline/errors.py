"""Errors that end a run with one clear paragraph instead of a traceback."""

from __future__ import annotations


class PipelineError(Exception):
    """A problem the user can fix; the CLI prints its message and exits with ``exit_code``."""

    exit_code = 2


class InputError(PipelineError):
    """A raw file or configuration that cannot be used as it is."""


class UnreadableFileError(InputError):
    """A raw file that cannot be read at all (missing, empty, binary, truncated, ...)."""

    def __init__(self, path: object, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"Cannot read {path}: {reason}")


class PrivacyError(PipelineError):
    """A run that would break the privacy rules (e.g. a real study without a key)."""
