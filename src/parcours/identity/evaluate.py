"""Compare resolved profiles with labelled matches: (identifier, person) pairs.

Pairwise metrics over the identifiers both sides know: precision is the share of
identifier pairs put in one profile that truly belong to one person; recall the share
of truly-same pairs that ended in one profile.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from parcours.identity.errors import IdentityError
from parcours.identity.rules import IdentityRules

if TYPE_CHECKING:
    from parcours.workspace import Workspace


@dataclass
class Evaluation:
    """Pairwise precision/recall and the worst mistakes."""

    tenant: str
    precision: float
    recall: float
    f1: float
    identifiers: int  # truth identifiers evaluated (linking types, present in the map)
    not_found: int  # truth identifiers of linking types the data never showed
    cut_as_shared: int  # truth identifiers a guard rail cut (kept as attributes)
    other_types: list[str]
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    over_merges: list[dict[str, Any]] = field(default_factory=list)
    under_merges: list[dict[str, Any]] = field(default_factory=list)
    shared_checked: int = 0
    shared_merging: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_truth(ws: Workspace, tenant: str, path: str | Path) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Read labelled matches: a Parquet/CSV of (id_type, identifier, person_id), or the demo's
    truth.json (its tenant section points to the persons file and lists shared identifiers)."""
    path = Path(path)
    if not path.exists():
        raise IdentityError(f"truth file {path} does not exist", path=str(path))
    shared: list[dict[str, Any]] = []
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        section = data.get(tenant)
        if not isinstance(section, dict) or "persons" not in section:
            raise IdentityError(f"{path.name} has no persons for tenant {tenant!r}", path=str(path))
        shared = list(section.get("shared_identifiers", []))
        persons = Path(section["persons"])
        if not persons.is_absolute():
            candidates = [ws.path / persons, path.parent / persons, path.parent / persons.name]
            persons = next((c for c in candidates if c.exists()), candidates[0])
        path = persons
    if path.suffix == ".parquet":
        table = pq.read_table(path)
    elif path.suffix == ".csv":
        table = pacsv.read_csv(path)
    else:
        raise IdentityError(f"truth file must be .json, .parquet or .csv: {path.name}", path=str(path))
    missing = {"id_type", "identifier", "person_id"} - set(table.column_names)
    if missing:
        raise IdentityError(f"truth file lacks columns {sorted(missing)}", path=str(path))
    return table.select(["id_type", "identifier", "person_id"]).cast(
        pa.schema([("id_type", pa.string()), ("identifier", pa.string()), ("person_id", pa.string())])
    ), shared


def _pairs(counts: pd.Series) -> int:
    return int((counts * (counts - 1) // 2).sum())


def evaluate(
    ws: Workspace, tenant: str, truth: str | Path, *, rules: IdentityRules | None = None, worst: int = 5
) -> Evaluation:
    """Evaluate the tenant's identity map against a truth file (see :func:`load_truth`).

    Example:
        >>> e = evaluate(ws, "energie", ws.path / "demo" / "truth.json")   # doctest: +SKIP
        >>> e.precision, e.recall                                           # doctest: +SKIP
    """
    rules = rules or IdentityRules()
    table, shared = load_truth(ws, tenant, truth)
    t = table.to_pandas()
    linking = set(rules.linking_types)
    other = sorted(set(t.id_type) - linking)
    t = t[t.id_type.isin(linking)]
    m = ws.lake.read(tenant, "raw", "identity_map", ["identifier", "id_type", "profile_id", "status"]).to_pandas()
    linked = m[m.status == "linked"][["identifier", "id_type", "profile_id"]]
    shared_ids = m[m.status == "shared"][["identifier", "id_type"]].drop_duplicates()
    j = t.merge(linked, on=["identifier", "id_type"], how="left")
    cut = t.merge(shared_ids, on=["identifier", "id_type"], how="inner")
    found = j[j.profile_id.notna()]
    not_found = int(j.profile_id.isna().sum()) - len(cut)
    cell = found.groupby(["profile_id", "person_id"]).size()
    tp = _pairs(cell)
    pred = _pairs(found.groupby("profile_id").size())
    true = _pairs(found.groupby("person_id").size())
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    over = found.groupby("profile_id").person_id.nunique().sort_values(ascending=False)
    over = over[over > 1].head(worst)
    under = found.groupby("person_id").profile_id.nunique().sort_values(ascending=False)
    under = under[under > 1].head(worst)

    def sample(frame: pd.DataFrame) -> list[str]:
        return [f"{r.id_type}:{r.identifier}" for r in frame.head(6).itertuples()]

    over_list = [
        {"profile_id": pid, "persons": int(n), "identifiers": sample(found[found.profile_id == pid])}
        for pid, n in over.items()
    ]
    under_list = [
        {"person_id": person, "profiles": int(n), "identifiers": sample(found[found.person_id == person])}
        for person, n in under.items()
    ]
    # a planted shared identifier must not join the persons who share it
    merging = []
    for s in shared:
        rows = m[(m.identifier == s["identifier"]) & (m.id_type == s["id_type"]) & (m.status == "linked")]
        for pid in rows.profile_id:
            persons = found[found.profile_id == pid].person_id.nunique()
            if persons > 1:
                merging.append({**s, "profile_id": pid, "persons_merged": int(persons)})
    return Evaluation(
        tenant=tenant, precision=round(precision, 6), recall=round(recall, 6), f1=round(f1, 6),
        identifiers=len(found), not_found=max(not_found, 0), cut_as_shared=len(cut),
        other_types=other, true_pairs=true, predicted_pairs=pred, correct_pairs=tp,
        over_merges=over_list, under_merges=under_list, shared_checked=len(shared),
        shared_merging=merging,
    )
