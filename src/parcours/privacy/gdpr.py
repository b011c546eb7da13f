"""GDPR: export everything held on one person; erase the person everywhere, and say so.

Export (:func:`export_subject`) reads every table of the raw zone — and the
analytics-only tables (scores, segments, profiles) through the person's pseudonyms —
and returns one JSON-ready document; every export is audited.

Erasure (:func:`erase_subject`) removes the person's rows from both zones of every
table (:func:`parcours.lake.erase.remove_rows`: no personal value reaches the Delta
log), vacuums the rewritten tables so no old file still holds them, rewrites spool
segments without the person's events, drops the serving store (a cache rebuilt from the
lake), scrubs the audit log and side files, and returns an :class:`ErasureReport`
(tables, files rewritten, rows removed) that names no identifier.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from parcours.lake import ZONES
from parcours.lake.erase import remove_rows, string_columns
from parcours.privacy import audit
from parcours.privacy.files import write_private
from parcours.privacy.scrub import drop_serving, rewrite_spool, scrub_files
from parcours.privacy.subject import Subject, find_subject, token_matcher
from parcours.values import jsonable

if TYPE_CHECKING:
    from parcours.progress import Progress
    from parcours.workspace import Workspace


def _matching_rows(ws: Workspace, tenant: str, zone: str, table: str, values: set[str]) -> pa.Table:
    cols = string_columns(ws.lake, tenant, zone, table)
    match = token_matcher(values, cols)
    ds = ws.lake.delta(tenant, zone, table).to_pyarrow_dataset()
    parts = []
    for batch in ds.to_batches():
        t = pa.Table.from_batches([batch])
        mask = pc.fill_null(match(t), False)
        if pc.any(mask).as_py():
            parts.append(t.filter(mask))
    if not parts:
        return ds.schema.empty_table()
    return pa.concat_tables(parts)


def _tables(ws: Workspace, tenant: str) -> list[tuple[str, str]]:
    """(zone, table) to export: every raw table (by identifier), plus analytics-only
    tables — scores, segments, profiles — (by pseudonym)."""
    raw = ws.lake.tables(tenant, "raw")
    return [("raw", t) for t in raw] + [
        ("analytics", t) for t in ws.lake.tables(tenant, "analytics") if t not in raw
    ]


def export_subject(
    ws: Workspace, tenant: str, key: str, who: Any = audit.OPERATOR
) -> dict[str, Any]:
    """Everything held on customer ``key``: identifiers, then rows per table.

    Args:
        who: the principal asking (audited), or ``"operator"`` for the CLI.

    Returns:
        ``{"tenant", "customer", "generated_at", "identifiers": [...], "tables": {name:
        {"zone", "count", "rows"}}}`` — JSON-serialisable.
    """
    subject = find_subject(ws, tenant, key)
    pseudos = subject.pseudonyms(ws)
    tables: dict[str, dict[str, Any]] = {}
    for zone, table in _tables(ws, tenant):
        values = subject.matching if zone == "raw" else pseudos | subject.profile_ids
        rows = _matching_rows(ws, tenant, zone, table, values)
        tables[table] = {
            "zone": zone,
            "count": rows.num_rows,
            "rows": [{k: jsonable(v) for k, v in r.items()} for r in rows.to_pylist()],
        }
    doc = {
        "tenant": tenant,
        "customer": key,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "identifiers": sorted(
            ({"type": t, "value": v} for v, t in subject.identifiers.items()),
            key=lambda d: (d["type"], d["value"]),
        ),
        "profiles": sorted(subject.profile_ids),
        "tables": tables,
    }
    total = sum(t["count"] for t in tables.values())
    if isinstance(who, str):
        audit.record(ws, who, "gdpr_export", customer=key, detail={"rows": total}, tenant=tenant)
    else:
        audit.record(ws, who, "gdpr_export", customer=key, detail={"rows": total})
    return doc


@dataclass
class TableErasure:
    zone: str
    table: str
    rows_removed: int
    files_rewritten: int
    files_vacuumed: int


@dataclass
class ErasureReport:
    """What an erasure did. Names no identifier of the person (it is kept on disk)."""

    erasure_id: str
    tenant: str
    at: str
    tables: list[TableErasure] = field(default_factory=list)
    spool_segments_rewritten: int = 0
    spool_records_removed: int = 0
    spool_segments_in_use: int = 0
    serving_files_removed: int = 0
    #: serving stores rebuilt from the erased lake (the 360 view keeps working)
    serving_rebuilt: list[str] = field(default_factory=list)
    audit_lines_scrubbed: int = 0
    files_scrubbed: list[str] = field(default_factory=list)
    #: files the erasure could not clean (binary files outside the lake): must be empty
    remaining: list[str] = field(default_factory=list)

    @property
    def rows_removed(self) -> int:
        return sum(t.rows_removed for t in self.tables)

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.spool_segments_in_use

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows_removed"] = self.rows_removed
        out["complete"] = self.complete
        return out


def erase_subject(
    ws: Workspace,
    tenant: str,
    key: str,
    who: Any = audit.OPERATOR,
    progress: Progress | None = None,
) -> ErasureReport:
    """Erase customer ``key`` from the tenant, everywhere (see the module doc)."""
    subject = find_subject(ws, tenant, key)
    report = ErasureReport(
        erasure_id=uuid.uuid4().hex[:12], tenant=tenant,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    ws.close()  # engines hold views over files about to be replaced
    values = {"raw": subject.written_forms(), "analytics": subject.pseudonyms(ws) | subject.written_forms()}
    steps = [(z, t) for z in ZONES for t in ws.lake.tables(tenant, z)]
    for i, (zone, table) in enumerate(steps):
        cols = string_columns(ws.lake, tenant, zone, table)
        removal = remove_rows(ws.lake, tenant, zone, table, token_matcher(values[zone], cols), cols)
        if removal.rows_removed:
            vacuumed = len(ws.lake.vacuum(tenant, zone, table))
            report.tables.append(TableErasure(zone, table, removal.rows_removed,
                                              removal.files_rewritten, vacuumed))
        if progress:
            progress("erase lake rows", i + 1, len(steps))
    everything = values["analytics"] | subject.written_forms(personal=True)
    report.spool_segments_rewritten, report.spool_records_removed, report.spool_segments_in_use = (
        rewrite_spool(ws, tenant, everything)
    )
    stores = [z for z in ZONES if (ws.serving_dir / tenant / f"{z}.sqlite").exists()]
    report.serving_files_removed = drop_serving(ws, tenant, everything)
    report.serving_rebuilt = _rebuild_serving(ws, tenant, stores)
    marker = f"[erased:{report.erasure_id}]"
    report.audit_lines_scrubbed = audit.scrub_customer(ws, tenant, everything, marker)
    report.files_scrubbed, report.remaining = scrub_files(ws, everything, marker)
    _save_report(ws, report)
    audit.record(ws, who, "gdpr_erase", customer=marker,
                 detail={"rows_removed": report.rows_removed, "complete": report.complete},
                 **({"tenant": tenant} if isinstance(who, str) else {}))
    return report


def _rebuild_serving(ws: Workspace, tenant: str, zones: list[str]) -> list[str]:
    """Rebuild the serving stores that existed, from the lake the person is gone from
    (a fresh file replaces the old one: no free page keeps old rows)."""
    if not zones:
        return []
    try:
        from parcours.identity.serving import refresh
    except ImportError:  # no identity package: the stores stay dropped
        return []
    done = []
    for zone in zones:
        if ws.lake.exists(tenant, zone, "identity_map") and ws.lake.exists(tenant, zone, "profiles"):
            refresh(ws, tenant, zone)
            done.append(zone)
    return done


def _save_report(ws: Workspace, report: ErasureReport) -> None:
    path = ws.path / "gdpr" / report.tenant / f"erasure-{report.erasure_id}.json"
    write_private(path, json.dumps(report.to_dict(), indent=1).encode("utf-8"))


__all__ = ["ErasureReport", "Subject", "erase_subject", "export_subject", "find_subject"]
