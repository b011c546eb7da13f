"""``parcours journeys paths|funnel|precursors|channels|before-call|retention``.

The same parameters as the Python API (``ws.journeys``) and the REST API
(``/api/v1/tenants/{t}/journeys/...``). A table by default; ``--json`` prints
``result.to_dict()``. Journeys are aggregates: every role may run them, so with
``$PARCOURS_TOKEN`` set the CLI only checks that the token's user has a role in the
tenant (see :func:`journeys_principal`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from parcours.cli_support import JsonOpt, TenantOpt, WorkspaceOpt, console, open_ws

if TYPE_CHECKING:
    from parcours.journeys.base import JourneyResult

journeys_app = typer.Typer(
    help="Journey analyses: paths, funnels, precursors, channels, before-call, retention.",
    no_args_is_help=True,
)

StartOpt = Annotated[
    str | None, typer.Option("--start", help="Only events from this date or time (inclusive).")
]
EndOpt = Annotated[
    str | None, typer.Option("--end", help="Only events before this date or time (exclusive).")
]
StepByOpt = Annotated[
    str, typer.Option("--step-by", help="How a step is named: event, page or channel_event.")
]


def journeys_principal(ws: Any, tenant: str) -> Any:
    """Who runs a journey analysis: the operator, or the user of ``$PARCOURS_TOKEN``,
    who needs a role — any role — in ``tenant`` (journeys are aggregates)."""
    import os

    from parcours.privacy import audit
    from parcours.privacy.cli import TOKEN_ENV

    token = os.environ.get(TOKEN_ENV)
    if not token:
        return audit.OPERATOR
    from parcours.privacy.roles import ROLES
    from parcours.privacy.users import UserStore
    from parcours.web.auth import principal_for

    return principal_for(UserStore(ws).authenticate_token(token), tenant, ROLES)


def _run(workspace: Path | None, tenant: str, analysis: str, **params: Any) -> JourneyResult:
    ws = open_ws(workspace)
    journeys_principal(ws, tenant)
    ws.require_tenant(tenant)
    # one analysis per process: building the journey store would cost more than it saves
    from parcours.journeys.api import Journeys

    result: JourneyResult = getattr(Journeys(ws, stored=False), analysis)(tenant, **params)
    return result


#: The columns a terminal table shows per analysis (``--json`` has every column).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "paths": ("path", "profiles", "share"),
    "funnel": ("step", "profiles", "conversion_from_previous", "conversion_from_first",
               "median_seconds_from_previous", "breakdown"),
    "precursors": ("sequence", "support_target", "rate_target", "rate_control", "lift",
                   "p_adjusted"),
    "channels": ("from_channel", "to_channel", "transitions", "share_of_from"),
    "before_call": ("reason", "step", "calls", "share", "calls_with_reason"),
    "retention": ("cohort", "month", "cohort_size", "returning", "rate"),
}
#: Shares, shown as percentages in a table.
_PERCENT = frozenset({"share", "conversion_from_previous", "conversion_from_first", "rate",
                      "share_of_from", "rate_target", "rate_control"})
#: Short headers, so that a table fits an 80-column terminal.
_HEADERS = {"conversion_from_previous": "from prev.", "conversion_from_first": "from first",
            "median_seconds_from_previous": "median", "support_target": "targets",
            "support_control": "controls", "rate_target": "of targets",
            "rate_control": "of controls", "p_adjusted": "p adj.",
            "calls_with_reason": "calls (reason)", "share_of_from": "share"}


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " → ".join(str(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value.isoformat() if hasattr(value, "isoformat") else value)
    if column in _PERCENT:
        return f"{100 * value:.1f} %"
    if "seconds" in column:
        return _duration(float(value))
    if isinstance(value, float):
        return f"{value:.2e}" if value and abs(value) < 1e-3 else f"{value:.2f}"
    return f"{value:,}".replace(",", " ")


def _show(result: JourneyResult, as_json: bool, title: str) -> None:
    """``to_dict()`` as JSON, or the main columns as a table (long names fold)."""
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    rows = result.table.to_pylist()
    message = result.extra.get("message")
    if not rows:
        console.print(f"{title}: no rows" + (f" ({message})" if message else ""), highlight=False)
        return
    from rich.table import Table

    wanted = TABLE_COLUMNS.get(result.analysis, tuple(result.table.column_names))
    # a column empty throughout (the breakdown of a funnel without one) says nothing
    columns = [c for c in wanted if c in rows[0] and any(r[c] is not None for r in rows)]
    table = Table(title=title)
    for c in columns:
        first = next(r[c] for r in rows if r[c] is not None)
        numeric = isinstance(first, int | float) and not isinstance(first, bool)
        # numbers keep their width; names take the rest and fold rather than being cut
        table.add_column(_HEADERS.get(c, c.replace("_", " ")), overflow="fold",
                         justify="right" if numeric else "left", no_wrap=numeric)
    for r in rows:
        table.add_row(*(_cell(r[c], c) for c in columns))
    console.print(table)


@journeys_app.command("paths")
def paths_cmd(
    tenant: TenantOpt,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    event: Annotated[str | None, typer.Option(help="Start (or end) the paths at this step.")] = None,
    direction: Annotated[str, typer.Option(help="next (after --event) or previous (before it).")] = "next",
    steps: Annotated[int, typer.Option(help="Steps per path.")] = 3,
    step_by: StepByOpt = "event",
    collapse_repeats: Annotated[
        bool, typer.Option("--collapse-repeats/--keep-repeats", help="Count a repeated step once.")
    ] = True,
    top: Annotated[int, typer.Option(help="Most frequent paths to show.")] = 8,
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Most frequent next (or previous) steps from an event."""
    result = _run(workspace, tenant, "paths", event=event, direction=direction, steps=steps,
                  step_by=step_by, collapse_repeats=collapse_repeats, top=top, start=start, end=end)
    _show(result, as_json, f"{direction} paths" + (f" from {event}" if event else ""))


