"""A data subject: everything that identifies one person in one tenant.

GDPR export and erasure start from one customer key (a customer number, a user id,
an email …) and need every identifier of that person:

* the identity map (``identity_map`` in the raw zone, from :mod:`parcours.identity`),
  when it exists: the person's profiles and every identifier *linked* to them
  (identifiers a guard rail marked *shared* are not the person's alone and stay);
* else, and in addition, the reference tables (customers, cards, sites) and the
  events that tie anonymous ids to the user id.

Rows are then found by value in every string column of every table (whole-token
match, so ``C0042`` never matches ``C00421``): a table another package adds later is
covered without code here knowing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from parcours.errors import NotFoundError
from parcours.lake.erase import Matcher, string_columns
from parcours.privacy.pseudonymize import pseudonym

if TYPE_CHECKING:
    from parcours.workspace import Workspace

#: Identifier types that single out one person: rows holding them are the person's.
#: Names, postal addresses and IP addresses are shared by other people: they are
#: exported and scrubbed from side files, never used to select rows.
MATCHING_TYPES = frozenset({
    "user_id", "anonymous_id", "email", "phone", "iban", "customer_number", "card_id",
    "meter_point", "social_handle", "device_id",
})

#: Reference tables: column -> identifier type, keyed by customer_number.
_REFERENCE = {
    "customers": {"customer_number": "customer_number", "email": "email", "phone": "phone",
                  "iban": "iban", "first_name": "name", "last_name": "name", "address": "address"},
    "cards": {"card_id": "card_id", "customer_number": "customer_number"},
    "sites": {"meter_point": "meter_point", "customer_number": "customer_number",
              "address": "address"},
}


@dataclass
class Subject:
    """One person's identifiers in one tenant."""

    tenant: str
    key: str
    #: value -> identifier type
    identifiers: dict[str, str] = field(default_factory=dict)
    profile_ids: set[str] = field(default_factory=set)
    #: values that are personal but not unique (full name, address): scrubbed from files
    personal: set[str] = field(default_factory=set)
    #: identifiers other people hold too (a family email, a switchboard number): exported,
    #: never used to select rows — erasing them would erase the other people's rows
    shared: set[str] = field(default_factory=set)

    @property
    def matching(self) -> set[str]:
        """Values that select the person's rows in the raw zone."""
        out = {v for v, t in self.identifiers.items() if t in MATCHING_TYPES}
        return (out - self.shared) | self.profile_ids

    def written_forms(self, personal: bool = False) -> set[str]:
        """Every way the person's identifiers may be written in free text; with
        ``personal``, also full names and addresses (for side files, not row selection:
        a homonym's rows must stay)."""
        out = set(self.matching) | (self.personal if personal else set())
        for value, kind in self.identifiers.items():
            if value in self.shared:
                continue
            if kind == "phone" and value.startswith("+33") and len(value) == 12:
                national = "0" + value[3:]
                out |= {national, " ".join(national[i : i + 2] for i in range(0, 10, 2)),
                        ".".join(national[i : i + 2] for i in range(0, 10, 2))}
            if kind == "iban":
                compact = value.replace(" ", "")
                out.add(" ".join(compact[i : i + 4] for i in range(0, len(compact), 4)))
        return {v for v in out if v}

    def pseudonyms(self, ws: Workspace) -> set[str]:
        """The analytics-zone pseudonyms of the person's own identifiers (tenant secret);
        not of names: the pseudonym of "Marie" is every Marie's."""
        secret = ws.keys.get(self.tenant)
        return {pseudonym(secret, v) for v in self.matching}


def token_matcher(values: Iterable[str], columns: list[str]) -> Matcher:
    """Rows where any of ``columns`` holds one of ``values`` as a whole token (equal, or
    inside JSON/free text between non-word characters)."""
    vals = sorted({v for v in values if v}, key=len, reverse=True)
    if not vals:
        return lambda t: pa.array([False] * t.num_rows)
    pattern = r"(^|[^A-Za-z0-9_])(" + "|".join(re.escape(v) for v in vals) + r")($|[^A-Za-z0-9_])"

    def match(table: pa.Table) -> pa.Array:
        mask = pa.array([False] * table.num_rows)
        for c in columns:
            if c in table.column_names:
                col = table.column(c)
                hit = pc.fill_null(pc.match_substring_regex(col, pattern), False)
                mask = pc.or_(mask, hit)
        return mask

    return match


def _rows(ws: Workspace, tenant: str, table: str, column: str, values: set[str]) -> pa.Table:
    if not values or not ws.lake.exists(tenant, "raw", table):
        return pa.table({})
    ds = ws.lake.delta(tenant, "raw", table).to_pyarrow_dataset()
    if column not in ds.schema.names:
        return pa.table({})
    return ds.to_table(filter=pc.field(column).isin(pa.array(sorted(values), pa.string())))


