"""CLI commands of the privacy package: users, audit, GDPR, tenant secrets.

The CLI runs on the server, by an operator who can read the workspace folder — the
secrets and the raw zone included — so the CLI acts as ``admin`` of every tenant
(there is nothing a role check could protect from someone holding the files). Its
nominative reads (GDPR export, raw-zone SQL) are still audited, as user ``operator``.
"""

from __future__ import annotations

import json
import sys
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
from parcours.privacy.errors import UserError

#: A user's API token in this environment variable makes the CLI act as that user (role
#: checks, audit under their name) instead of as the operator.
TOKEN_ENV = "PARCOURS_TOKEN"


def sql_principal(ws: Any, tenant: str, zone: str) -> Any:
    """Who runs ``parcours sql``: the operator (admin), or the user whose token is in
    ``$PARCOURS_TOKEN`` — then the same rules as the SQL API apply (data scientists:
    analytics zone only; managers and advisors: no SQL)."""
    import os

    from parcours.privacy import audit
    from parcours.privacy.errors import ForbiddenError
    from parcours.privacy.roles import RAW_SQL_ROLES
    from parcours.privacy.users import UserStore

    token = os.environ.get(TOKEN_ENV)
    if not token:
        return audit.OPERATOR
    from parcours.web.auth import principal_for

    who = principal_for(UserStore(ws).authenticate_token(token), tenant,
                        ("admin", "data_manager", "data_scientist"))
    if zone == "raw" and who.role not in RAW_SQL_ROLES:
        raise ForbiddenError(who.role, tuple(sorted(RAW_SQL_ROLES)), action="query the raw zone")
    return who


users_app = typer.Typer(help="Users of the API and the data hub: roles per tenant, tokens.", no_args_is_help=True)
gdpr_app = typer.Typer(help="GDPR requests: export or erase everything held on one person.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants and their secrets (pseudonym keys).", no_args_is_help=True)


def _roles(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        tenant, sep, role = v.partition("=")
        if not sep or not tenant or not role:
            raise UserError(f"--role takes tenant=role (e.g. energie=data_scientist), got {v!r}")
        out[tenant] = role
    return out


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[list[str], typer.Option("--role", "-r", help="tenant=role; repeat per tenant.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read a password (for the data hub) from stdin.")] = False,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
) -> None:
    """Create a user; prints its API token once (only its hash is kept)."""
    from parcours.privacy.users import UserStore

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    token = UserStore(open_ws(workspace)).create_user(name, _roles(role), password=password)
    typer.echo(token)


