"""The audit log's group commit: concurrent nominative reads share an fsync, and every
caller returns only once its own line is durable."""

from __future__ import annotations

import os
import threading

import pytest

from parcours.privacy import audit, files
from parcours.web.auth import Principal


def test_concurrent_records_are_all_written_once_and_synced_in_groups(workspace, monkeypatch):
    syncs = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        syncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", counting_fsync)
    path = audit.log_path(workspace, "energie")
    durable_before_return = []
    lock = threading.Lock()

    def reader(i: int) -> None:
        who = Principal(user=f"advisor{i}", tenant="energie", role="advisor")
        for j in range(25):
            audit.record(workspace, who, action="view_360", customer=f"C{i:02d}-{j:02d}")
            # the caller's own line is in the file by the time record() returns
            ok = f'"C{i:02d}-{j:02d}"' in path.read_text(encoding="utf-8")
            with lock:
                durable_before_return.append(ok)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = audit.read(workspace, "energie")
    assert sorted(x["customer"] for x in lines) == sorted(f"C{i:02d}-{j:02d}" for i in range(20) for j in range(25))
    assert all(durable_before_return) and len(durable_before_return) == 500
    # one fsync per group: fewer than one per line (the 20 threads overlap), at least one
    assert 1 <= len(syncs) < 500


def test_a_failed_write_reaches_every_caller_of_its_group(workspace, monkeypatch):
    def broken(path, line):  # noqa: ANN001, ANN202
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit, "append_private", broken)
    who = Principal(user="ann", tenant="energie", role="advisor")
    with pytest.raises(OSError, match="No space left"):
        audit.record(workspace, who, action="view_360", customer="C1")
    monkeypatch.undo()
    audit.record(workspace, who, action="view_360", customer="C2")  # the appender recovers
    assert [x["customer"] for x in audit.read(workspace, "energie")] == ["C2"]
