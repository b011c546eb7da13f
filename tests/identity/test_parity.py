"""Resolution gives the same profiles on DuckDB and on Spark."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

import parcours
from parcours.identity import resolve
from tests.identity import world

pytestmark = pytest.mark.spark
RUN = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)


def _partition(ws, zone):
    rows = ws.lake.read("energie", zone, "identity_map").to_pylist()
    out = {}
    for r in rows:
        out.setdefault((r["profile_id"], r["status"]), set()).add((r["id_type"], r["identifier"]))
    return out


def test_same_profiles_on_duckdb_and_spark(workspace, spark_session, tmp_path):
    world.build(workspace)
    # an over-merged chain (two customer numbers through one email seen with only one
    # of them in each row) exercises the split, too
    workspace.write("energie", "events", world.events_table([
        world.event(type="identify", user_id="C100", anonymous_id="a-x", minutes=1),
        world.event(anonymous_id="a-x", traits={"email": "x@example.org"}, minutes=2),
        world.event(anonymous_id="a-y", traits={"email": "x@example.org"}, minutes=3),
        world.event(type="identify", user_id="C101", anonymous_id="a-y", minutes=4),
    ]))
    copy = tmp_path / "spark-ws"
    shutil.copytree(workspace.path, copy)
    duck = resolve(workspace, "energie", run_at=RUN)
    spark_ws = parcours.open(copy, engine={"kind": "spark"})
    spark = resolve(spark_ws, "energie", run_at=RUN)
    assert spark_ws.engine.kind == "spark"
    assert (duck.profiles, duck.edges, duck.cut_edges, duck.shared_identifiers) == (
        spark.profiles, spark.edges, spark.cut_edges, spark.shared_identifiers
    )
    assert duck.split_components == spark.split_components == 1
    for zone in ("analytics", "raw"):
        assert _partition(workspace, zone) == _partition(spark_ws, zone)
    e1 = sorted(map(str, workspace.lake.read("energie", "analytics", "identity_edges").to_pylist()))
    e2 = sorted(map(str, spark_ws.lake.read("energie", "analytics", "identity_edges").to_pylist()))
    assert e1 == e2


def test_json_values_keep_trailing_letters_on_both_engines(spark_session):
    """Ibis' strip() on Spark also trims the letters v and f (its escapes \\v and \\f are
    read as letters): a pseudonym ending in f lost a character. json_value must not."""
    import ibis
    import pandas as pd

    from parcours.identity.edges import json_value

    values = ["pxa0f", "vpx12v", "  spaced\t", "fff"]
    df = pd.DataFrame({"traits": [f'{{"email": "{v}"}}' for v in values]})
    spark_session.createDataFrame(df).createOrReplaceTempView("json_strip_values")
    expected = ["pxa0f", "vpx12v", "spaced", "fff"]
    for t in (ibis.pyspark.connect(spark_session).table("json_strip_values"), ibis.memtable(df)):
        got = t.select(v=json_value(t.traits, "email", t.get_backend().name)).to_pandas()["v"].tolist()
        assert got == expected, t.get_backend().name


def test_json_values_are_read_whole_and_unescaped_on_both_engines(spark_session):
    """A string value keeps its commas, braces and escaped quotes, and its escapes are
    decoded (Python's json.dumps — the Segment Python SDK — writes "é" as \\u00e9);
    numbers and nested keys are read; a string the JSON parser refuses is kept as written."""
    import json

    import ibis
    import pandas as pd

    from parcours.identity.edges import json_value

    docs = [
        json.dumps({"address": "12, rue de la Paix", "city": "Paris"}),
        json.dumps({"address": "Hélène {B} \"Bât\" 3", "n": 5}),  # ensure_ascii: \u00e9
        json.dumps({"address": "Zoë"}, ensure_ascii=False),
        json.dumps({"x": {"address": "nested, too"}}),
        '{"address" :  42.5}',
        '{"address": null}',
        '{"address": "bad \\q escape"}',
        '{"city": "no address"}',
        None,
    ]
    expected = ["12, rue de la Paix", 'Hélène {B} "Bât" 3', "Zoë", "nested, too", "42.5", "null",
                "bad \\q escape", None, None]
    df = pd.DataFrame({"traits": docs})
    spark_session.createDataFrame(df).createOrReplaceTempView("json_whole_values")
    for t in (ibis.pyspark.connect(spark_session).table("json_whole_values"), ibis.memtable(df)):
        got = t.select(v=json_value(t.traits, "address", t.get_backend().name)).to_pandas()["v"]
        assert [None if pd.isna(v) else v for v in got] == expected, t.get_backend().name
