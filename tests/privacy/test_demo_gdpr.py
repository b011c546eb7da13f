"""GDPR on the demo world: the export is complete, and after `parcours gdpr erase` no
file of the workspace holds the person's identifiers or pseudonyms, while every other
row is unchanged.

The person's rows are found here independently of parcours.privacy: from the demo
generator's truth (demo/persons_<tenant>.parquet), by plain Python over every row.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import os
import subprocess
import sys

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import parcours
from parcours.privacy import audit
from tests.privacy.scanning import all_files, any_of, search
from tests.support import copy_workspace

TENANT = "energie"


def _cli(ws_path, *args):
    env = {**os.environ, "PARCOURS_WORKSPACE": str(ws_path)}
    return subprocess.run([sys.executable, "-m", "parcours.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def _truth_ids(ws, tenant):
    """person_id -> identifiers only that person holds (shared ones excluded)."""
    rows = pq.read_table(ws.path / "demo" / f"persons_{tenant}.parquet").to_pylist()
    holders = collections.defaultdict(set)
    for r in rows:
        holders[r["identifier"]].add(r["person_id"])
    out = collections.defaultdict(set)
    for r in rows:
        if len(holders[r["identifier"]]) == 1:
            out[r["person_id"]].add(r["identifier"])
    return out


def _pseudo(key: bytes, value: str) -> str:  # HMAC-SHA256, as documented
    return "px" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def _holds(table: pa.Table, needles: set[str]) -> np.ndarray:
    """Per row: does any string cell equal a needle, or contain a long one (JSON, text)?
    The long ones as one regular expression: each cell read once, whatever their number."""
    mask = np.zeros(table.num_rows, dtype=bool)
    values = pa.array(sorted(needles), pa.string())
    long = any_of(n for n in needles if len(n) >= 8)
    for col in table.columns:
        if not pa.types.is_string(col.type):
            continue
        hit = pc.is_in(col, value_set=values)
        if long:
            hit = pc.or_(hit, pc.match_substring_regex(col, long))
        mask |= pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
    return mask


def _digests(table: pa.Table) -> np.ndarray:
    """A multiset of row checksums (every column, values included), as a sorted array:
    DuckDB hashes each row's values, in its threads (no Python object per cell)."""
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in table.column_names)
    with duckdb.connect() as con:
        con.register("t", table)
        digests = con.sql(f"SELECT hash({cols}) AS h FROM t").fetchnumpy()["h"]
    return np.sort(np.asarray(digests, dtype=np.uint64))


def _pick(ws, ids_by_person):
    """A customer present in as many energie tables as possible (events, invoices,
    payments, verbatims, meter readings)."""
    verb = {r["user_id"] for r in ws.lake.read(TENANT, "raw", "verbatims", ["user_id"]).to_pylist()}
    metered = set(ws.lake.read(TENANT, "raw", "meter_readings", ["meter_point"]).column("meter_point").unique().to_pylist())
    for person, ids in sorted(ids_by_person.items()):
        if ids & verb and ids & metered:
            key = next(i for i in sorted(ids) if i.startswith("C"))
            return person, key
    pytest.skip("no demo customer with verbatims and meter readings")


