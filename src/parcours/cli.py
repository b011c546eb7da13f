"""The ``parcours`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from parcours.cli_support import (
    JsonOpt,
    TenantOpt,
    WorkspaceOpt,
    console,
    err_console,
    open_ws,
    print_rows,
    progress_bars,
)
from parcours.collect import cli as collect_cli
from parcours.errors import ParcoursError
from parcours.identity import cli as identity_cli
from parcours.journeys import cli as journeys_cli
from parcours.privacy import cli as privacy_cli

app = typer.Typer(
    name="parcours",
    help="parcours — customer data and customer journeys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command()
def init(path: Annotated[Path, typer.Argument(help="Folder to create.")]) -> None:
    """Create a workspace: parcours.toml, the lake, secrets and serving folders."""
    from parcours.workspace import init as init_ws

    ws = init_ws(path)
    console.print(f"workspace ready: {ws.path}")


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="Customers per tenant.", min=100)] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 42,
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder.")] = Path(
        "demo-workspace"
    ),
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the data hub when done.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
) -> None:
    """Build the demo world (energie and fidelite, with planted truth), then serve it."""
    from parcours.demo import build_demo
    from parcours.workspace import init as init_ws

    ws = init_ws(workspace)
    with progress_bars() as progress:
        summary = build_demo(ws, customers=customers, seed=seed, progress=progress)
    console.print(summary.describe())
    # the hub's 360 pages and the profile counts read resolved identities
    from parcours.identity import resolve

    with progress_bars() as progress:
        for tenant in ws.tenants():
            console.print(resolve(ws, tenant, progress=progress).describe())
    from parcours.web.demo_users import print_demo_users

    print_demo_users(ws, console)
    if serve_after:
        _serve(ws, port=port)


@app.command()
def tables(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:  # type: ignore[assignment]
    """List the lake's tables with row counts and sizes."""
    ws = open_ws(workspace)
    rows = [
        {"tenant": i.tenant, "zone": i.zone, "table": i.name, "rows": i.rows, "files": i.files,
         "bytes": i.bytes, "version": i.version}
        for i in ws.lake.walk()
    ]
    print_rows(rows, as_json, title="lake tables")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SELECT query; tables by their plain name.")],
    tenant: TenantOpt,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    zone: Annotated[str, typer.Option(help="analytics (pseudonymized) or raw.")] = "analytics",
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Run read-only SQL over one tenant's tables (DuckDB; no file access)."""
    from parcours.engine.sql import run_sql

    ws = open_ws(workspace)
    who = privacy_cli.sql_principal(ws, tenant, zone)  # operator, or $PARCOURS_TOKEN's user
    ws.require_tenant(tenant)
    result = run_sql(ws.lake, tenant, zone, query, limit=limit)
    if zone == "raw":  # nominative reads are audited, the operator's too
        from parcours.privacy import audit

        audit.record(ws, who, "sql_raw", detail={"query": query, "rows": result.num_rows}, tenant=tenant)
    print_rows(result.to_pylist(), as_json)


def _serve(ws: object, port: int | None = None, host: str | None = None, workers: int | None = None,
           load: bool = False) -> None:
    import subprocess

    settings = ws.settings  # type: ignore[attr-defined]
    host = host or settings.serve.host
    port = port or settings.serve.port
    workers = workers or settings.serve.workers
    console.print(f"serving parcours on http://{host}:{port}  (Ctrl+C to stop)")
    loader = None
    if load:  # a separate process, so loading never competes with the collector for the GIL
        loader = subprocess.Popen([sys.executable, "-m", "parcours.cli", "load", "--watch",
                                   "--exit-with-parent", "-w", str(ws.path)], stdout=subprocess.DEVNULL)  # type: ignore[attr-defined]
    try:
        _run_uvicorn(ws, host, port, workers)
    finally:
        if loader is not None:
            loader.terminate()
            loader.wait(timeout=60)


def _run_uvicorn(ws: object, host: str, port: int, workers: int) -> None:
    from parcours.collect.server import serve

    serve(ws, host, port, workers)  # type: ignore[arg-type]


@app.command()
def serve(
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    port: Annotated[int | None, typer.Option(help="Port (default from settings: 8000).")] = None,
    host: Annotated[str | None, typer.Option(help="Interface (default 127.0.0.1).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default from settings: 1).")] = None,
    load: Annotated[bool, typer.Option("--load/--no-load", help="Also run `parcours load --watch` beside the server.")] = False,
) -> None:
    """Serve the collector, the REST API and the data hub."""
    _serve(open_ws(workspace), port=port, host=host, workers=workers, load=load)


collect_cli.register(app)
privacy_cli.register(app)
identity_cli.register(app)
journeys_cli.register(app)


def main() -> None:
    """Entry point: a user's mistake prints one line and exits 1, no traceback."""
    try:
        app()
    except ParcoursError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
