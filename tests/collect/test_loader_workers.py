"""Decoding in worker processes loads exactly what decoding in the loader's process
loads: same rows in both zones, same quarantine rows and reasons, same counts — with
duplicates across spans and segments, rejected events, a non-batch call, two tenants,
a damaged record in the middle of a segment and a torn tail."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

import parcours
from parcours.collect import workers
from parcours.collect.errors import DecodeWorkerError
from parcours.collect.loader import load_spool
from parcours.collect.spool import SUFFIX, Meta, encode_record
from parcours.events import spec
from parcours.privacy.pseudonymize import pseudonymize_table


def _event(mid: str, **kw: object) -> dict[str, object]:
    return {"type": "track", "messageId": mid, "userId": f"u-{mid}", "event": "E",
            "timestamp": "2026-05-01T00:00:00Z", "context": {"ip": "10.0.0.9"}, **kw}


def _records(seg: int) -> list[bytes]:
    out = []
    for r in range(12):
        tenant = "fidelite" if r % 5 == 4 else "energie"
        events = [_event(f"s{seg}-{r}-{i}") for i in range(8)]
        events.append(_event(f"s0-0-{r % 3}"))  # a retry of the first segment's events
        if r % 4 == 1:
            events.append(_event(f"bad-{seg}-{r}", timestamp="2200-01-01T00:00:00Z"))  # rejected
        body = json.dumps({"batch": events}).encode()
        out.append(encode_record(Meta(tenant, "web", "batch", 1_772_000_000_000_000 + r), body))
    single = json.dumps(_event(f"one-{seg}", type=None)).encode()
    out.append(encode_record(Meta("energie", None, "track", 1_772_000_000_000_999), single))
    return out


def _spool(ws: parcours.Workspace) -> None:
    ws.spool_dir.mkdir(parents=True, exist_ok=True)
    for seg in range(3):
        recs = _records(seg)
        if seg == 1:  # a damaged record in the middle: the rest of the segment is skipped
            bad = bytearray(recs[6])
            bad[-3] ^= 0xFF
            assert zlib.crc32(bytes(bad)) != zlib.crc32(recs[6])
            recs[6] = bytes(bad)
        data = b"".join(recs)
        if seg == 2:  # a writer died mid-append: a torn tail
            data += recs[0][:-7]
        (ws.spool_dir / f"{seg:020d}-test{SUFFIX}").write_bytes(data)


def _lake(ws: parcours.Workspace) -> dict[str, object]:
    """Each tenant's raw events and quarantine; the analytics zone is checked to be the
    raw zone's pseudonymized copy (each workspace has its own tenant secrets)."""
    out: dict[str, object] = {}
    s = spec("events")
    for tenant in ("energie", "fidelite"):
        raw = ws.lake.read(tenant, "raw", "events").sort_by("message_id")
        analytics = ws.lake.read(tenant, "analytics", "events").sort_by("message_id")
        expected = pseudonymize_table(s, raw, ws.keys.get(tenant))
        assert analytics.to_pylist() == expected.to_pylist()
        out[f"{tenant}/raw"] = raw.to_pylist()
        q = ws.lake.read(tenant, "raw", "quarantine").drop_columns(["day"]).to_pylist()
        out[f"{tenant}/quarantine"] = sorted(q, key=lambda r: r["quarantine_id"])
    return out


def _counts(r: object) -> tuple[object, ...]:
    return tuple(getattr(r, k) for k in ("records", "events", "duplicates", "quarantined", "segments",
                                         "damaged_bytes", "tenants"))


def test_workers_load_what_the_loader_process_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "SPAN_BYTES", 3000)  # several spans per segment
    results = []
    for name, n in (("here", 0), ("workers", 2)):
        ws = parcours.init(tmp_path / name)
        ws.create_tenant("energie")
        ws.create_tenant("fidelite")
        _spool(ws)
        r = load_spool(ws, batch_events=40, workers=n)
        assert not list(ws.spool_dir.glob("*" + SUFFIX))
        results.append((_counts(r), _lake(ws)))
        ws.close()
    (here, lake_here), (there, lake_there) = results
    assert there == here
    assert lake_there == lake_here
    assert here[1] > 0 and here[2] > 0 and here[3] > 0 and here[5] > 0  # events, dups, quarantined, damaged


def test_a_worker_failure_stops_the_load_and_keeps_the_segments(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ws = parcours.init(tmp_path / "ws")
    ws.create_tenant("energie")
    ws.create_tenant("fidelite")
    _spool(ws)
    monkeypatch.setattr(workers, "SPAN_BYTES", 3000)
    real = workers.DecodePool.submit

    def broken(self: workers.DecodePool, args: tuple[object, ...]) -> None:
        real(self, (*args[:4], args[4], "/nonexistent/scratch"))  # the worker cannot write its answer

    monkeypatch.setattr(workers.DecodePool, "submit", broken)
    with pytest.raises(DecodeWorkerError, match="nonexistent"):
        load_spool(ws, batch_events=40, workers=2)
    assert len(list(ws.spool_dir.glob("*" + SUFFIX))) == 3
    monkeypatch.setattr(workers.DecodePool, "submit", real)
    r = load_spool(ws, batch_events=40, workers=2)  # same process: the segments were released
    assert r.segments == 3 and r.events > 0
    assert not list(ws.spool_dir.glob("*" + SUFFIX))
    ws.close()
