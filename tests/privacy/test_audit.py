"""The audit log: one fsynced JSON line per nominative read, owner-only."""

from __future__ import annotations

import stat

from parcours.privacy import audit
from parcours.web.auth import Principal


def test_record_and_read(workspace):
    who = Principal(user="ann", tenant="energie", role="advisor")
    audit.record(workspace, who, action="view_360", customer="C1", detail={"table": "events"})
    audit.record(workspace, "operator", action="gdpr_export", customer="C2", tenant="energie")
    lines = audit.read(workspace, "energie")
    assert [(x["user"], x["role"], x["action"], x["customer"]) for x in lines] == [
        ("ann", "advisor", "view_360", "C1"),
        ("operator", "admin", "gdpr_export", "C2"),
    ]
    assert lines[0]["detail"] == {"table": "events"}
    assert audit.read(workspace, "fidelite") == []
    path = audit.log_path(workspace, "energie")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert audit.scrub_customer(workspace, "energie", {"C1"}, "[erased]") == 1
    assert [x["customer"] for x in audit.read(workspace, "energie")] == ["[erased]", "C2"]
