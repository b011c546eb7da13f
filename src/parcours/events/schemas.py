"""Arrow schemas of every parcours table — the single source of truth for columns.

Each table is described once by a :class:`TableSpec`: its Arrow schema, the key that
identifies a row (used to drop duplicates at load), the time column that gives the
``day`` partition, the columns that hold direct identifiers (pseudonymized in the
analytics zone, each with its identifier type) and the free-text columns (redacted in
the analytics zone). Every other module reads these specs instead of listing columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from parcours.errors import NotFoundError

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()

#: Identifier types that parcours knows. Identity resolution and pseudonymization use them.
IDENTIFIER_TYPES = (
    "user_id",
    "anonymous_id",
    "email",
    "phone",
    "name",
    "address",
    "iban",
    "customer_number",
    "card_id",
    "meter_point",
    "ip",
    "social_handle",
    "device_id",
)

#: Segment call types.
EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")

#: Channels of the two reference businesses. Free strings are allowed; these are the known ones.
CHANNELS = (
    "web",
    "app",
    "call_center",
    "email",
    "advisor",
    "complaint",
    "social",
    "store",
    "meter",
    "billing",
    "contract",
)


@dataclass(frozen=True)
class TableSpec:
    """What parcours knows about one table."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    description: str
    time_column: str | None = None
    #: column -> identifier type, for pseudonymization and identity edges
    identifiers: dict[str, str] = field(default_factory=dict)
    #: JSON columns whose listed keys hold identifiers: column -> {json key: identifier type}
    json_identifiers: dict[str, dict[str, str]] = field(default_factory=dict)
    #: free-text columns, redacted in the analytics zone
    free_text: tuple[str, ...] = ()

    @property
    def partition_by(self) -> list[str] | None:
        """Tables with a time column are partitioned by ``day`` (derived from it)."""
        return ["day"] if self.time_column else None

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


def _schema(*fields: tuple[str, pa.DataType, bool], day: bool = True) -> pa.Schema:
    out = [pa.field(name, typ, nullable=nullable) for name, typ, nullable in fields]
    if day:
        out.append(pa.field("day", pa.date32(), nullable=False))
    return pa.schema(out)


# JSON keys in Segment traits/context that hold identifiers (camelCase as SDKs send them).
_TRAIT_IDS = {
    "email": "email",
    "phone": "phone",
    "name": "name",
    "firstName": "name",
    "lastName": "name",
    "address": "address",
    "iban": "iban",
    "customerNumber": "customer_number",
    "cardId": "card_id",
    "meterPoint": "meter_point",
}

EVENTS = TableSpec(
    name="events",
    description="Every interaction, in the Segment tracking spec, plus tenant and channel.",
    schema=_schema(
        ("message_id", STR, False),
        ("tenant", STR, False),
        ("type", STR, False),
        ("event", STR, True),  # track: event name; page/screen: name; else the type
        ("channel", STR, False),
        ("user_id", STR, True),
        ("anonymous_id", STR, True),
        ("previous_id", STR, True),  # alias
        ("group_id", STR, True),  # group
        ("timestamp", TS, False),
        ("received_at", TS, False),
        ("properties", STR, True),  # JSON object
        ("traits", STR, True),  # JSON object
        ("context", STR, True),  # JSON object
    ),
    key=("message_id",),
    time_column="timestamp",
    identifiers={
        "user_id": "user_id",
        "anonymous_id": "anonymous_id",
        "previous_id": "user_id",
        "group_id": "customer_number",
    },
    json_identifiers={
        "traits": _TRAIT_IDS,
        "properties": _TRAIT_IDS,
        "context": {"ip": "ip", "deviceId": "device_id"},
    },
)

METER_READINGS = TableSpec(
    name="meter_readings",
    description="Smart-meter load curves: energy per interval (30 minutes as stored).",
    schema=_schema(
        ("meter_point", STR, False),
        ("site_id", STR, False),
        ("ts", TS, False),  # interval start
        ("interval_minutes", pa.int16(), False),
        ("kwh", pa.float64(), False),
        ("quality", STR, True),  # measured | estimated | missing
    ),
    key=("meter_point", "ts"),
    time_column="ts",
    identifiers={"meter_point": "meter_point"},
)

INVOICES = TableSpec(
    name="invoices",
    description="Invoices issued to energy customers.",
    schema=_schema(
        ("invoice_id", STR, False),
        ("customer_number", STR, False),
        ("site_id", STR, True),
        ("issued_at", TS, False),
        ("period_start", pa.date32(), True),
        ("period_end", pa.date32(), True),
        ("kwh", pa.float64(), True),
        ("amount_eur", pa.float64(), False),
        ("due_date", pa.date32(), True),
        ("status", STR, True),  # issued | paid | overdue | cancelled
    ),
    key=("invoice_id",),
    time_column="issued_at",
    identifiers={"customer_number": "customer_number"},
)

