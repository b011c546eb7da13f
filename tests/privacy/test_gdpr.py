"""GDPR erasure and export on small data covering every place a person can be: both
zones, the identity map, the spool, the serving store, the audit log and side files."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from parcours.collect import spool
from parcours.errors import NotFoundError
from parcours.privacy import audit
from parcours.privacy.gdpr import erase_subject, export_subject
from parcours.privacy.pseudonymize import pseudonym
from tests.privacy.scanning import all_files, search

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _events(rows):
    n = len(rows)
    return pa.table({
        "message_id": [r[0] for r in rows], "tenant": ["energie"] * n, "type": [r[1] for r in rows],
        "event": [r[1] for r in rows], "channel": ["web"] * n, "user_id": [r[2] for r in rows],
        "anonymous_id": [r[3] for r in rows],
        "timestamp": pa.array([T0.replace(day=1 + i % 3) for i in range(n)], pa.timestamp("us", tz="UTC")),
        "received_at": pa.array([T0] * n, pa.timestamp("us", tz="UTC")),
        "traits": [r[4] for r in rows], "context": [r[5] for r in rows],
    })


@pytest.fixture()
def world(workspace):
    ws = workspace
    ws.write("energie", "customers", pa.table({
        "customer_number": ["CUST-0001", "CUST-0002", "CUST-0003"],
        "first_name": ["Zoé", "Marc", "Luc"], "last_name": ["Vasseur", "Petit", "Vasseur"],
        "email": ["family@maison.fr", "marc.petit@ex.fr", "family@maison.fr"],  # shared by 1 and 3
        "phone": ["+33611112222", "+33633334444", "+33655556666"],
    }))
    ws.write("energie", "events", _events([
        ("m1", "identify", "CUST-0001", "anon-aaaa-1111", '{"email":"family@maison.fr"}', None),
        ("m2", "page", None, "anon-aaaa-1111", None, '{"deviceId":"dev-zzzz-9999"}'),
        ("m3", "page", None, "anon-bbbb-2222", None, '{"deviceId":"dev-zzzz-9999"}'),
        ("m4", "track", "CUST-0002", "anon-cccc-3333", None, None),
        ("m5", "identify", "CUST-0003", None, '{"email":"family@maison.fr","phone":"+33655556666"}', None),
    ]))
    ws.write("energie", "verbatims", pa.table({
        "verbatim_id": ["V1", "V2"], "channel": ["complaint", "complaint"],
        "user_id": ["CUST-0001", "CUST-0002"], "ts": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
        "text": ["Zoé Vasseur, joignable au 06 11 11 22 22", "Rappelez Marc au +33633334444"],
    }))
    # the identity helper's map (written per zone, as parcours.identity does): the device
    # belongs to CUST-0001's profile; the family email is shared
    ids = ["CUST-0001", "anon-aaaa-1111", "dev-zzzz-9999", "CUST-0002", "family@maison.fr"]
    secret = ws.keys.get("energie")
    for zone, values in (("raw", ids), ("analytics", [pseudonym(secret, v) for v in ids])):
        ws.lake.overwrite("energie", zone, "identity_map", pa.table({
            "identifier": values,
            "id_type": ["customer_number", "anonymous_id", "device_id", "customer_number", "email"],
            "profile_id": ["prof-1", "prof-1", "prof-1", "prof-2", "prof-1"],
            "status": ["linked", "linked", "linked", "linked", "shared"],
        }))
    ws.write("fidelite", "customers", pa.table({"customer_number": ["CUST-0001"], "email": ["other@tenant.fr"]}))
    # a spool segment not loaded yet: one batch with an event of each of two customers
    body = json.dumps({"batch": [
        {"type": "track", "event": "x", "userId": "CUST-0001", "messageId": "s1"},
        {"type": "track", "event": "y", "userId": "CUST-0002", "messageId": "s2"}]}).encode()
    meta = spool.Meta(tenant="energie", channel=None, endpoint="batch", received_us=1)
    ws.spool_dir.mkdir(parents=True, exist_ok=True)
    (ws.spool_dir / ("seg-1" + spool.SUFFIX)).write_bytes(spool.encode_record(meta, body))
    ws.serving_dir.mkdir(parents=True, exist_ok=True)
    (ws.serving_dir / "energie.store").write_bytes(b"...CUST-0001...")
    (ws.serving_dir / "fidelite.store").write_bytes(b"...L1...")
    (ws.path / "notes.csv").write_text("customer,note\nCUST-0001,called\nCUST-0002,ok\n")
    audit.record(ws, "operator", "view_360", customer="CUST-0001", tenant="energie")
    return ws


def test_export(world):
    doc = export_subject(world, "energie", "CUST-0001")
    counts = {t: v["count"] for t, v in doc["tables"].items()}
    # events: m1 (user), m2 (its anonymous id), m3 (the device of its profile);
    # identity_map: its 3 linked identifiers and the shared email seen with its profile
    assert counts == {"customers": 1, "events": 3, "verbatims": 1, "identity_map": 4}
    ids = {(i["type"], i["value"]) for i in doc["identifiers"]}
    assert {("device_id", "dev-zzzz-9999"), ("email", "family@maison.fr"), ("phone", "+33611112222")} <= ids
    assert doc["profiles"] == ["prof-1"]
    assert json.dumps(doc)  # serialisable as is
    with pytest.raises(NotFoundError):
        export_subject(world, "energie", "CUST-9999")


def test_erase_everywhere(world):
    ws = world
    secret = ws.keys.get("energie")
    mine = {"CUST-0001", "anon-aaaa-1111", "dev-zzzz-9999", "+33611112222", "prof-1", "06 11 11 22 22"}
    pseudos = {pseudonym(secret, v) for v in mine}
    report = erase_subject(ws, "energie", "CUST-0001")
    removed = {(t.zone, t.table): t.rows_removed for t in report.tables}
    assert removed == {
        ("raw", "customers"): 1, ("raw", "events"): 3, ("raw", "verbatims"): 1, ("raw", "identity_map"): 4,
        ("analytics", "customers"): 1, ("analytics", "events"): 3, ("analytics", "verbatims"): 1,
        ("analytics", "identity_map"): 4,
    }
    assert all(t.files_vacuumed >= 1 for t in report.tables)
    assert report.spool_segments_rewritten == 1 and report.spool_records_removed == 1
    assert report.serving_files_removed == 1 and report.audit_lines_scrubbed == 1
    assert report.files_scrubbed == ["notes.csv"] and report.complete
    # nothing left anywhere, not even in the Delta logs (fidelite has a customer with the
    # same key: another tenant, another person, kept)
    other = ws.lake.root / "fidelite"
    files = [f for f in all_files(ws.path) if other not in f.parents]
    assert not search(files, mine | pseudos)
    # the others are intact: the shared email's other holder, the other customer, the
    # other tenant's homonym key
    raw = ws.lake.read("energie", "raw", "customers").to_pylist()
    assert sorted(r["customer_number"] for r in raw) == ["CUST-0002", "CUST-0003"]
    assert next(r for r in raw if r["customer_number"] == "CUST-0003")["email"] == "family@maison.fr"
    ev = sorted(r["message_id"] for r in ws.lake.read("energie", "raw", "events").to_pylist())
    assert ev == ["m4", "m5"]
    assert ws.lake.read("fidelite", "raw", "customers").num_rows == 1
    assert (ws.serving_dir / "fidelite.store").exists()
    seg = (ws.spool_dir / ("seg-1" + spool.SUFFIX)).read_bytes()
    meta, body = spool.decode_record(seg)
    assert [e["userId"] for e in json.loads(body)["batch"]] == ["CUST-0002"]
    assert "CUST-0002,ok" in (ws.path / "notes.csv").read_text()
    report_file = ws.path / "gdpr" / "energie" / f"erasure-{report.erasure_id}.json"
    assert json.loads(report_file.read_text())["rows_removed"] == report.rows_removed
    # a second erasure finds nothing left
    with pytest.raises(NotFoundError):
        erase_subject(ws, "energie", "CUST-0001")


def test_erase_through_the_api(world):
    from fastapi.testclient import TestClient

    from parcours.privacy.users import UserStore
    from parcours.web.app import create_app

    token = UserStore(world).create_user("dm", {"energie": "data_manager"})
    client = TestClient(create_app(world))
    h = {"Authorization": f"Bearer {token}"}
    url = "/api/v1/tenants/energie/gdpr/erase"
    r = client.post(url, json={"customer": "CUST-0002", "confirm": False}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["type"] == "UserError"
    assert world.lake.read("energie", "raw", "customers").num_rows == 3
    r = client.post(url, json={"customer": "CUST-0002", "confirm": True}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["complete"] and body["rows_removed"] > 0 and "CUST-0002" not in r.text
    keys = sorted(x["customer_number"] for x in world.lake.read("energie", "raw", "customers").to_pylist())
    assert keys == ["CUST-0001", "CUST-0003"]
    assert [x["action"] for x in audit.read(world, "energie")][-1] == "gdpr_erase"
