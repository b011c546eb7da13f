"""The journeys CLI and REST API give the Python API's numbers; their mistakes are one
line (CLI) or one JSON error (API); a user of the other tenant is answered 404."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import parcours
from parcours.cli import app as cli_app
from parcours.privacy.users import UserStore
from parcours.web.app import create_app
from tests.support import copy_workspace

TENANT = "energie"


@pytest.fixture(scope="module")
def world(demo_resolved_ws, tmp_path_factory):
    """A copy of the resolved demo world (shared and read-only: these tests add users),
    a manager of each tenant, and an API client."""
    ws = parcours.open(copy_workspace(demo_resolved_ws, tmp_path_factory, "journeys-cli-api"))
    store = UserStore(ws)
    tokens = {t: store.create_user(f"manager-{t}", {t: "manager"}) for t in ("energie", "fidelite")}
    truth = json.loads((ws.path / "demo" / "truth.json").read_text(encoding="utf-8"))[TENANT]
    client = TestClient(create_app(ws), raise_server_exceptions=False)
    yield ws, tokens, truth, client
    ws.close()


def _cli_json(ws, *args: str, token: str | None = None) -> dict:
    env = {"PARCOURS_TOKEN": token} if token else {}
    r = CliRunner().invoke(cli_app, ["journeys", *args, "-w", str(ws.path), "--tenant", TENANT,
                                     "--json"], env=env)
    assert r.exit_code == 0, (r.output, r.exception)
    return json.loads(r.stdout)


def _api(client, analysis: str, params, token: str):
    return client.get(f"/api/v1/tenants/{TENANT}/journeys/{analysis}", params=params,
                      headers={"Authorization": f"Bearer {token}"})


def _same_as_python(body: dict, python: dict) -> dict:
    """The API body without what it adds to ``to_dict()`` (a null ``message``, the
    funnel's ``steps``), so it can be compared with the Python API's answer."""
    out = {k: v for k, v in body.items() if k != "steps"}
    if out.get("message") is None and "message" not in python:
        out.pop("message", None)
    assert out == python
    return out


def _churn(truth: dict) -> list[str]:
    return [*truth["churn"]["sequence"], truth["churn"]["target"]]


# (analysis, CLI arguments, Python keyword arguments, API query parameters)
CASES = {
    "funnel": (
        lambda t: [a for s in _churn(t) for a in ("--step", s)] + ["--window", "30d"],
        lambda t: {"steps": _churn(t), "window": "30d"},
        lambda t: [*(("steps", s) for s in _churn(t)), ("window", "30d")],
    ),
    "funnel-breakdown": (
        lambda t: ["--step", t["churn"]["sequence"][0], "--step", t["churn"]["sequence"][1],
                   "--window", "14d", "--breakdown", "channel", "--start", "2025-03-01"],
        lambda t: {"steps": t["churn"]["sequence"][:2], "window": "14d", "breakdown": "channel",
                   "start": "2025-03-01"},
        lambda t: [("steps", t["churn"]["sequence"][0]), ("steps", t["churn"]["sequence"][1]),
                   ("window", "14d"), ("breakdown", "channel"), ("start", "2025-03-01")],
    ),
    "paths": (
        lambda t: ["--event", t["churn"]["sequence"][0], "--steps", "2", "--top", "5"],
        lambda t: {"event": t["churn"]["sequence"][0], "steps": 2, "top": 5},
        lambda t: {"event": t["churn"]["sequence"][0], "steps": 2, "top": 5},
    ),
    "precursors": (
        lambda t: ["--target", t["call"]["target"], "--lookback", "30d", "--max-length", "2",
                   "--min-support", "50"],
        lambda t: {"target": t["call"]["target"], "lookback": "30d", "max_length": 2,
                   "min_support": 50},
        lambda t: {"target": t["call"]["target"], "lookback": "30d", "max_length": 2,
                   "min_support": 50},
    ),
    "precursors-by-lift": (
        lambda t: ["--target", t["churn"]["target"], "--max-length", "1", "--sort", "lift",
                   "--top", "5"],
        lambda t: {"target": t["churn"]["target"], "max_length": 1, "sort": "lift", "top": 5},
        lambda t: {"target": t["churn"]["target"], "max_length": 1, "sort": "lift", "top": 5},
    ),
    "channels": (lambda t: ["--end", "2025-07-01"], lambda t: {"end": "2025-07-01"},
                 lambda t: {"end": "2025-07-01"}),
    "before-call": (
        lambda t: ["--days", "7", "--top", "3"],
        lambda t: {"days": 7, "top": 3},
        lambda t: {"days": 7, "top": 3},
    ),
    "retention": (
        lambda t: ["--by", "first_purchase", "--purchase-event", "contract_subscribed"],
        lambda t: {"by": "first_purchase", "purchase_event": "contract_subscribed"},
        lambda t: {"by": "first_purchase", "purchase_event": "contract_subscribed"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cli_and_api_give_the_python_numbers(world, case):
    ws, tokens, truth, client = world
    cli_args, py_kwargs, api_params = CASES[case]
    command = case.split("-breakdown")[0].split("-by-")[0]
    method = command.replace("-", "_")
    python = getattr(ws.journeys, method)(TENANT, **py_kwargs(truth)).to_dict()
    assert python["rows"], python  # a comparison of empty answers would prove little
    assert _cli_json(ws, command, *cli_args(truth)) == python
    r = _api(client, command, api_params(truth), tokens["energie"])
    assert r.status_code == 200, r.text
    _same_as_python(r.json(), python)


def test_funnel_recovers_the_planted_churn(world):
    """The figures the three surfaces agree on are the right ones: every planted churner
    went through the sequence and terminated within 28 days."""
    ws, tokens, truth, client = world
    r = _api(client, "funnel", [*(("steps", s) for s in _churn(truth)), ("window", "30d")],
             tokens["energie"])
    body = r.json()
    assert [s["step"] for s in body["steps"]] == _churn(truth)
    reached = [s["profiles"] for s in body["steps"]]
    assert reached == sorted(reached, reverse=True)
    assert reached[-1] == truth["churn"]["positives_with_sequence"]
    assert body["steps"][0]["conversion_from_first"] == 1.0
    assert body["steps"][-1]["conversion_from_first"] == pytest.approx(reached[-1] / reached[0])


def test_cli_prints_a_table(world):
    ws, _, truth, _ = world
    r = CliRunner().invoke(cli_app, ["journeys", "funnel", "-w", str(ws.path), "--tenant", TENANT,
                                     *(a for s in _churn(truth) for a in ("--step", s))])
    assert r.exit_code == 0, r.output
    assert "funnel within 30d" in r.stdout
    assert truth["churn"]["target"] in r.stdout
    assert str(truth["churn"]["positives_with_sequence"]) in r.stdout


def test_cli_as_a_user_needs_a_role_in_the_tenant(world):
    ws, tokens, truth, _ = world
    args = ["paths", "--event", truth["churn"]["sequence"][0], "--steps", "1"]
    # a manager of energie may: journeys are aggregates
    assert _cli_json(ws, *args, token=tokens["energie"])["rows"]
    r = CliRunner().invoke(cli_app, ["journeys", *args, "-w", str(ws.path), "--tenant", TENANT],
                           env={"PARCOURS_TOKEN": tokens["fidelite"]})
    assert r.exit_code != 0
    assert type(r.exception).__name__ == "TenantAccessError"


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real command (its entry point turns a ParcoursError into one line); a wide
    terminal, so that the line is not wrapped."""
    return subprocess.run([sys.executable, "-m", "parcours.cli", "journeys", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def _one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_cli_mistake_is_one_line(world):
    ws = world[0]
    r = _run_cli("funnel", "--step", "a", "--step", "b", "--window", "3x", "-w", str(ws.path),
                 "--tenant", TENANT)
    assert "invalid window '3x'" in _one_line(r)


def test_cli_refuses_a_user_of_the_other_tenant_in_one_line(world):
    ws, tokens, _, _ = world
    r = _run_cli("channels", "-w", str(ws.path), "--tenant", TENANT,
                 env={"PARCOURS_TOKEN": tokens["fidelite"]})
    assert "unknown tenant 'energie'" in _one_line(r)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["paths", "--direction", "sideways"], "invalid direction 'sideways'"),
        (["retention", "--by", "last_seen"], "invalid by 'last_seen'"),
        (["precursors", "--target", "no_such_event"], "no profile has the target event"),
        (["before-call", "--days", "0"], "invalid days 0"),
        (["channels", "--start", "2025-06-01", "--end", "2025-05-01"], "is not after start"),
    ],
)
def test_cli_mistakes_are_journeys_errors(world, args, says):
    """In process, the error reaches the entry point as a JourneysError (which it prints
    as one line, as above)."""
    from parcours.journeys import JourneysError

    ws = world[0]
    r = CliRunner().invoke(cli_app, ["journeys", *args, "-w", str(ws.path), "--tenant", TENANT])
    assert r.exit_code != 0
    assert isinstance(r.exception, JourneysError), r.exception
    assert says in r.exception.message


