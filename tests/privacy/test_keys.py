"""Key custody: owner-only files, sealing by a master key, rotation."""

from __future__ import annotations

import stat

import pyarrow as pa
import pytest

from parcours.privacy.errors import KeyCustodyError
from parcours.privacy.keys import SEALED, KeyStore
from parcours.privacy.pseudonymize import pseudonym
from parcours.privacy.rotation import rotate_secret


def test_secret_files_are_owner_only_and_never_shown(workspace):
    path = workspace.keys.folder / "energie.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(workspace.keys.folder.stat().st_mode) == 0o700
    secret = workspace.keys.get("energie")
    assert secret.reveal().hex() not in repr(secret) + str(secret)


def test_sealing(tmp_path, monkeypatch):
    store = KeyStore(tmp_path / "secrets", "TEST_MASTER")
    plain = store.create("energie")
    assert not store.is_sealed("energie")
    monkeypatch.setenv("TEST_MASTER", "correct horse battery staple")
    sealed = store.create("fidelite")
    text = (tmp_path / "secrets" / "fidelite.key").read_text()
    assert text.startswith(SEALED) and sealed.reveal().hex() not in text
    assert store.get("fidelite").reveal() == sealed.reveal()
    assert store.seal_all() == ["energie.key"]
    assert store.is_sealed("energie") and store.get("energie").reveal() == plain.reveal()
    monkeypatch.setenv("TEST_MASTER", "wrong master key")
    with pytest.raises(KeyCustodyError, match="does not open"):
        store.get("energie")
    monkeypatch.delenv("TEST_MASTER")
    with pytest.raises(KeyCustodyError, match="is sealed"):
        store.get("energie")


def test_rotation_rebuilds_analytics_with_new_pseudonyms(workspace):
    customers = pa.table({"customer_number": ["C1", "C2"], "first_name": ["Ana", "Bo"],
                          "email": ["ana@x.fr", "bo@y.fr"]})
    workspace.write("energie", "customers", customers)
    workspace.write("fidelite", "customers", customers)
    old = workspace.keys.get("energie")
    old_pseudos = set(workspace.lake.read("energie", "analytics", "customers").column("customer_number").to_pylist())
    assert old_pseudos == {pseudonym(old, "C1"), pseudonym(old, "C2")}
    fid_before = workspace.lake.read("fidelite", "analytics", "customers")

    report = rotate_secret(workspace, "energie")

    new = workspace.keys.get("energie")
    assert new.reveal() != old.reveal()
    assert not workspace.keys.staged("energie")
    got = workspace.lake.read("energie", "analytics", "customers")
    assert set(got.column("customer_number").to_pylist()) == {pseudonym(new, "C1"), pseudonym(new, "C2")}
    assert report.tables == {"customers": 2} and report.files_removed >= 1
    # no file of the analytics zone holds an old pseudonym any more
    folder = workspace.lake.path("energie", "analytics", "customers")
    blob = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    import pyarrow.parquet as pq
    values = set()
    for p in folder.rglob("*.parquet"):
        values |= set(pq.read_table(p).column("customer_number").to_pylist())
    assert not (values & old_pseudos) and not any(o.encode() in blob for o in old_pseudos)
    # the other tenant is untouched; writes after rotation use the new secret
    assert workspace.lake.read("fidelite", "analytics", "customers").equals(fid_before)
    workspace.write("energie", "customers", pa.table({"customer_number": ["C3"]}))
    assert pseudonym(new, "C3") in workspace.lake.read("energie", "analytics", "customers").column(
        "customer_number").to_pylist()


def test_workspace_seals_with_the_master_key_from_settings(tmp_path, monkeypatch):
    import parcours

    monkeypatch.setenv("PARCOURS_MASTER_KEY", "a master passphrase for tests")
    ws = parcours.init(tmp_path / "ws")
    ws.create_tenant("energie")
    assert ws.keys.is_sealed("energie")
    ws.write("energie", "customers", pa.table({"customer_number": ["C1"]}))
    got = ws.lake.read("energie", "analytics", "customers").column("customer_number")[0].as_py()
    assert got == pseudonym(ws.keys.get("energie"), "C1")
    monkeypatch.delenv("PARCOURS_MASTER_KEY")
    cold = parcours.open(tmp_path / "ws")
    with pytest.raises(KeyCustodyError):
        cold.write("energie", "customers", pa.table({"customer_number": ["C2"]}))
    assert cold.lake.read("energie", "raw", "customers").num_rows == 1  # nothing half-written
