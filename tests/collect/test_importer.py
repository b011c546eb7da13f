"""File import: mappings, bad rows to quarantine with file and line, re-import adds
nothing, load curves normalized to 30 minutes, four source formats."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parcours.collect import quarantine
from parcours.collect.errors import MappingError
from parcours.collect.importer import import_file, recent_imports
from parcours.collect.loadcurve import resample
from parcours.collect.mapping import Mapping

UTC = dt.UTC

CALLS_TOML = """
table = "events"
delimiter = ";"
timezone = "Europe/Paris"
[columns]
message_id = { template = "call-{CallId}" }
type = { value = "track" }
event = { value = "Call Center Call" }
channel = { value = "call_center" }
user_id = "CustomerNo"
timestamp = { column = "Start", format = "%d/%m/%Y %H:%M" }
properties = { object = { duration_s = "Duration", topic = "Topic" } }
"""

CALLS_CSV = """CallId;CustomerNo;Start;Duration;Topic
1;C001;15/01/2026 09:30;120;billing
2;C002;15/01/2026 10:00;45;"move, new address"
3;C003;32/01/2026 10:00;30;billing
4;C004;15/07/2026 10:00;60;outage
5;C005;16/01/2026 11:00;10
"""


def test_call_center_csv_to_events_bad_rows_quarantined_and_reimport_adds_nothing(workspace, tmp_path):
    f = tmp_path / "calls_2026-01-15.csv"
    f.write_text(CALLS_CSV, encoding="utf-8")
    m = tmp_path / "calls.toml"
    m.write_text(CALLS_TOML)
    r = import_file(workspace, "energie", f, source="call_center", mapping=m)
    assert (r.rows_read, r.written, r.quarantined) == (5, 4, 1)
    ev = {e["message_id"]: e for e in workspace.lake.read("energie", "raw", "events").to_pylist()}
    assert sorted(ev) == ["call-1", "call-2", "call-4", "call-5"]
    # Paris local time → UTC (winter +1, summer +2)
    assert ev["call-1"]["timestamp"] == dt.datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
    assert ev["call-4"]["timestamp"] == dt.datetime(2026, 7, 15, 8, 0, tzinfo=UTC)
    assert json.loads(ev["call-2"]["properties"]) == {"duration_s": "45", "topic": "move, new address"}
    assert json.loads(ev["call-5"]["properties"]) == {"duration_s": "10"}  # missing cell: key absent
    assert ev["call-1"]["channel"] == "call_center" and ev["call-1"]["user_id"] == "C001"
    bad = quarantine.list_rows(workspace, "energie")
    assert len(bad) == 1
    assert bad[0]["file"] == f.name and bad[0]["line"] == 4 and bad[0]["source"] == "import:call_center"
    assert "does not match" in bad[0]["reason"] and json.loads(bad[0]["payload"])["CallId"] == "3"
    # the same file again: nothing added
    again = import_file(workspace, "energie", f, source="call_center", mapping=m)
    assert again.already_imported and again.written == 0
    # an overlapping file (rows 1-2 again + a new one): only the new row lands
    f2 = tmp_path / "calls_2026-01-16.csv"
    f2.write_text("CallId;CustomerNo;Start;Duration;Topic\n1;C001;15/01/2026 09:30;120;billing\n"
                  "2;C002;15/01/2026 10:00;45;x\n6;C006;16/01/2026 12:00;5;billing\n")
    r2 = import_file(workspace, "energie", f2, source="call_center", mapping=m)
    assert (r2.written, r2.duplicates) == (1, 2)
    assert workspace.lake.read("energie", "raw", "events").num_rows == 5
    assert quarantine.count(workspace, "energie") == 1
    log = recent_imports(workspace, tenant="energie")
    assert [e["file"] for e in log] == [f2.name, f.name, f.name] and log[1]["already_imported"]


def test_fixed_mapping_replays_quarantined_rows(workspace, tmp_path):
    f = tmp_path / "calls.csv"
    f.write_text("CallId;CustomerNo;Start;Duration;Topic\n1;C1;2026-01-15 09:30;1;a\n2;C2;15/01/2026 09:30;1;b\n")
    m = tmp_path / "calls.toml"
    m.write_text(CALLS_TOML)
    r = import_file(workspace, "energie", f, source="call_center", mapping=m)
    assert (r.written, r.quarantined) == (1, 1)
    res = quarantine.replay(workspace, "energie", mapping=str(m))  # same mapping: still wrong
    assert (res.replayed, res.still_invalid) == (0, 1) and "does not match" in next(iter(res.reasons))
    fixed = tmp_path / "calls_fixed.toml"  # the fix: that system sends ISO dates
    fixed.write_text(CALLS_TOML.replace('{ column = "Start", format = "%d/%m/%Y %H:%M" }', '"Start"'))
    res = quarantine.replay(workspace, "energie", mapping=str(fixed))
    assert (res.replayed, res.written, res.still_invalid) == (1, 1, 0)
    assert quarantine.count(workspace, "energie") == 0
    assert workspace.lake.read("energie", "raw", "events").num_rows == 2


def test_invoices_jsonl_with_decimal_comma_and_bad_lines(workspace, tmp_path):
    f = tmp_path / "invoices.jsonl"
    lines = [
        {"no": "F1", "cust": "C1", "date": "2026-02-01T00:00:00Z", "amount": "120,50", "status": "issued"},
        {"no": "F2", "cust": "C2", "date": "2026-02-01T00:00:00Z", "amount": "abc"},
        "not json",
        {"no": "F3", "cust": "C3", "date": "2026-02-02T00:00:00Z", "amount": "9,99"},
        {"no": "F1", "cust": "C1", "date": "2026-02-01T00:00:00Z", "amount": "120,50"},
    ]
    f.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    m = Mapping.from_dict({"table": "invoices", "columns": {
        "invoice_id": "no", "customer_number": "cust", "issued_at": "date",
        "amount_eur": {"column": "amount", "decimal": ","}, "status": "status"}})
    r = import_file(workspace, "energie", f, source="billing", mapping=m)
    assert (r.rows_read, r.written, r.quarantined, r.duplicates) == (5, 2, 2, 1)
    inv = {i["invoice_id"]: i for i in workspace.lake.read("energie", "raw", "invoices").to_pylist()}
    assert inv["F1"]["amount_eur"] == 120.5 and inv["F3"]["amount_eur"] == 9.99
    lines_q = sorted(x["line"] for x in quarantine.list_rows(workspace, "energie"))
    assert lines_q == [2, 3]
    an = workspace.lake.read("energie", "analytics", "invoices").column("customer_number").to_pylist()
    assert all(c.startswith("px") for c in an)


def test_loyalty_transactions_parquet(workspace, tmp_path):
    f = tmp_path / "tx.parquet"
    pq.write_table(pa.table({
        "ticket": ["T1", "T1", "T2", "T3"], "line": [1, 2, 1, 1], "card": ["K1", "K1", None, "K3"],
        "store": ["S1", "S1", "S2", "S2"], "chain": ["R1", "R1", "R2", "R2"],
        "at": [dt.datetime(2026, 3, 1, 10, tzinfo=UTC)] * 4, "sku": ["P1", "P2", "P1", "P9"],
        "qty": [1, 2, 1, -1], "amount": [3.5, 7.0, 3.5, None],
    }), f)
    m = Mapping.from_dict({"table": "transactions", "columns": {
        "transaction_id": "ticket", "line_no": "line", "card_id": "card", "store_id": "store",
        "retailer": "chain", "ts": "at", "product_id": "sku", "quantity": "qty", "amount_eur": "amount"}})
    r = import_file(workspace, "fidelite", f, source="pos", mapping=m)
    assert (r.written, r.quarantined) == (3, 1)
    q = quarantine.list_rows(workspace, "fidelite")
    assert q[0]["line"] == 4 and "amount_eur" in q[0]["reason"]
    tx = workspace.lake.read("fidelite", "raw", "transactions").sort_by([("transaction_id", "ascending"),
                                                                          ("line_no", "ascending")])
    assert tx.column("quantity").to_pylist() == [1, 2, 1]
    assert workspace.lake.read("energie", "raw", "transactions").num_rows == 0


def _ts(h: int, mi: int = 0, d: int = 1) -> dt.datetime:
    return dt.datetime(2026, 1, d, h, mi, tzinfo=UTC)


def test_load_curve_resample_rules():
    rows = [  # unsorted, mixed steps, a duplicate, a gap, a partial slot
        ("M1", _ts(1), 60, 2.0), ("M1", _ts(0, 10), 10, 0.2), ("M1", _ts(0, 0), 10, 0.1),
        ("M1", _ts(0, 20), 10, 0.3), ("M1", _ts(0, 30), 30, 1.0), ("M1", _ts(0, 0), 10, 0.1),
        ("M1", _ts(3, 0), 10, 0.4), ("M2", _ts(0), 30, 5.0),
    ]
    table = pa.table({"meter_point": [r[0] for r in rows], "site_id": ["S"] * len(rows),
                      "ts": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
                      "interval_minutes": pa.array([r[2] for r in rows], pa.int16()),
                      "kwh": [r[3] for r in rows], "quality": [None] * len(rows)})
    out = resample(table, 30).to_pylist()
    got = [(r["meter_point"], r["ts"].hour, r["ts"].minute, round(r["kwh"], 9), r["quality"]) for r in out]
    assert got == [
        ("M1", 0, 0, 0.6, "measured"),      # 3 × 10 min summed (the duplicate counted once)
        ("M1", 0, 30, 1.0, "measured"),
        ("M1", 1, 0, 1.0, "estimated"),     # the 60-min reading split in two
        ("M1", 1, 30, 1.0, "estimated"),
        ("M1", 3, 0, 0.4, "partial"),       # 10 of 30 minutes: kept, not extrapolated
        ("M2", 0, 0, 5.0, "measured"),      # 02:00-03:00 of M1 is a gap: no row
    ]
    assert all(r["interval_minutes"] == 30 for r in out)


def test_meter_csv_import_normalizes_and_reimport_adds_nothing(workspace, tmp_path):
    f = tmp_path / "curves.csv"
    f.write_text("prm,site,start,step,kwh\n"
                 "PRM1,S1,2026-01-01T01:00:00Z,60,2.0\n"
                 "PRM1,S1,2026-01-01T00:10:00Z,10,0.2\n"
                 "PRM1,S1,2026-01-01T00:00:00Z,10,0.1\n"
                 "PRM1,S1,2026-01-01T00:20:00Z,10,0.3\n"
                 "PRM1,S1,not a date,10,0.3\n")
    m = tmp_path / "curves.toml"
    m.write_text('table = "meter_readings"\n[columns]\nmeter_point = "prm"\nsite_id = "site"\nts = "start"\n'
                 'interval_minutes = "step"\nkwh = "kwh"\n[resample]\ninterval_minutes = 30\n')
    r = import_file(workspace, "energie", f, source="enedis", mapping=m)
    assert (r.written, r.quarantined) == (3, 1)
    got = workspace.lake.read("energie", "raw", "meter_readings").sort_by("ts").to_pylist()
    assert [(x["ts"].hour, x["ts"].minute, round(x["kwh"], 9)) for x in got] == [(0, 0, 0.6), (1, 0, 1.0), (1, 30, 1.0)]
    f2 = tmp_path / "curves_again.csv"
    f2.write_text(f.read_text() + "PRM1,S1,2026-01-01T00:30:00Z,30,0.9\n")
    r2 = import_file(workspace, "energie", f2, source="enedis", mapping=m)
    assert (r2.written, r2.duplicates) == (1, 3)
    assert workspace.lake.read("energie", "raw", "meter_readings").num_rows == 4


def test_mapping_errors_are_clear(tmp_path):
    with pytest.raises(MappingError, match="not in table invoices"):
        Mapping.from_dict({"table": "invoices", "columns": {"nope": "x"}})
    with pytest.raises(MappingError, match="not mapped: amount_eur"):
        Mapping.from_dict({"table": "invoices", "columns": {
            "invoice_id": "a", "customer_number": "b", "issued_at": "c"}})
    with pytest.raises(MappingError, match="table must be one of"):
        Mapping.from_dict({"table": "quarantine", "columns": {"a": "b"}})
    with pytest.raises(MappingError, match="exactly one of"):
        Mapping.from_dict({"table": "weather", "columns": {"region": {"column": "a", "value": 1}}})


def test_large_csv_reports_progress_in_bytes(workspace, tmp_path, monkeypatch):
    from parcours.collect import importer

    monkeypatch.setattr(importer, "CHUNK_ROWS", 500)  # several chunks from a small file
    f = tmp_path / "weather.csv"
    f.write_text("region,date,t\n" + "".join(f"R{i % 7},2026-01-{1 + i % 28:02d},{i % 30}.5\n" for i in range(2000)))
    m = Mapping.from_dict({"table": "weather", "columns": {"region": "region", "date": "date", "temp_mean_c": "t"}})
    calls: list[tuple[str, int, int]] = []
    r = import_file(workspace, "energie", f, source="meteo", mapping=m, progress=lambda *a: calls.append(a))
    size = f.stat().st_size
    assert len(calls) >= 4 and all(c[0] == f"import {f.name}" and c[2] == size for c in calls)
    done = [c[1] for c in calls]
    assert done == sorted(done) and done[-1] == size
    # the key (region, date) repeats every 28 rows (7 divides 28): 28 distinct rows
    assert (r.rows_read, r.written, r.duplicates) == (2000, 28, 1972)
