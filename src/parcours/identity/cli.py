"""``parcours identity resolve|evaluate|explain`` and ``parcours customer``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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

identity_app = typer.Typer(help="Identity resolution: profiles from identifiers.", no_args_is_help=True)


@identity_app.command("resolve")
def resolve_cmd(
    tenant: TenantOpt,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    full: Annotated[bool, typer.Option("--full", help="Recompute from scratch (not incremental).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Resolve identities, write identity_map/profiles and refresh the serving store."""
    from parcours.identity import resolve

    ws = open_ws(workspace)
    with progress_bars() as progress:
        result = resolve(ws, tenant, incremental=not full, progress=progress)
    if as_json:
        from dataclasses import asdict

        typer.echo(json.dumps(asdict(result)))
    else:
        console.print(result.describe())


@identity_app.command("evaluate")
def evaluate_cmd(
    tenant: TenantOpt,
    truth: Annotated[Path, typer.Option("--truth", help="truth.json, or a Parquet/CSV of (id_type, identifier, person_id).")],
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Pairwise precision and recall against labelled matches, and the worst mistakes."""
    from parcours.identity.evaluate import evaluate

    ws = open_ws(workspace)
    e = evaluate(ws, tenant, truth)
    if as_json:
        typer.echo(json.dumps(e.to_dict(), default=str))
        return
    console.print(
        f"{tenant}: pairwise precision {e.precision:.4f}  recall {e.recall:.4f}  F1 {e.f1:.4f}  "
        f"over {e.identifiers} identifiers ({e.correct_pairs}/{e.predicted_pairs} predicted pairs "
        f"correct, {e.correct_pairs}/{e.true_pairs} true pairs found)"
    )
    console.print(
        f"  not in the data: {e.not_found}; cut as shared: {e.cut_as_shared}; "
        f"types not resolved: {', '.join(e.other_types) or '-'}"
    )
    console.print(
        f"  planted shared identifiers: {e.shared_checked} checked, "
        f"{len(e.shared_merging)} merge two persons"
    )
    if e.over_merges:
        print_rows(e.over_merges, False, title="worst over-merges (profiles holding several persons)")
    if e.under_merges:
        print_rows(e.under_merges, False, title="worst under-merges (persons split over profiles)")


@identity_app.command("explain")
def explain_cmd(
    key: Annotated[str, typer.Argument(help="Any identifier or profile id.")],
    tenant: TenantOpt,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    pseudonymized: Annotated[bool, typer.Option("--pseudonymized", help="Show pseudonyms, not raw values.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the edges that joined a profile's identifiers and the guard rails that cut others."""
    from parcours.identity.explain import explain

    ws = open_ws(workspace)
    x = explain(ws, tenant, key, nominative=not pseudonymized)
    if as_json:
        typer.echo(json.dumps(x.to_dict(), default=str))
        return
    console.print(f"profile {x.profile_id} ({len(x.identifiers)} identifiers)")
    print_rows(x.identifiers, False, title="identifiers")
    print_rows(x.edges, False, title="edges joining them")
    print_rows(x.cut, False, title="edges cut by guard rails")


def customer_cmd(
    key: Annotated[str, typer.Argument(help="Any identifier (customer number, email, card…) or profile id.")],
    tenant: TenantOpt,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    channel: Annotated[str | None, typer.Option(help="Only timeline events of this channel.")] = None,
    page: Annotated[int, typer.Option(help="Timeline page (newest first).", min=1)] = 1,
    page_size: Annotated[int, typer.Option(help="Timeline events per page.", min=1, max=200)] = 20,
    pseudonymized: Annotated[bool, typer.Option("--pseudonymized", help="The analytics-zone view.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A customer's 360° view in the terminal (nominative reads are audited)."""
    ws = open_ws(workspace)
    view = ws.customer(
        tenant, key, zone="analytics" if pseudonymized else "raw", channel=channel, page=page,
        page_size=page_size,
    )
    if as_json:
        typer.echo(json.dumps(view.to_dict(), default=str, ensure_ascii=False))
        return
    p: dict[str, Any] = view.profile
    traits = p.get("traits", {})
    name = " ".join(x for x in (traits.get("firstName"), traits.get("lastName")) if x) or "(no name)"
    console.print(f"[bold]{name}[/]  profile {view.profile_id}  ({view.zone} zone)")
    a = p.get("attributes", {})
    console.print(
        f"  first seen {a.get('first_seen')}, last seen {a.get('last_seen')}; "
        f"{a.get('events', 0)} events; channels: {', '.join(a.get('channels', []))}"
    )
    console.print(f"  traits: {json.dumps(traits, ensure_ascii=False)}")
    if view.merged_from:
        console.print(f"  merged from: {', '.join(view.merged_from)}")
    print_rows(view.identifiers, False, title="identifiers")
    rows = [{k: r[k] for k in ("ts", "channel", "type", "event")} for r in view.timeline]
    print_rows(rows, False, title=f"timeline (page {view.page}{', more' if view.next_page else ''})")
    if view.verbatims:
        print_rows([{k: r[k] for k in ("ts", "channel", "subject")} for r in view.verbatims], False,
                   title="recent verbatims")
    if view.summary:
        console.print(json.dumps(view.summary, ensure_ascii=False, default=str, indent=1)[:4000])


def register(app: typer.Typer) -> None:
    """Add ``identity`` and ``customer`` to the ``parcours`` command."""
    app.add_typer(identity_app, name="identity")
    app.command("customer")(customer_cmd)
