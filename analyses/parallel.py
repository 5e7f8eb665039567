"""Independent model fits in worker processes, with results identical to a serial run.

A stage that fits one model per outcome (growth, sensitivity, implementation) hands the
per-outcome function to :func:`map_ordered`.  The results come back in the order of the inputs,
whatever order the workers finish in, so the tables a stage writes are byte-identical to those of
a serial run: each task is a pure function of its arguments, computed with the same code and the
same numerical libraries in a forked copy of the calling process.  A task that raises stops the
map with that exception, as the serial loop would.

The number of workers is the caller's choice (``intervisie`` reads it from the environment
variable ``INTERVISIE_WORKERS``; default one per core); 1 or a single task runs in-process.
The tasks run with BLAS on one thread, in the workers and in a serial run alike: the number of
BLAS threads can change the last bits of a sum, so fixing it makes the results independent of the
number of workers and of the machine's cores; and BLAS threads of several worker processes
competing for the cores would slow the small matrix products of these fits down several times.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from threadpoolctl import threadpool_limits

T = TypeVar("T")
R = TypeVar("R")

#: the environment variable that sets the number of worker processes
WORKERS_VARIABLE = "INTERVISIE_WORKERS"


def workers_from(environ: dict[str, str] | os._Environ[str], *, cores: int | None = None) -> int:
    """Return the number of worker processes ``INTERVISIE_WORKERS`` asks for (default: one per core).

    Raises
    ------
    ValueError
        If the variable is set to something other than a whole number >= 1 (the message says how
        to fix it).
    """
    text = environ.get(WORKERS_VARIABLE, "").strip()
    if not text:
        return max(1, cores if cores is not None else (os.cpu_count() or 1))
    if not text.isdigit() or int(text) < 1:
        raise ValueError(
            f"{WORKERS_VARIABLE}={text!r} is not a number of worker processes: set a whole number >= 1 "
            f"(1 runs every model in the main process) or unset it (one worker per core)"
        )
    return int(text)


def map_ordered(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 1) -> list[R]:
    """Return ``[fn(item) for item in items]``, computed by up to ``workers`` forked processes.

    Parameters
    ----------
    fn : callable
        A module-level function (or :func:`functools.partial` of one) of one argument; it and its
        arguments and result must pickle.
    items : iterable
        The inputs, one task each.
    workers : int
        Worker processes; 1 (or at most one task, or a platform without ``fork``) runs serially.
        Either way BLAS runs on one thread while the tasks run.

    Returns
    -------
    list
        The results in the order of ``items``.
    """
    tasks: Sequence[T] = list(items)
    n = min(max(1, int(workers)), len(tasks))
    if n <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        with threadpool_limits(limits=1, user_api="blas"):
            return [fn(item) for item in tasks]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=n, mp_context=context, initializer=_one_blas_thread) as pool:
        return list(pool.map(fn, tasks))


def _one_blas_thread() -> None:
    """Limit a worker process's BLAS to one thread, for the life of the worker."""
    threadpool_limits(limits=1, user_api="blas")

