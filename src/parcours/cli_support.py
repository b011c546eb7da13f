"""What every CLI command shares: the workspace option, output, progress, errors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parcours.values import jsonable

console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $PARCOURS_WORKSPACE or the current folder).",
        show_default=False,
    ),
]
TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def default_workspace() -> Path:
    return Path(os.environ.get("PARCOURS_WORKSPACE", "."))


def open_ws(path: Path | None) -> Any:
    from parcours.workspace import open_workspace

    return open_workspace(path if path is not None else default_workspace())


def print_rows(rows: list[dict[str, Any]], as_json: bool, title: str | None = None) -> None:
    """Print rows as JSON (one array) or as a Rich table."""
    if as_json:
        typer.echo(json.dumps([{k: jsonable(v) for k, v in r.items()} for r in rows], ensure_ascii=False))
        return
    table = Table(title=title)
    columns = list(rows[0]) if rows else []
    for c in columns:
        table.add_column(str(c))
    for r in rows:
        table.add_row(*("" if r[c] is None else str(jsonable(r[c])) for c in columns))
    console.print(table)


@contextmanager
def progress_bars() -> Iterator[Any]:
    """A Rich progress display; yields a ``progress(step, done, total)`` callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
        disable=not err_console.is_terminal and os.environ.get("PARCOURS_PROGRESS") != "1",
    ) as bars:
        tasks: dict[str, Any] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(step, total=total)
            bars.update(tasks[step], completed=done, total=total)

        yield report