PAYMENTS = TableSpec(
    name="payments",
    description="Payments received against invoices.",
    schema=_schema(
        ("payment_id", STR, False),
        ("invoice_id", STR, True),
        ("customer_number", STR, False),
        ("paid_at", TS, False),
        ("amount_eur", pa.float64(), False),
        ("method", STR, True),  # direct_debit | card | transfer | cheque
        ("iban", STR, True),
    ),
    key=("payment_id",),
    time_column="paid_at",
    identifiers={"customer_number": "customer_number", "iban": "iban"},
)

CONTRACT_EVENTS = TableSpec(
    name="contract_events",
    description="Contract life: subscription, move, power change, termination.",
    schema=_schema(
        ("contract_event_id", STR, False),
        ("customer_number", STR, False),
        ("site_id", STR, True),
        ("ts", TS, False),
        ("kind", STR, False),  # subscription | move | power_change | termination
        ("old_value", STR, True),
        ("new_value", STR, True),
    ),
    key=("contract_event_id",),
    time_column="ts",
    identifiers={"customer_number": "customer_number"},
)

TRANSACTIONS = TableSpec(
    name="transactions",
    description="Loyalty basket lines: one row per product line of a checkout.",
    schema=_schema(
        ("transaction_id", STR, False),
        ("line_no", pa.int32(), False),
        ("card_id", STR, True),
        ("store_id", STR, False),
        ("retailer", STR, False),
        ("ts", TS, False),
        ("product_id", STR, False),
        ("category", STR, True),
        ("quantity", pa.int32(), False),
        ("amount_eur", pa.float64(), False),
    ),
    key=("transaction_id", "line_no"),
    time_column="ts",
    identifiers={"card_id": "card_id"},
)

COUPONS = TableSpec(
    name="coupons",
    description="Coupons loaded onto loyalty cards.",
    schema=_schema(
        ("coupon_id", STR, False),
        ("campaign_id", STR, False),
        ("card_id", STR, False),
        ("loaded_at", TS, False),
        ("expires_at", TS, True),
        ("value_eur", pa.float64(), False),
        ("category", STR, True),
    ),
    key=("coupon_id",),
    time_column="loaded_at",
    identifiers={"card_id": "card_id"},
)

REDEMPTIONS = TableSpec(
    name="redemptions",
    description="Coupons redeemed at checkout.",
    schema=_schema(
        ("redemption_id", STR, False),
        ("coupon_id", STR, False),
        ("card_id", STR, False),
        ("transaction_id", STR, True),
        ("store_id", STR, True),
        ("redeemed_at", TS, False),
        ("value_eur", pa.float64(), False),
    ),
    key=("redemption_id",),
    time_column="redeemed_at",
    identifiers={"card_id": "card_id"},
)

VERBATIMS = TableSpec(
    name="verbatims",
    description="Free text: complaints, advisor notes, emails, social posts.",
    schema=_schema(
        ("verbatim_id", STR, False),
        ("channel", STR, False),  # complaint | advisor | email | social
        ("user_id", STR, True),  # customer key when known
        ("author", STR, True),  # social handle or advisor id
        ("ts", TS, False),
        ("subject", STR, True),
        ("text", STR, False),
        ("language", STR, True),
    ),
    key=("verbatim_id",),
    time_column="ts",
    identifiers={"user_id": "user_id", "author": "social_handle"},
    free_text=("subject", "text"),
)

CUSTOMERS = TableSpec(
    name="customers",
    description="Reference data: customers as the CRM knows them.",
    schema=_schema(
        ("customer_number", STR, False),
        ("first_name", STR, True),
        ("last_name", STR, True),
        ("email", STR, True),
        ("phone", STR, True),
        ("address", STR, True),
        ("postal_code", STR, True),
        ("city", STR, True),
        ("iban", STR, True),
        ("segment", STR, True),  # residential | business | loyalty
        ("created_at", TS, True),
        ("updated_at", TS, True),
        day=False,
    ),
    key=("customer_number",),
    identifiers={
        "customer_number": "customer_number",
        "first_name": "name",
        "last_name": "name",
        "email": "email",
        "phone": "phone",
        "address": "address",
        "iban": "iban",
    },
)

SITES = TableSpec(
    name="sites",
    description="Reference data: delivery sites (meter points) and who holds them.",
    schema=_schema(
        ("site_id", STR, False),
        ("customer_number", STR, False),
        ("meter_point", STR, False),
        ("address", STR, True),
        ("postal_code", STR, True),
        ("city", STR, True),
        ("region", STR, True),
        ("kind", STR, True),  # residential | business
        ("site_group", STR, True),  # business customers group sites as they like
        ("power_kva", pa.float64(), True),
        ("heating", STR, True),  # electric | gas | other
        day=False,
    ),
    key=("site_id",),
    identifiers={
        "customer_number": "customer_number",
        "meter_point": "meter_point",
        "address": "address",
    },
)