@journeys_app.command("funnel")
def funnel_cmd(
    tenant: TenantOpt,
    step: Annotated[list[str], typer.Option("--step", help="A funnel step; repeat in order (two or more).")],
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    window: Annotated[str, typer.Option(help="Longest time from step 1 to the last step (30d, 12h…).")] = "30d",
    breakdown: Annotated[str | None, typer.Option(help="Also rows per value of channel, property:NAME or a column, on each profile's step-1 event.")] = None,
    step_by: StepByOpt = "event",
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Profiles reaching each step in order within the window, and conversion rates."""
    result = _run(workspace, tenant, "funnel", steps=step, window=window, breakdown=breakdown,
                  step_by=step_by, start=start, end=end)
    _show(result, as_json, f"funnel within {window}")


@journeys_app.command("precursors")
def precursors_cmd(
    tenant: TenantOpt,
    target: Annotated[str, typer.Option(help="The event to explain (e.g. contract_terminated).")],
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    lookback: Annotated[str, typer.Option(help="How far before the target to look (30d…).")] = "30d",
    max_length: Annotated[int, typer.Option(help="Longest sequence (1 to 3 steps).")] = 3,
    min_support: Annotated[int, typer.Option(help="Only sequences seen before this many targets.")] = 20,
    step_by: StepByOpt = "event",
    top: Annotated[int | None, typer.Option(help="Only the first rows (default: all).")] = None,
    sort: Annotated[str, typer.Option(help="p_value (strongest evidence first) or lift.")] = "p_value",
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Events and ordered sequences over-represented before a target event."""
    result = _run(workspace, tenant, "precursors", target=target, lookback=lookback,
                  max_length=max_length, min_support=min_support, step_by=step_by, top=top,
                  sort=sort, start=start, end=end)
    _show(result, as_json, f"precursors of {target} within {lookback}")


@journeys_app.command("channels")
def channels_cmd(
    tenant: TenantOpt,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Channel-to-channel transitions between a profile's consecutive events."""
    result = _run(workspace, tenant, "channels", start=start, end=end)
    _show(result, as_json, "channel transitions")


@journeys_app.command("before-call")
def before_call_cmd(
    tenant: TenantOpt,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    call_event: Annotated[str | None, typer.Option(help="The call event (default: the call-center calls).")] = None,
    days: Annotated[int, typer.Option(help="Days before each call to look at.")] = 7,
    top: Annotated[int, typer.Option(help="Steps to show per call reason.")] = 10,
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The digital steps most often seen in the days before a call-center call."""
    result = _run(workspace, tenant, "before_call", call_event=call_event, days=days, top=top,
                  start=start, end=end)
    _show(result, as_json, f"steps in the {days} days before a call")


@journeys_app.command("retention")
def retention_cmd(
    tenant: TenantOpt,
    workspace: WorkspaceOpt = None,  # type: ignore[assignment]
    by: Annotated[str, typer.Option(help="Cohorts by first_seen or first_purchase.")] = "first_seen",
    purchase_event: Annotated[
        str | None, typer.Option(help="The purchase event (for --by first_purchase).")
    ] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Monthly cohorts and the share of each that comes back month after month."""
    result = _run(workspace, tenant, "retention", by=by, purchase_event=purchase_event,
                  start=start, end=end)
    _show(result, as_json, f"retention by {by}")


def register(app: typer.Typer) -> None:
    """Add ``journeys`` to the ``parcours`` command."""
    app.add_typer(journeys_app, name="journeys")
