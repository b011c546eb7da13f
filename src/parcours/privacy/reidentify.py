"""Re-identification: from analytics-zone pseudonyms back to the people.

A data scientist finds a segment in the analytics zone (pseudonyms only); a data manager
turns it back into customers for an action (a campaign, a call). Pseudonyms are one-way
HMACs, so the way back is forward: hash the raw zone's identifier values with the tenant
secret and keep those that match. Each person re-identified is one audit line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from parcours.events import spec
from parcours.privacy import audit
from parcours.privacy.errors import UserError
from parcours.privacy.pseudonymize import is_pseudonym, pseudonymize_array

if TYPE_CHECKING:
    from parcours.workspace import Workspace

#: Where raw identifier values are looked for, in this order: reference tables first.
_SOURCES = ("customers", "cards", "sites", "identity_map", "events")

#: At most this many pseudonyms per request (a segment export, not the whole base).
MAX_PSEUDONYMS = 10_000


def _candidates(ws: Workspace, tenant: str, table: str) -> list[tuple[pa.Array, list[str]]]:
    """(distinct raw values, their identifier types) per identifier column of a table."""
    if table == "identity_map":
        rows = ws.lake.read(tenant, "raw", table, columns=["identifier", "id_type"])
        rows = rows.group_by(["identifier", "id_type"]).aggregate([])
        return [(rows.column("identifier").combine_chunks(), rows.column("id_type").to_pylist())]
    out = []
    for column, id_type in spec(table).identifiers.items():
        values = pc.unique(pc.drop_null(ws.lake.read(tenant, "raw", table, columns=[column]).column(column)))
        if len(values):
            out.append((values, [id_type] * len(values)))
    return out


@dataclass(frozen=True)
class Reidentified:
    pseudonym: str
    id_type: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"pseudonym": self.pseudonym, "id_type": self.id_type, "value": self.value}


def reidentify(ws: Workspace, tenant: str, pseudonyms: list[str], who: Any = audit.OPERATOR) -> list[Reidentified]:
    """The raw values behind ``pseudonyms`` (unknown ones are left out), audited.

    Raises:
        UserError: a value is not a pseudonym, or too many are asked at once.
    """
    ws.require_tenant(tenant)
    wanted = set(pseudonyms)
    bad = [p for p in wanted if not is_pseudonym(p)]
    if bad:
        raise UserError(f"not a pseudonym: {bad[0]!r} (px + 32 hex digits)", count=len(bad))
    if len(wanted) > MAX_PSEUDONYMS:
        raise UserError(f"at most {MAX_PSEUDONYMS} pseudonyms per request", count=len(wanted))
    secret = ws.keys.get(tenant)
    found: dict[str, Reidentified] = {}
    for table in _SOURCES:
        if not wanted - found.keys() or not ws.lake.exists(tenant, "raw", table):
            continue
        for values, id_types in _candidates(ws, tenant, table):
            hashed = pseudonymize_array(secret, values)
            todo = pa.array(sorted(wanted - found.keys()), pa.string())
            for i in pc.indices_nonzero(pc.is_in(hashed, value_set=todo)).to_pylist():
                p = hashed[i].as_py()
                found.setdefault(p, Reidentified(p, id_types[i], values[i].as_py()))
    out = [found[p] for p in pseudonyms if p in found]
    for r in out:
        if isinstance(who, str):
            audit.record(ws, who, "reidentify", customer=r.value, detail={"pseudonym": r.pseudonym}, tenant=tenant)
        else:
            audit.record(ws, who, "reidentify", customer=r.value, detail={"pseudonym": r.pseudonym})
    return out
