"""Rotation of a tenant's secret.

Every pseudonym is ``HMAC(secret, value)``, so a new secret means new pseudonyms. The
analytics zone is therefore rebuilt from the raw zone — the only place real values
live — with the new secret, then the new secret replaces the old one and the old
analytics files are vacuumed:

1. stage a new secret (``secrets/<tenant>.key.next``; an interrupted rotation resumes
   with the same one);
2. for every raw-zone table: overwrite its analytics copy with a fresh copy made with
   the staged secret (one Delta commit per table);
3. commit the secret (atomic rename; the old one is gone), vacuum the analytics zone.

What it means for users: pseudonyms change. Joins inside the analytics zone keep
working (all tables were rebuilt with the same new secret), but pseudonyms stored
outside the lake — a notebook's CSV, a segment exported to a campaign tool — no longer
match anything. Analytics-only tables (scores, segments, models: derived, with no raw
copy) still hold old pseudonyms; the report lists them so they are recomputed. Stop
the loader during a rotation: a batch loaded in between would be pseudonymized with
the old secret (running the rotation again fixes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parcours.events import spec
from parcours.privacy.zones import analytics_copy

if TYPE_CHECKING:
    from parcours.progress import Progress
    from parcours.workspace import Workspace


@dataclass
class RotationReport:
    """What a rotation rebuilt."""

    tenant: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows rebuilt
    stale: list[str] = field(default_factory=list)  # analytics-only tables to recompute
    files_removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "tables": self.tables, "stale": self.stale,
                "files_removed": self.files_removed}


def rotate_secret(ws: Workspace, tenant: str, progress: Progress | None = None) -> RotationReport:
    """Rotate ``tenant``'s secret and rebuild its analytics zone (see module doc)."""
    ws.require_tenant(tenant)
    new = ws.keys.stage(tenant)
    report = RotationReport(tenant)
    raw_tables = ws.lake.tables(tenant, "raw")
    for i, name in enumerate(raw_tables):
        try:
            s = spec(name)
        except LookupError:
            continue
        if name == "quarantine":  # raw-only by design: no analytics copy
            continue
        data = ws.lake.read(tenant, "raw", name)
        ws.lake.overwrite(tenant, "analytics", name, analytics_copy(ws, tenant, s, data, new))
        report.tables[name] = data.num_rows
        if progress:
            progress("rebuild analytics zone", i + 1, len(raw_tables))
    report.stale = [
        t for t in ws.lake.tables(tenant, "analytics") if t not in report.tables
    ]
    ws.keys.commit(tenant)
    for name in report.tables:
        report.files_removed += len(ws.lake.vacuum(tenant, "analytics", name))
    ws.close()  # engines cache views over the old files
    return report
