"""Atomic writes: an output appears whole or not at all, so DVC never trusts a half-written file.

A stage that is stopped also stops cleanly: :func:`stop_with_dvc` (called once when the command
starts) turns SIGTERM and SIGHUP into :class:`Terminated`, so ``finally`` blocks remove
temporary files and end child processes (Jupyter kernels, Pandoc), and, under ``dvc repro``,
ends the stage when the DVC process that started it is gone.  A stage killed with SIGKILL cannot
clean up; the temporary file it leaves (``.<name>.<pid>-<random>.tmp``, beside its target) is
removed by the next write of that target (:func:`sweep_stale`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pandas as pd

#: temporary files of unknown owner (an older naming) are stale after this many seconds
STALE_SECONDS = 3600
#: how often the watcher looks whether the DVC process is still there
POLL_SECONDS = 0.5
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "fish", "busybox"})
_WATCHING: list[tuple[int, str | None]] = []  # the process watched (once per process)


class Terminated(SystemExit):
    """The process was asked to stop (SIGTERM, SIGHUP, or its ``dvc repro`` ended); exit code 128 + signal."""


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` in one step.

    The temporary file lives in the same directory (so ``os.replace`` is atomic on POSIX),
    carries this process's id in its name, and is removed when the block raises or the process
    is stopped (SIGTERM, SIGINT) before the rename.  Temporaries of ``target`` left by a process
    that no longer exists (killed with SIGKILL) are removed first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent)
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


def sweep_stale(target: Path) -> list[Path]:
    """Remove the temporary files of ``target`` whose writing process is gone; return them.

    A name ``.<target>.<pid>-<random>.tmp`` is stale when no process ``pid`` exists (a live
    process with a reused id keeps its file until it is gone); a name without a process id is
    stale after :data:`STALE_SECONDS`.
    """
    removed = []
    prefix = f".{target.name}."
    for path in target.parent.glob(f"{glob_escape(prefix)}*.tmp"):
        owner = path.name[len(prefix) :].split("-", 1)[0]
        if owner.isdigit():
            stale = not _alive(int(owner))
        else:
            with contextlib.suppress(OSError):
                stale = time.time() - path.stat().st_mtime > STALE_SECONDS
        if stale:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def glob_escape(text: str) -> str:
    """Escape the glob characters of a file name (``*``, ``?``, ``[``)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_with(target: Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result to ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)


def write_text(target: Path, text: str) -> None:
    """Write UTF-8 text atomically (``\\n`` line ends on every platform)."""
    write_with(target, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"))


def write_parquet(target: Path, frame: pd.DataFrame, metadata: Mapping[str, str] | None = None) -> None:
    """Write a data frame as parquet atomically, without the index, byte-for-byte reproducibly.

    ``metadata`` (text keys and values) is added to the file's schema metadata, where
    :func:`read_parquet_metadata` finds it (the clean tables carry their key's fingerprint).
    """
    if not metadata:
        write_with(target, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd"))
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    extra = {k.encode("utf-8"): v.encode("utf-8") for k, v in sorted(metadata.items())}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    write_with(target, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def read_parquet_metadata(path: Path) -> dict[str, str]:
    """Return the text schema metadata of a parquet file (without reading its rows)."""
    import pyarrow.parquet as pq

    found = pq.read_schema(path).metadata or {}
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in found.items()}


def _umask() -> int:
    """Return the process umask (reading it requires setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- stopping cleanly


def stop_with_dvc(environ: Mapping[str, str] | None = None) -> None:
    """Make this process stop cleanly when asked to, and not outlive the ``dvc repro`` that started it.

    SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (SIGINT already raises
    ``KeyboardInterrupt``), so ``finally`` blocks and context managers run: temporary files are
    removed and child processes ended.  A second signal during that clean-up ends the process at
    once.  When DVC started the command (``DVC_STAGE`` in the environment), a daemon thread
    watches the DVC process (the nearest ancestor that is not a shell) and sends this process
    SIGTERM when it is gone, whatever ended it (SIGTERM, SIGKILL, a closed terminal).  Call it
    from the main thread.
    """
    env = os.environ if environ is None else environ
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)
    if "DVC_STAGE" in env and os.name == "posix" and not _WATCHING:
        _WATCHING.append(_dvc_ancestor())
        threading.Thread(target=_watch, args=(_WATCHING[0],), name="stop-with-dvc", daemon=True).start()


def _terminate(signum: int, _frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process without clean-up
    raise Terminated(128 + signum)


def _proc_stat(pid: int) -> tuple[str, int, str] | None:
    """Return (command name, parent id, start time) of a process from /proc; None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # ended, not yet reaped by its parent
        return None
    return name, int(fields[1]), fields[19]


def _dvc_ancestor() -> tuple[int, str | None]:
    """Return the id (and start time, where /proc exists) of the nearest ancestor that is not a shell."""
    pid = os.getppid()
    started = None
    for _ in range(8):
        stat = _proc_stat(pid)
        if stat is None:
            return pid, None
        name, parent, started = stat
        if name not in _SHELLS or parent <= 1:
            break
        pid = parent
    return pid, started


def _watch(watched: tuple[int, str | None]) -> None:
    pid, started = watched
    while True:
        time.sleep(POLL_SECONDS)
        if started is not None:
            stat = _proc_stat(pid)
            gone = stat is None or stat[2] != started
        else:
            gone = not _alive(pid)
        if gone:
            os.kill(os.getpid(), signal.SIGTERM)
            return