CARDS = TableSpec(
    name="cards",
    description="Reference data: loyalty cards and their holders.",
    schema=_schema(
        ("card_id", STR, False),
        ("customer_number", STR, False),
        ("issued_at", TS, True),
        ("status", STR, True),
        ("home_store_id", STR, True),
        day=False,
    ),
    key=("card_id",),
    identifiers={"card_id": "card_id", "customer_number": "customer_number"},
)

STORES = TableSpec(
    name="stores",
    description="Reference data: stores of the retailers in the loyalty programme.",
    schema=_schema(
        ("store_id", STR, False),
        ("retailer", STR, False),
        ("city", STR, True),
        ("region", STR, True),
        day=False,
    ),
    key=("store_id",),
)

WEATHER = TableSpec(
    name="weather",
    description="Daily mean temperature per region.",
    schema=_schema(
        ("region", STR, False),
        ("date", pa.date32(), False),
        ("temp_mean_c", pa.float64(), False),
        day=False,
    ),
    key=("region", "date"),
)

QUARANTINE = TableSpec(
    name="quarantine",
    description="What could not be accepted, with its raw payload and the reason.",
    schema=_schema(
        ("quarantine_id", STR, False),
        ("received_at", TS, False),
        ("source", STR, False),  # http | import:<name> | kafka | replay
        ("target_table", STR, True),
        ("reason", STR, False),
        ("payload", STR, False),
        ("file", STR, True),
        ("line", pa.int64(), True),
    ),
    key=("quarantine_id",),
    time_column="received_at",
)

IDENTITY_MAP = TableSpec(
    name="identity_map",
    description=(
        "Identity resolution: which profile each identifier belongs to. status 'linked' rows "
        "give one profile per identifier; 'shared' rows list identifiers a guard rail cut from "
        "the graph (kept as attributes of each profile they were seen with)."
    ),
    schema=_schema(
        ("identifier", STR, False),  # the raw value (raw zone) or its pseudonym (analytics)
        ("id_type", STR, False),
        ("profile_id", STR, False),
        ("status", STR, False),  # linked | shared
        ("first_seen", TS, True),
        ("last_seen", TS, True),
        ("occurrences", pa.int64(), True),
        day=False,
    ),
    key=("identifier", "id_type", "profile_id"),
)

IDENTITY_EDGES = TableSpec(
    name="identity_edges",
    description=(
        "Identity graph edges between identifiers (pseudonymized), with where they come from "
        "and the guard rail that cut them, if any (explains every merge and every split)."
    ),
    schema=_schema(
        ("src", STR, False),  # <id_type>:<pseudonym>
        ("dst", STR, False),
        ("kind", STR, False),  # identify | alias | cooccurrence | reference | same_value
        ("source", STR, False),  # table (and event type) the edge was seen in
        ("occurrences", pa.int64(), False),
        ("first_seen", TS, True),
        ("last_seen", TS, True),
        ("cut_by", STR, True),  # null, or the guard rail that removed the edge
        day=False,
    ),
    key=("src", "dst", "kind", "source"),
)

PROFILES = TableSpec(
    name="profiles",
    description=(
        "One row per customer profile: stable id, merges, resolved traits and computed "
        "attributes (JSON objects)."
    ),
    schema=_schema(
        ("profile_id", STR, False),
        ("merged_into", STR, True),  # set when this profile merged into an older one
        ("created_at", TS, False),  # when the id was first assigned
        ("updated_at", TS, False),
        ("first_seen", TS, True),
        ("last_seen", TS, True),
        ("identifiers", pa.int64(), True),
        ("events", pa.int64(), True),
        ("traits", STR, True),  # JSON: resolved traits (source priority, then recency)
        ("attributes", STR, True),  # JSON: computed attributes
        day=False,
    ),
    key=("profile_id",),
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        EVENTS,
        METER_READINGS,
        INVOICES,
        PAYMENTS,
        CONTRACT_EVENTS,
        TRANSACTIONS,
        COUPONS,
        REDEMPTIONS,
        VERBATIMS,
        CUSTOMERS,
        SITES,
        CARDS,
        STORES,
        WEATHER,
        QUARANTINE,
        IDENTITY_MAP,
        IDENTITY_EDGES,
        PROFILES,
    )
}


def spec(name: str) -> TableSpec:
    """The spec of a table, or a clear error naming the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(sorted(TABLES))
        raise NotFoundError(f"unknown table {name!r}; known tables: {known}", table=name) from None
