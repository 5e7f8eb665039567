"""Raw files stay inside the study folder: relative paths, regular files, a size limit.

A study description names its files relative to the folder of its ``study.yaml``
(:func:`check_relative`, used when study.yaml is read).  Before a reader opens a file,
:func:`check_regular_file` looks at it with ``stat`` (never ``open``, which would block on a
named pipe or read a device without end): it must be a regular file, reached through links
that stay inside the study folder, and no larger than the source's ``max_megabytes``.
Messages name the file and the rule, never the file's content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from pipeline.errors import UnreadableFileError

#: the default size limit of one raw file (``max_megabytes`` of a source in study.yaml)
DEFAULT_MAX_MEGABYTES = 200
MEGABYTE = 1_000_000

_KINDS = (
    (stat.S_ISDIR, "a folder, not a file"),
    (stat.S_ISFIFO, "a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "a device, not a regular file"),
    (stat.S_ISBLK, "a device, not a regular file"),
    (stat.S_ISSOCK, "a socket, not a regular file"),
)


def check_relative(file: str) -> str:
    """Return ``file`` if it is a relative path inside the study folder, else raise ``ValueError``.

    Refused: an empty path or ``.``, an absolute path (``/etc/passwd``, ``C:\\data``, ``\\\\server``),
    and any path with a ``..`` part (``../outside/roster.xlsx``).
    """
    text = file.strip()
    if text != file or not text:
        raise ValueError("must name a file in the study folder, without surrounding spaces")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("holds a control character (a tab, a line break, a NUL byte); name the file as it is")
    posix, windows = PurePosixPath(text), PureWindowsPath(text)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root or text.startswith("~"):
        raise ValueError(
            f"{text!r} is an absolute path; name the file relative to the folder of study.yaml "
            "(e.g. `file: roster.xlsx`), and keep the study's raw files in that folder"
        )
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(
            f"{text!r} leaves the study folder (`..`); name a file inside the folder of study.yaml "
            "(copy the file into it)"
        )
    if not parts:
        raise ValueError(f"{text!r} is the study folder itself; name a file in it (e.g. `file: roster.xlsx`)")
    return text


def study_folder(path: Path, file: str) -> Path | None:
    """Return the study folder that ``path`` (the study folder joined with ``file``) lies in.

    ``None`` when ``path`` does not end with ``file`` (a reader called on a path of its own).
    """
    parts = PurePosixPath(file.replace("\\", "/")).parts
    if len(parts) > len(path.parts) or tuple(path.parts[-len(parts) :]) != tuple(parts):
        return None
    folder = path
    for _ in parts:
        folder = folder.parent
    return folder


def check_regular_file(path: Path, *, max_megabytes: float, folder: Path | None = None) -> int:
    """Check ``path`` before it is opened; return its size in bytes.

    Raises :class:`~pipeline.errors.UnreadableFileError` when the file does not exist, is a
    folder, a named pipe, a device or a socket, is a link that leads out of ``folder`` (the
    study folder, when known), is larger than ``max_megabytes`` or is empty.
    """
    try:
        info = os.stat(path)  # follows links: the kind and size of what would be read
    except FileNotFoundError:
        if os.path.lexists(path):
            raise UnreadableFileError(path, "it is a link to a file that does not exist") from None
        raise UnreadableFileError(path, "the file does not exist (check `file:` in study.yaml)") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or "not a valid file name"
        raise UnreadableFileError(path, f"the file cannot be looked at ({reason})") from None
    if folder is not None:
        real, root = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
        if real != root and root not in real.parents:
            raise UnreadableFileError(
                path, "it is a link to a file outside the study folder; copy the file into the folder of study.yaml"
            )
    for test, kind in _KINDS:
        if test(info.st_mode):
            raise UnreadableFileError(path, f"it is {kind} (check `file:` in study.yaml)")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFileError(path, "it is not a regular file (check `file:` in study.yaml)")
    limit = int(max_megabytes * MEGABYTE)
    if info.st_size > limit:
        raise UnreadableFileError(path, too_large(info.st_size, max_megabytes))
    if info.st_size == 0:
        raise UnreadableFileError(path, "the file is empty")
    return info.st_size


def too_large(size: int, max_megabytes: float, what: str = "the file") -> str:
    """The message for a file (or its unpacked content) over the size limit."""
    return (
        f"{what} is {size / MEGABYTE:,.1f} MB, more than the limit of {max_megabytes:g} MB per raw file; "
        "if the file is right, raise the limit with `max_megabytes:` for this source in study.yaml"
    )


def read_bytes(path: Path, size: int, max_megabytes: float) -> bytes:
    """Read a file checked by :func:`check_regular_file`, never more than the limit.

    The file is opened without blocking and checked again on the open handle, so a file
    swapped for a pipe or a device in between is refused, not read without end.
    """
    limit = int(max_megabytes * MEGABYTE)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UnreadableFileError(path, "it is not a regular file (check `file:` in study.yaml)")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnreadableFileError(path, too_large(max(len(data), size), max_megabytes))
    return data