def find_subject(ws: Workspace, tenant: str, key: str) -> Subject:
    """All identifiers of the person known as ``key`` in ``tenant``.

    Raises:
        NotFoundError: nothing in the tenant's raw zone holds ``key``.
    """
    ws.require_tenant(tenant)
    subject = Subject(tenant, key)
    ids = subject.identifiers
    ids[key] = "customer_number"
    for _ in range(3):  # a few rounds reach the fixpoint: key -> profile -> cards -> …
        before = (len(ids), len(subject.profile_ids))
        values = {v for v, t in ids.items() if t in MATCHING_TYPES}
        links = _rows(ws, tenant, "identity_map", "identifier", values)
        if links.num_rows:
            linked = links.filter(pc.equal(links.column("status"), "linked")) if "status" in links.column_names else links
            subject.profile_ids |= set(linked.column("profile_id").to_pylist())
            every = _rows(ws, tenant, "identity_map", "profile_id", subject.profile_ids)
            if "status" in every.column_names:
                every = every.filter(pc.equal(every.column("status"), "linked"))
            for rec in every.select(["identifier", "id_type"]).to_pylist():
                ids.setdefault(rec["identifier"], rec["id_type"])
        for table, columns in _REFERENCE.items():
            rows = _rows(ws, tenant, table, "customer_number", values)
            for rec in rows.to_pylist():
                for col, kind in columns.items():
                    if rec.get(col):
                        ids.setdefault(str(rec[col]), kind)
                if table == "customers" and rec.get("first_name") and rec.get("last_name"):
                    subject.personal.add(f"{rec['first_name']} {rec['last_name']}")
        events = _rows(ws, tenant, "events", "user_id", values)
        for col in ("anonymous_id", "previous_id"):
            if col in events.column_names:
                for v in pc.unique(pc.drop_null(events.column(col))).to_pylist():
                    ids.setdefault(v, "anonymous_id" if col == "anonymous_id" else "user_id")
        posts = _rows(ws, tenant, "verbatims", "user_id", values)
        if posts.num_rows:  # the person's own social posts give their handle (not advisors' ids)
            social = posts.filter(pc.equal(posts.column("channel"), "social"))
            for v in pc.unique(pc.drop_null(social.column("author"))).to_pylist():
                ids.setdefault(v, "social_handle")
        if (len(ids), len(subject.profile_ids)) == before:
            break
    for value, kind in ids.items():
        if kind in ("name", "address"):
            subject.personal.add(value)
    subject.shared = _shared(ws, tenant, subject)
    if not _anywhere(ws, tenant, subject):
        raise NotFoundError(f"no data about customer {key!r} in tenant {tenant!r}", tenant=tenant)
    return subject


def _shared(ws: Workspace, tenant: str, subject: Subject) -> set[str]:
    """The subject's identifiers that other customers hold too."""
    keys = {v for v, t in subject.identifiers.items() if t in ("customer_number", "user_id")}
    values = set(subject.identifiers) - keys
    shared: set[str] = set()
    if not values:
        return shared
    for column in ("email", "phone", "iban"):
        rows = _rows(ws, tenant, "customers", column, values)
        for rec in rows.to_pylist() if rows.num_rows else []:
            if rec["customer_number"] not in keys:
                shared.add(rec[column])
    for column in ("anonymous_id", "previous_id"):
        rows = _rows(ws, tenant, "events", column, values)
        if rows.num_rows:
            user = rows.column("user_id")
            mine = pc.is_in(user, value_set=pa.array(sorted(keys), pa.string()))
            others = rows.filter(pc.and_(pc.is_valid(user), pc.invert(mine)))
            shared |= set(others.column(column).to_pylist())
    if ws.lake.exists(tenant, "raw", "identity_map"):
        rows = _rows(ws, tenant, "identity_map", "identifier", values)
        if rows.num_rows and "status" in rows.column_names:
            shared |= set(rows.filter(pc.equal(rows.column("status"), "shared")).column("identifier").to_pylist())
    return shared


def _anywhere(ws: Workspace, tenant: str, subject: Subject) -> bool:
    match = token_matcher(subject.matching, [])
    for table in ws.lake.tables(tenant, "raw"):
        cols = string_columns(ws.lake, tenant, "raw", table)
        match = token_matcher(subject.matching, cols)
        for batch in ws.lake.delta(tenant, "raw", table).to_pyarrow_dataset().to_batches(columns=cols):
            if pc.any(match(pa.Table.from_batches([batch]))).as_py():
                return True
    return False
