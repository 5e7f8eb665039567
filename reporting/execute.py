"""Running the code cells of a Quarto document with Jupyter, as ``quarto render`` does.

The parsed document becomes an ``nbformat`` notebook; the parameters given on the command
line are injected in a new cell right after the cell tagged ``parameters`` (Quarto follows
the papermill convention: tag ``injected-parameters``; at the top when no cell is tagged);
``nbclient`` executes it in the ``python3`` kernel; the outputs are turned back into Pandoc
markdown following the Quarto cell options ``echo``, ``output`` (``false`` / ``asis``),
``warning``, ``label`` and ``fig-cap``.

References: Quarto, "Parameters" and "Execution options"; papermill, "Parameterize"
(https://papermill.readthedocs.io/en/latest/usage-parameterize.html).
"""

from __future__ import annotations

import base64
import re
import signal
import threading
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from pipeline.atomic import Terminated, write_with
from pipeline.errors import InputError
from reporting.qmd import Markdown, QmdDocument

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: the cell options the fallback understands, with Quarto's defaults for a report
DEFAULT_OPTIONS = {"echo": True, "output": True, "warning": True, "include": True}


def to_notebook(doc: QmdDocument, parameters: Mapping[str, object]) -> nbformat.NotebookNode:
    """Build the notebook of ``doc`` with ``parameters`` injected after the ``parameters`` cell.

    Markdown chunks become markdown cells (kept for position only); each code cell carries its
    Quarto options in ``metadata.quarto`` so the outputs can be turned back into markdown.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = []
    injected = False
    for chunk in doc.chunks:
        if isinstance(chunk, Markdown):
            cells.append(nbformat.v4.new_markdown_cell(chunk.text))
            continue
        cell = nbformat.v4.new_code_cell(chunk.source)
        cell.metadata["quarto"] = dict(chunk.options)
        cell.metadata["tags"] = chunk.tags
        cells.append(cell)
        if "parameters" in chunk.tags and parameters and not injected:
            cells.append(_injected_cell(parameters))
            injected = True
    if parameters and not injected:
        cells.insert(0, _injected_cell(parameters))
    nb.cells = cells
    return nb


def execute(nb: nbformat.NotebookNode, *, cwd: Path, timeout: int = 1800) -> nbformat.NotebookNode:
    """Execute every code cell in a fresh ``python3`` kernel started in ``cwd``.

    The kernel never outlives the run: when the process is stopped (SIGTERM, SIGINT, or its
    ``dvc repro`` ending, :func:`pipeline.atomic.stop_with_dvc`) while a cell runs, ``nbclient``
    shuts the kernel down and this raises :class:`~pipeline.atomic.Terminated`; the signal
    handlers in place before the run are restored after it.  A process killed with SIGKILL
    cannot clean up; its kernel notices that its parent is gone and ends within about a second
    (ipykernel's parent poller, ``JPY_PARENT_PID``).

    Raises
    ------
    InputError
        When a cell raises; the message names the cell's first line and the error.
    Terminated
        When the process was asked to stop while the notebook ran.
    """
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    saved = _signal_handlers()
    try:
        client.execute()
    except CellExecutionError as exc:
        if _stopped(client):
            raise Terminated(128 + signal.SIGTERM) from None
        plain = _ANSI.sub("", str(exc))
        raise InputError(f"a code cell of the report failed:\n{plain}") from None
    except Exception:
        if _stopped(client):  # nbclient shut the kernel down on SIGTERM/SIGINT; the run ends here
            raise Terminated(128 + signal.SIGTERM) from None
        raise
    finally:
        _restore(saved)
        _end_kernel(client)
    return nb


def _signal_handlers() -> dict[int, object]:
    """Return the current SIGINT/SIGTERM handlers (nbclient replaces them while it runs)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(saved: dict[int, object]) -> None:
    for sig, handler in saved.items():
        if handler is not None:
            signal.signal(sig, handler)  # type: ignore[arg-type]


def _stopped(client: NotebookClient) -> bool:
    """True when nbclient's own SIGINT/SIGTERM handler ran (it schedules the kernel's clean-up)."""
    return getattr(client, "_async_cleanup_kernel_future", None) is not None


def _end_kernel(client: NotebookClient) -> None:
    """Kill the kernel if it is still running (it runs in its own session, so signals to us miss it)."""
    manager = client.km
    provisioner = getattr(manager, "provisioner", None) if manager is not None else None
    process = getattr(provisioner, "process", None)
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def to_markdown(
    nb: nbformat.NotebookNode,
    *,
    defaults: Mapping[str, object],
    figure_dir: Path,
    stem: str,
    link_dir: str | None = None,
) -> str:
    """Turn an executed notebook into Pandoc markdown (figures written to ``figure_dir``).

    Figures are linked as ``link_dir/<file>`` when given (a path relative to the output, as
    Quarto's ``<name>_files/``), else by their full path.

    ``defaults`` are the document's ``execute`` options (front matter / ``_quarto.yml``),
    which each cell's own ``#|`` options override.
    """
    parts: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        if "injected-parameters" in cell.metadata.get("tags", []):
            continue
        options = {**DEFAULT_OPTIONS, **defaults, **cell.metadata.get("quarto", {})}
        if options["include"] is False:
            continue
        if options["echo"] is True:
            parts.append(f"``` python\n{cell.source}\n```")
        if options["output"] is False:
            continue
        name = f"{stem}-{options.get('label', index)}"
        parts.extend(_outputs(cell, options, figure_dir=figure_dir, name=name, link_dir=link_dir))
    return "\n\n".join(p.strip("\n") for p in parts if p.strip()) + "\n"


def _injected_cell(parameters: Mapping[str, object]) -> nbformat.NotebookNode:
    lines = ["# Injected Parameters", *(f"{key} = {value!r}" for key, value in parameters.items())]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    cell.metadata["quarto"] = {"echo": False, "output": False}
    return cell


def _outputs(
    cell: nbformat.NotebookNode, options: Mapping[str, object], *, figure_dir: Path, name: str, link_dir: str | None
) -> list[str]:
    asis = options["output"] == "asis"
    parts: list[str] = []
    n_figures = 0
    for output in cell.get("outputs", []):
        kind = output.output_type
        if kind == "stream":
            if output.name == "stderr" and options["warning"] is False:
                continue
            parts.append(output.text if asis else _code_block(output.text))
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {})
            if "text/markdown" in data:
                parts.append(data["text/markdown"])
            elif "image/png" in data:
                n_figures += 1
                parts.append(_figure(data["image/png"], options, figure_dir / f"{name}-{n_figures}.png", link_dir))
            elif "text/plain" in data:
                parts.append(data["text/plain"] if asis else _code_block(data["text/plain"]))
        elif kind == "error":
            raise InputError(f"cell {name} raised {output.ename}: {output.evalue}")
    return parts


def _figure(png_b64: str, options: Mapping[str, object], path: Path, link_dir: str | None) -> str:
    payload = base64.b64decode(png_b64)
    write_with(path, lambda tmp: tmp.write_bytes(payload))
    caption = str(options.get("fig-cap", ""))
    label = str(options.get("label", ""))
    attributes = f"{{#{label}}}" if label.startswith("fig-") else ""
    link = f"{link_dir}/{path.name}" if link_dir else path.as_posix()
    return f"![{caption}]({link}){attributes}"


def _code_block(text: str) -> str:
    return "```\n" + text.rstrip("\n") + "\n```"
