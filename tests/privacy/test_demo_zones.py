"""The analytics zone of the demo world holds none of its raw identifiers, and free-text
redaction masks the planted personal data (recall measured, goal 99%)."""

from __future__ import annotations

import re

import pyarrow.compute as pc
import pyarrow.parquet as pq

from tests.privacy.scanning import all_files, search

TENANTS = ("energie", "fidelite")


def _raw_identifiers(ws) -> set[str]:
    """Every identifier of every demo person (the generator's truth), plus the raw
    reference tables' identifier columns, of both tenants."""
    out: set[str] = set()
    for tenant in TENANTS:
        persons = pq.read_table(ws.path / "demo" / f"persons_{tenant}.parquet")
        out |= set(persons.column("identifier").to_pylist())
        for table, columns in {"customers": ("customer_number", "email", "phone", "iban"),
                               "cards": ("card_id",), "sites": ("meter_point",)}.items():
            if ws.lake.exists(tenant, "raw", table):
                data = ws.lake.read(tenant, "raw", table, columns=list(columns))
                for c in columns:
                    out |= set(pc.drop_null(data.column(c)).to_pylist())
    return {v for v in out if v}


def test_analytics_zone_holds_no_raw_identifier(demo_ws):
    needles = _raw_identifiers(demo_ws)
    assert len(needles) > 5000  # the truth was read: thousands of identifiers
    files = [f for t in TENANTS for f in all_files(demo_ws.lake.root / t / "analytics")]
    assert sum(f.suffix == ".parquet" for f in files) > 100
    found = search(files, needles)
    assert not found, {k: sorted(v)[:5] for k, v in list(found.items())[:5]}
    # the scan is able to find them: the raw zone is full of them
    raw = [f for f in all_files(demo_ws.lake.root / "energie" / "raw" / "customers") if f.suffix == ".parquet"]
    assert search(raw, needles)


def _word_present(value: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) is not None


def redaction_recall(ws) -> tuple[int, int, list[tuple[str, str]]]:
    """(planted items, items fully masked, misses). An item counts as masked only if
    none of its parts (each word of a name, the value itself) is left in the text."""
    planted = masked = 0
    misses = []
    for tenant in TENANTS:
        pii = pq.read_table(ws.path / "demo" / f"verbatim_pii_{tenant}.parquet").to_pylist()
        rows = ws.lake.read(tenant, "analytics", "verbatims").to_pylist()
        text = {r["verbatim_id"]: f"{r['subject'] or ''}\n{r['text']}" for r in rows}
        for item in pii:
            planted += 1
            body = text[item["verbatim_id"]]
            parts = item["value"].split() if item["kind"] == "name" else [item["value"]]
            if any(_word_present(p, body) for p in parts):
                misses.append((item["kind"], item["value"]))
            else:
                masked += 1
    return planted, masked, misses


def test_redaction_recall_on_planted_personal_data(demo_ws):
    planted, masked, misses = redaction_recall(demo_ws)
    assert planted > 500
    recall = masked / planted
    assert recall >= 0.99, (recall, misses[:20])
    kinds = {k for k, _ in misses}
    assert kinds <= {"name", "phone", "email", "iban"}
