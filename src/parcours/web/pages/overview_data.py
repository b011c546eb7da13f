"""The Overview page's figures, computed over the lake and cached per table version."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from parcours.errors import NotFoundError
from parcours.web.pages.cache import cached

if TYPE_CHECKING:
    from parcours.workspace import Workspace

#: Tables whose commits are shown as "last loads" when the collector's load log is empty.
LOAD_TABLES = (
    "events", "meter_readings", "invoices", "payments", "contract_events", "transactions",
    "coupons", "redemptions", "verbatims", "customers", "sites", "cards",
)


@dataclass
class Overview:
    """Everything the Overview page shows for one tenant."""

    tenant: str
    events: int
    customers: int | None
    profiles: int | None
    quarantined: int
    #: rows of (day, channel, events)
    daily: list[tuple[Any, str, int]] = field(default_factory=list)
    #: rows of {channel, events, first, last, last_received}
    channels: list[dict[str, Any]] = field(default_factory=list)
    #: rows of {at, table, operation, rows}
    loads: list[dict[str, Any]] = field(default_factory=list)
    #: rows of {source, reason, count}
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    #: rows of {table, rows}
    tables: list[dict[str, Any]] = field(default_factory=list)
    last_event: datetime | None = None
    last_received: datetime | None = None

    @property
    def freshness_seconds(self) -> float | None:
        """Seconds since the most recent event reached parcours."""
        if self.last_received is None:
            return None
        return (datetime.now(UTC) - self.last_received).total_seconds()


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value  # pandas Timestamp too


def _exists(ws: Workspace, tenant: str, zone: str, name: str) -> bool:
    return ws.lake.exists(tenant, zone, name)


def _count(ws: Workspace, tenant: str, name: str, zone: str = "analytics") -> int | None:
    if not _exists(ws, tenant, zone, name):
        return None
    return int(ws.lake.info(tenant, zone, name).rows)


def _profiles(ws: Workspace, tenant: str) -> int | None:
    """Distinct profiles of the identity map (None before identity resolution ran)."""
    if not _exists(ws, tenant, "analytics", "identity_map"):
        return None
    try:
        t = ws.table(tenant, "identity_map")
    except NotFoundError:  # the identity table's spec is not registered in this build
        return None
    return int(t.profile_id.nunique().to_pyarrow().as_py())


def _loads(ws: Workspace, tenant: str, limit: int = 10) -> list[dict[str, Any]]:
    """Recent load commits of the raw zone. Every write (the collector's loader, file
    imports, the demo generator, a replay) is one Delta commit, so the lake's own
    history is the complete account; the Sources page adds the loader's own log."""
    out: list[dict[str, Any]] = []
    for name in ws.lake.tables(tenant, "raw"):
        if name not in LOAD_TABLES:
            continue
        for h in ws.lake.delta(tenant, "raw", name).history(limit):
            op = str(h.get("operation", ""))
            if op not in ("WRITE", "CREATE TABLE", "MERGE"):
                continue
            metrics = h.get("operationMetrics") or {}
            rows_added = int(metrics.get("num_added_rows", 0) or 0)
            if rows_added == 0:
                continue
            at = datetime.fromtimestamp(int(h["timestamp"]) / 1000, tz=UTC)
            out.append({"at": at, "table": name, "operation": op.lower(), "rows": rows_added})
    out.sort(key=lambda r: r["at"], reverse=True)
    return out[:limit]


def quarantine_reasons(ws: Workspace, tenant: str) -> list[dict[str, Any]]:
    """Quarantined rows per source and reason, most frequent first."""
    zone = "raw" if _exists(ws, tenant, "raw", "quarantine") else "analytics"
    if not _exists(ws, tenant, zone, "quarantine"):
        return []
    q = ws.table(tenant, "quarantine", zone=zone)
    df = q.group_by(["source", "reason"]).agg(count=q.count()).to_pandas()
    df = df.sort_values("count", ascending=False)
    return [{"source": r.source, "reason": r.reason, "count": int(r.count)} for r in df.itertuples()]


def compute_overview(ws: Workspace, tenant: str) -> Overview:
    """Compute the Overview figures (uncached)."""
    ev_count = _count(ws, tenant, "events") or 0
    ov = Overview(
        tenant=tenant,
        events=ev_count,
        customers=_count(ws, tenant, "customers"),
        profiles=_profiles(ws, tenant),
        quarantined=0,
    )
    if ev_count:
        ev = ws.table(tenant, "events")
        daily = ev.group_by(["day", "channel"]).agg(events=ev.count()).order_by(["day", "channel"])
        ov.daily = [(_as_date(r.day), r.channel, int(r.events)) for r in daily.to_pandas().itertuples()]
        ch = ev.group_by("channel").agg(
            events=ev.count(), first=ev.timestamp.min(), last=ev.timestamp.max(),
            last_received=ev.received_at.max(),
        ).to_pandas().sort_values("events", ascending=False)
        ov.channels = [
            {"channel": r.channel, "events": int(r.events), "first": r.first.to_pydatetime(),
             "last": r.last.to_pydatetime(), "last_received": r.last_received.to_pydatetime()}
            for r in ch.itertuples()
        ]
        ov.last_event = max(c["last"] for c in ov.channels)
        ov.last_received = max(c["last_received"] for c in ov.channels)
    ov.loads = _loads(ws, tenant)
    ov.quarantine = quarantine_reasons(ws, tenant)
    ov.quarantined = sum(r["count"] for r in ov.quarantine)
    ov.tables = [
        {"table": name, "rows": ws.lake.info(tenant, "analytics", name).rows}
        for name in ws.lake.tables(tenant, "analytics")
    ]
    return ov


def overview(ws: Workspace, tenant: str) -> Overview:
    """The Overview figures, cached until one of the tables they read changes."""
    deps = [("analytics", t) for t in ws.lake.tables(tenant, "analytics")]
    deps += [("raw", t) for t in ws.lake.tables(tenant, "raw")]
    return cached(ws, tenant, "overview", deps, lambda: compute_overview(ws, tenant))