@pytest.mark.parametrize(
    ("analysis", "params", "parameter"),
    [
        ("funnel", [("steps", "a"), ("steps", "b"), ("window", "3x")], "window"),
        ("paths", {"direction": "sideways"}, "direction"),
        ("precursors", {"target": "no_such_event"}, "target"),
        ("precursors", {"target": "contract_terminated", "sort": "size"}, "sort"),
        ("before-call", {"days": 0}, "days"),
        ("retention", {"by": "last_seen"}, "by"),
        ("channels", {"start": "2025-06-01", "end": "2025-05-01"}, "end"),
    ],
)
def test_api_mistakes_are_400_with_the_json_error_shape(world, analysis, params, parameter):
    _, tokens, _, client = world
    r = _api(client, analysis, params, tokens["energie"])
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["parameter"] == parameter
    assert error["type"].endswith("Error") and error["message"]


def test_api_funnel_needs_steps(world):
    _, tokens, _, client = world
    r = _api(client, "funnel", {"window": "30d"}, tokens["energie"])
    assert r.status_code == 422
    assert r.json()["error"]["type"] == "ValidationError"


@pytest.mark.parametrize("analysis", ["paths", "funnel", "precursors", "channels",
                                      "before-call", "retention"])
def test_api_other_tenant_and_anonymous_are_refused(world, analysis):
    _, tokens, _, client = world
    params = {"funnel": {"steps": ["a", "b"]}, "precursors": {"target": "x"}}.get(analysis, {})
    r = _api(client, analysis, params, tokens["fidelite"])
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "TenantAccessError"
    assert "rows" not in r.text
    r = client.get(f"/api/v1/tenants/{TENANT}/journeys/{analysis}", params=params)
    assert r.status_code == 401