@users_app.command("list")
def users_list(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only users of this tenant.")] = None,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """List users with their roles (no secrets)."""
    from parcours.privacy.users import UserStore

    rows = [
        {"user": u.name, "roles": ", ".join(f"{t}={r}" for t, r in sorted(u.tenant_roles.items())),
         "active": u.active, "tokens": u.tokens, "password": u.has_password, "created_at": u.created_at}
        for u in UserStore(open_ws(workspace)).list(tenant)
    ]
    print_rows(rows, as_json, title="users")


@users_app.command("revoke")
def users_revoke(
    name: Annotated[str, typer.Argument(help="User name.")],
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
) -> None:
    """Revoke a user: every token stops working and web sessions end."""
    from parcours.privacy.users import UserStore

    UserStore(open_ws(workspace)).revoke(name)
    console.print(f"user {name} revoked")


@users_app.command("token")
def users_token(
    name: Annotated[str, typer.Argument(help="User name.")],
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
) -> None:
    """Issue one more API token for a user (printed once)."""
    from parcours.privacy.users import UserStore

    typer.echo(UserStore(open_ws(workspace)).new_token(name))


def audit_cmd(
    tenant: TenantOpt,
    customer: Annotated[str | None, typer.Option(help="Only reads of this customer.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many lines (newest).")] = 100,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """List the tenant's audit log: every nominative read (who, when, what, which customer)."""
    from parcours.privacy import audit

    ws = open_ws(workspace)
    ws.require_tenant(tenant)
    lines = [x for x in audit.read(ws, tenant) if customer is None or x.get("customer") == customer]
    rows = [
        {"ts": x["ts"], "user": x["user"], "role": x["role"], "action": x["action"],
         "customer": x["customer"], "detail": json.dumps(x["detail"], ensure_ascii=False) if not as_json else x["detail"]}
        for x in lines[-limit:]
    ]
    print_rows(rows, as_json, title=f"audit log of {tenant}")


@gdpr_app.command("export")
def gdpr_export(
    tenant: TenantOpt,
    customer: Annotated[str, typer.Option(help="The customer key (customer number, user id, email …).")],
    out: Annotated[Path | None, typer.Option(help="JSON file to write (default gdpr-export-<tenant>-<time>.json here).")] = None,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
) -> None:
    """Write everything held on one person to a readable JSON file (audited)."""
    from datetime import UTC, datetime

    from parcours.privacy.files import write_private
    from parcours.privacy.gdpr import export_subject

    ws = open_ws(workspace)
    doc = export_subject(ws, tenant, customer)
    path = out or Path(f"gdpr-export-{tenant}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json")
    write_private(path.resolve(), json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"), private_parent=False)
    counts = {t: v["count"] for t, v in doc["tables"].items() if v["count"]}
    console.print(f"wrote {path}: {len(doc['identifiers'])} identifier(s), rows {counts}")


@gdpr_app.command("erase")
def gdpr_erase(
    tenant: TenantOpt,
    customer: Annotated[str, typer.Option(help="The customer key (customer number, user id, email …).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Erase one person everywhere (lake files rewritten and vacuumed, spool, serving
    store, audit log, side files) and print the erasure report."""
    from parcours.privacy.gdpr import erase_subject

    ws = open_ws(workspace)
    if not yes:
        typer.confirm(f"Erase customer {customer} of {tenant}? This cannot be undone.", abort=True)
    with progress_bars() as progress:
        report = erase_subject(ws, tenant, customer, progress=progress)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        print_rows([{"zone": t.zone, "table": t.table, "rows removed": t.rows_removed,
                     "files rewritten": t.files_rewritten, "files vacuumed": t.files_vacuumed}
                    for t in report.tables], False, title=f"erasure {report.erasure_id}")
        console.print(
            f"spool: {report.spool_records_removed} event(s) removed from "
            f"{report.spool_segments_rewritten} segment(s); serving files removed: "
            f"{report.serving_files_removed}; audit lines scrubbed: {report.audit_lines_scrubbed}; "
            f"files scrubbed: {len(report.files_scrubbed)}"
        )
    if not report.complete:
        raise typer.Exit(2)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="Tenant name: lowercase letters, digits, _.")],
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
) -> None:
    """Create a tenant and its secret (sealed if the master key is set)."""
    ws = open_ws(workspace)
    ws.create_tenant(name)
    console.print(f"tenant {name} ready")


@tenant_app.command("list")
def tenant_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:  # type: ignore[assignment]
    """List tenants and whether their secret is sealed."""
    ws = open_ws(workspace)
    print_rows([{"tenant": t, "sealed": ws.keys.is_sealed(t)} for t in ws.tenants()], as_json)


@tenant_app.command("rotate-secret")
def tenant_rotate(
    tenant: TenantOpt,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Rotate the tenant's pseudonym secret: every pseudonym changes; the analytics zone
    is rebuilt from raw. Stop the loader first."""
    from parcours.privacy.rotation import rotate_secret

    ws = open_ws(workspace)
    if not yes:
        typer.confirm(f"Rotate the secret of {tenant}? Every pseudonym changes.", abort=True)
    with progress_bars() as progress:
        report = rotate_secret(ws, tenant, progress=progress)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        console.print(f"rebuilt {len(report.tables)} table(s); {report.files_removed} old file(s) removed")
        if report.stale:
            console.print(f"recompute (old pseudonyms): {', '.join(report.stale)}")


@tenant_app.command("seal-secrets")
def tenant_seal(workspace: WorkspaceOpt = None) -> None:  # type: ignore[assignment]
    """Seal every tenant secret with the master key from the environment."""
    ws = open_ws(workspace)
    done = ws.keys.seal_all()
    console.print(f"sealed {len(done)} secret(s)")


def reidentify_cmd(
    tenant: TenantOpt,
    pseudonyms: Annotated[list[str], typer.Argument(help="Pseudonyms (px…) from the analytics zone.")],
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """The raw identifiers behind pseudonyms (audited, one line per person)."""
    from parcours.privacy.reidentify import reidentify

    ws = open_ws(workspace)
    print_rows([r.to_dict() for r in reidentify(ws, tenant, pseudonyms)], as_json, title="re-identified")


def register(app: typer.Typer) -> None:
    """Add the privacy commands to the ``parcours`` command."""
    app.add_typer(users_app, name="users")
    app.add_typer(gdpr_app, name="gdpr")
    app.add_typer(tenant_app, name="tenant")
    app.command("audit")(audit_cmd)
    app.command("reidentify")(reidentify_cmd)
