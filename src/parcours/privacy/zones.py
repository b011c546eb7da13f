"""The two zones: how a raw-zone batch becomes its analytics-zone copy.

:func:`analytics_copy` is what :meth:`Workspace.write` calls for every batch (demo
generator, loader, file import): identifiers pseudonymized, free text redacted — with
the customer's own identifiers looked up in the tenant's raw reference tables
(``customers``, ``cards``, ``sites``), so "Bonjour, ici Élodie Martin" loses the name
even though names have no shape a pattern could find.

Order of writes does not matter: when reference rows arrive after verbatims about the
same customers, :func:`after_write` re-derives those verbatims' analytics rows from raw.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from parcours.events import TableSpec, spec
from parcours.lake.erase import remove_rows
from parcours.privacy.pseudonymize import pseudonymize_array, pseudonymize_table
from parcours.privacy.redact import Identity

if TYPE_CHECKING:
    from parcours.privacy.keys import TenantSecret
    from parcours.workspace import Workspace

#: The column of a free-text table that names the person the text is about.
OWNER_COLUMN = "user_id"

#: Reference tables: column -> mask, for a customer's identifiers (by customer_number).
_REFERENCE: dict[str, dict[str, str]] = {
    "customers": {
        "first_name": "[NAME]",
        "last_name": "[NAME]",
        "email": "[EMAIL]",
        "phone": "[PHONE]",
        "address": "[ADDRESS]",
        "iban": "[IBAN]",
        "customer_number": "[CUSTOMER]",
    },
    "cards": {"card_id": "[CARD]"},
    "sites": {"meter_point": "[METER]", "address": "[ADDRESS]"},
}


def identities(ws: Workspace, tenant: str, keys: list[str]) -> dict[str, list[Identity]]:
    """Customer key -> ``(mask, value)`` of every identifier the raw reference tables hold."""
    out: dict[str, list[Identity]] = defaultdict(list)
    if not keys:
        return out
    wanted = pa.array(sorted(set(keys)), type=pa.string())
    for table, columns in _REFERENCE.items():
        if not ws.lake.exists(tenant, "raw", table):
            continue
        ds = ws.lake.delta(tenant, "raw", table).to_pyarrow_dataset()
        cols = sorted({"customer_number", *columns})
        rows = ds.to_table(columns=cols, filter=pc.field("customer_number").isin(wanted))
        for rec in rows.to_pylist():
            key = rec["customer_number"]
            out[key].extend((mask, str(rec[c])) for c, mask in columns.items() if rec.get(c))
    return out


def analytics_copy(
    ws: Workspace, tenant: str, s: TableSpec, data: pa.Table, secret: TenantSecret | None = None
) -> pa.Table:
    """The analytics-zone copy of a raw batch of table ``s``."""
    secret = secret or ws.keys.get(tenant)
    known = None
    if s.free_text and OWNER_COLUMN in data.column_names:
        owners = pc.drop_null(data.column(OWNER_COLUMN)).to_pylist()
        known = identities(ws, tenant, owners)
    return pseudonymize_table(s, data, secret, identities=known)


def after_write(ws: Workspace, tenant: str, s: TableSpec, data: pa.Table) -> int:
    """Keep the analytics zone right when reference data arrives after free text.

    For every free-text table with rows owned by the customers just written, those
    analytics rows are replaced by a fresh copy from raw (now redacting the names).
    Returns the rows re-derived.
    """
    if s.name not in _REFERENCE or "customer_number" not in data.column_names:
        return 0
    customers = pc.unique(pc.drop_null(data.column("customer_number")))
    if len(customers) == 0:
        return 0
    secret = ws.keys.get(tenant)
    redone = 0
    for name in ws.lake.tables(tenant, "raw"):
        try:
            t = spec(name)
        except LookupError:
            continue
        if not t.free_text or OWNER_COLUMN not in t.columns:
            continue
        if not ws.lake.exists(tenant, "analytics", name):
            continue
        ds = ws.lake.delta(tenant, "raw", name).to_pyarrow_dataset()
        raw = ds.to_table(filter=pc.field(OWNER_COLUMN).isin(customers))
        if raw.num_rows == 0:
            continue
        raw = raw.select(t.schema.names).cast(t.schema)
        pseudos = pseudonymize_array(secret, pc.unique(raw.column(OWNER_COLUMN)))
        # not lake.delete: its predicate (the pseudonyms) would stay in the Delta log
        def owned(batch: pa.Table, p: pa.Array = pseudos) -> pa.Array:
            return pc.is_in(batch.column(OWNER_COLUMN), value_set=p)

        remove_rows(ws.lake, tenant, "analytics", name, owned, [OWNER_COLUMN])
        ws.lake.append(tenant, "analytics", name, analytics_copy(ws, tenant, t, raw, secret), spec_=t)
        redone += raw.num_rows
    return redone