def test_api_answers_are_cached_per_table_version(demo_resolved_ws, tmp_path_factory):
    """A repeated question is answered from the cache; a new load is seen at once."""
    import datetime as dt

    import pyarrow as pa

    from parcours.web.pages import cache

    ws = parcours.open(copy_workspace(demo_resolved_ws, tmp_path_factory, "journeys-api-cache"))
    token = UserStore(ws).create_user("manager-cache", {TENANT: "manager"})
    client = TestClient(create_app(ws), raise_server_exceptions=False)
    params = {"event": "cache_probe_viewed", "steps": 1}
    first = _api(client, "paths", params, token).json()
    assert first["anchored"] == 0 and "no profile has the event" in first["message"]
    assert any(k[2][:2] == ("api", "paths") for k in cache._store)
    assert _api(client, "paths", params, token).json() == first
    # one known customer views the probe page: the next answer has them
    user = next(u for u in ws.lake.read(TENANT, "raw", "events", columns=["user_id"])
                .column("user_id").to_pylist() if u)
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # after every demo event
    ws.write(TENANT, "events", pa.table({
        "message_id": ["cache-probe-1"], "tenant": [TENANT], "type": ["track"],
        "event": ["cache_probe_viewed"], "channel": ["web"], "user_id": [user],
        "timestamp": [now], "received_at": [now]}))
    after = _api(client, "paths", params, token).json()
    assert after["anchored"] == 1
    assert after["rows"] == [{"path": ["(end)"], "profiles": 1, "share": 1.0}]
    ws.close()
