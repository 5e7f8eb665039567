"""Atomic writes: an output appears whole or not at all, so DVC never trusts a half-written file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` in one step.

    The temporary file lives in the same directory (so ``os.replace`` is atomic on POSIX)
    and is removed when the block raises or the process is interrupted before the rename.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_with(target: Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result to ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)


def write_text(target: Path, text: str) -> None:
    """Write UTF-8 text atomically (``\\n`` line ends on every platform)."""
    write_with(target, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"))


def write_parquet(target: Path, frame: pd.DataFrame) -> None:
    """Write a data frame as parquet atomically, without the index, byte-for-byte reproducibly."""
    write_with(target, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd"))


def _umask() -> int:
    """Return the process umask (reading it requires setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
