"""CLI commands of collect: ``keys``, ``load``, ``quarantine``, ``import``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from parcours.cli_support import (
    JsonOpt,
    TenantOpt,
    WorkspaceOpt,
    console,
    open_ws,
    print_rows,
    progress_bars,
)

keys_app = typer.Typer(help="Write keys of the collector (stored hashed).", no_args_is_help=True)
quarantine_app = typer.Typer(help="What could not be accepted, and why.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    tenant: TenantOpt,
    channel: Annotated[str | None, typer.Option(help="Default channel of this key's events.")] = None,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
) -> None:
    """Create a write key for a tenant; the key is printed once and never again."""
    from parcours.collect.keys import WriteKeyStore

    ws = open_ws(workspace)
    ws.require_tenant(tenant)
    key = WriteKeyStore(ws.state_dir).create(tenant, channel)
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant.")] = None,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """List write keys (their public id, never the key)."""
    from parcours.collect.keys import WriteKeyStore

    ws = open_ws(workspace)
    print_rows(WriteKeyStore(ws.state_dir).rows(tenant), as_json, title="write keys")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id as `keys list` shows it (or the key).")],
    tenant: TenantOpt,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
) -> None:
    """Revoke a write key: the collector answers 401 to it from the next request."""
    from parcours.collect.keys import WriteKeyStore

    ws = open_ws(workspace)
    k = WriteKeyStore(ws.state_dir).revoke(tenant, key_id)
    console.print(f"revoked {k.key_id} of {k.tenant}")


def load(
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    from_kafka: Annotated[bool, typer.Option("--from-kafka", help="Consume the Kafka topic instead of the spool.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep loading (micro-batches by size or age).")] = False,
    max_seconds: Annotated[float | None, typer.Option(help="Kafka: stop after this long idle.")] = None,
    exit_with_parent: Annotated[bool, typer.Option("--exit-with-parent", hidden=True)] = False,
    workers: Annotated[int, typer.Option(
        help="Spool: processes decoding records (0: this process); pays on idle cores with a large spool.",
        min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Move collected events into the lake now (dedupe, quarantine), then forget them."""
    from parcours.collect import loader

    ws = open_ws(workspace)
    with progress_bars() as progress:
        if from_kafka:
            from parcours.collect.kafka import load_kafka

            result = load_kafka(ws, idle_seconds=max_seconds if max_seconds is not None else 5.0,
                                forever=watch, progress=progress)
        elif watch:
            result = loader.watch(ws, progress=progress, exit_with_parent=exit_with_parent)
        else:
            result = loader.load_spool(ws, progress=progress, workers=workers)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        console.print(
            f"loaded {result.events} new event(s) from {result.records} record(s): "
            f"{result.duplicates} duplicate(s) dropped, {result.quarantined} quarantined, "
            f"{result.seconds:.1f}s"
        )


@quarantine_app.command("list")
def quarantine_list(
    tenant: TenantOpt,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    source: Annotated[str | None, typer.Option(help="Only this source (http, kafka, import…).")] = None,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Quarantined rows, newest first: when, from where, why, and the payload."""
    from parcours.collect import quarantine

    ws = open_ws(workspace)
    rows = quarantine.list_rows(ws, tenant, limit=limit, source=source)
    if not as_json:
        for r in rows:
            r["payload"] = r["payload"][:80]
    print_rows(rows, as_json, title=f"quarantine of {tenant}")


@quarantine_app.command("replay")
def quarantine_replay(
    tenant: TenantOpt,
    mapping: Annotated[Path | None, typer.Option(help="Fixed mapping file for rows from imports.")] = None,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Re-validate quarantined rows; those that now pass are loaded and leave quarantine."""
    from parcours.collect import quarantine

    ws = open_ws(workspace)
    r = quarantine.replay(ws, tenant, mapping=str(mapping) if mapping else None)
    if as_json:
        typer.echo(json.dumps(r.to_dict()))
    else:
        console.print(f"replayed {r.replayed} row(s) ({r.written} new), {r.still_invalid} still invalid")


def import_file(
    file: Annotated[Path, typer.Argument(help="CSV, JSON lines or Parquet file.")],
    tenant: TenantOpt,
    source: Annotated[str, typer.Option(help="Name of the source system (call_center, billing…).")],
    mapping: Annotated[Path, typer.Option(help="Mapping file (TOML): how columns become rows.")],
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Import a file from a legacy system; re-importing the same file adds nothing."""
    from parcours.collect.importer import import_file as run

    ws = open_ws(workspace)
    with progress_bars() as progress:
        r = run(ws, tenant, file, source=source, mapping=mapping, progress=progress)
    if as_json:
        typer.echo(json.dumps(r.to_dict()))
    else:
        console.print(
            f"{r.file}: {r.rows_read} row(s) read, {r.written} new row(s) in {r.table}, "
            f"{r.duplicates} already there, {r.quarantined} quarantined"
            + (" (file already imported)" if r.already_imported else "")
        )


def register(app: typer.Typer) -> None:
    """Add the collect commands to the ``parcours`` command."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(quarantine_app, name="quarantine")
    app.command("load")(load)
    app.command("import")(import_file)