@pytest.fixture(scope="module")
def erased(demo_resolved_ws, tmp_path_factory):
    # a copy of the resolved world: profiles, identity map and edges, and the serving
    # store (SQLite) the 360 view reads — all must lose the person too
    path = copy_workspace(demo_resolved_ws, tmp_path_factory, "gdpr")
    ws = parcours.open(path)
    assert (ws.serving_dir / TENANT / "raw.sqlite").exists()
    ids_by_person = _truth_ids(ws, TENANT)
    person, key = _pick(ws, ids_by_person)
    ids = ids_by_person[person]
    secret = ws.keys.get(TENANT).reveal()
    links = ws.lake.read(TENANT, "raw", "identity_map").to_pylist()
    profiles = {r["profile_id"] for r in links if r["identifier"] in ids and r["status"] == "linked"}
    assert len(profiles) == 1
    ids = ids | profiles  # the profile id is the person's too (same value in both zones)
    pseudos = {_pseudo(secret, v) for v in ids} | profiles
    before, mine = {}, {}
    for zone in ("raw", "analytics"):
        needles = ids if zone == "raw" else pseudos
        for table in ws.lake.tables(TENANT, zone):
            data = ws.lake.read(TENANT, zone, table)
            hit = _holds(data, needles)
            mine[(zone, table)] = int(hit.sum())
            before[(zone, table)] = _digests(data.filter(pa.array(~hit)))
    other_tenant = {t: ws.lake.version("fidelite", "raw", t) for t in ws.lake.tables("fidelite", "raw")}
    out = ws.path.parent / "export.json"
    exported = _cli(path, "gdpr", "export", "--tenant", TENANT, "--customer", key, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    run = _cli(path, "gdpr", "erase", "--tenant", TENANT, "--customer", key, "--yes", "--json")
    assert run.returncode == 0, run.stderr
    ws.close()
    return {"ws": parcours.open(path), "key": key, "ids": ids, "pseudos": pseudos, "before": before,
            "mine": mine, "report": json.loads(run.stdout), "export": json.loads(out.read_text()),
            "other_tenant": other_tenant, "source": demo_resolved_ws}


def test_export_counts_equal_every_table(erased):
    doc = erased["export"]
    raw_counts = {t: n for (z, t), n in erased["mine"].items() if z == "raw"}
    assert sum(raw_counts.values()) > 20
    got = {t: v["count"] for t, v in doc["tables"].items() if v["zone"] == "raw"}
    assert got == raw_counts
    for t, v in doc["tables"].items():
        assert len(v["rows"]) == v["count"], t
    assert erased["ids"] <= {i["value"] for i in doc["identifiers"]} | set(doc["profiles"])


def test_erasure_removes_exactly_the_persons_rows(erased):
    report = erased["report"]
    assert report["complete"] and not report["remaining"]
    assert sorted(report["serving_rebuilt"]) == ["analytics", "raw"]
    removed = {(t["zone"], t["table"]): t["rows_removed"] for t in report["tables"]}
    expected = {k: n for k, n in erased["mine"].items() if n}
    assert removed == expected
    ws = erased["ws"]
    for (zone, table), counter in erased["before"].items():
        assert np.array_equal(_digests(ws.lake.read(TENANT, zone, table)), counter), (zone, table)
    # the other tenant was not touched at all
    assert {t: ws.lake.version("fidelite", "raw", t) for t in ws.lake.tables("fidelite", "raw")} == erased["other_tenant"]


def test_no_file_of_the_workspace_holds_the_person(erased):
    ws = erased["ws"]
    needles = erased["ids"] | erased["pseudos"]
    phones = [i for i in erased["ids"] if i.startswith("+33")]
    for p in phones:  # as people write them in free text
        national = "0" + p[3:]
        needles.add(" ".join(national[i:i + 2] for i in range(0, 10, 2)))
    files = all_files(ws.path)
    assert len(files) > 200
    # the search does find the person in the untouched demo world (a scan that cannot
    # find anything would prove nothing)
    source = erased["source"].lake.root / TENANT / "raw" / "customers"
    assert search([f for f in all_files(source) if f.suffix == ".parquet"], needles)
    found = search(files, needles)
    assert not found, {k: sorted(v) for k, v in list(found.items())[:10]}


def test_audit_log_records_the_export_and_the_erasure(erased):
    lines = audit.read(erased["ws"], TENANT)
    actions = [(x["user"], x["action"]) for x in lines]
    assert actions.count(("operator", "gdpr_export")) == 1
    assert actions.count(("operator", "gdpr_erase")) == 1
    # the export line keeps who/when/what, but no longer names the erased person
    export = next(x for x in lines if x["action"] == "gdpr_export")
    assert export["customer"].startswith("[erased:") and erased["key"] not in json.dumps(lines)


def test_analytics_zone_with_identity_tables_holds_no_raw_identifier(erased):
    """With identity resolution's tables (identity_map, identity_edges, profiles) in the
    analytics zone too, it still holds none of the world's raw identifiers."""
    from tests.privacy.test_demo_zones import TENANTS, _raw_identifiers

    ws = erased["ws"]
    assert ws.lake.exists(TENANT, "analytics", "identity_edges")
    needles = _raw_identifiers(ws)
    files = [f for t in TENANTS for f in all_files(ws.lake.root / t / "analytics")]
    assert not search(files, needles)
