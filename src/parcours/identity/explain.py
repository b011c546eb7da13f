"""Why a profile is what it is: the edges that joined its identifiers and the guard
rails that cut others."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from parcours.identity.view import find_profile

if TYPE_CHECKING:
    from parcours.workspace import Workspace


@dataclass
class Explanation:
    """A profile's identifiers, the edges between them, and the edges cut around them."""

    tenant: str
    key: str
    profile_id: str
    identifiers: list[dict[str, Any]]
    edges: list[dict[str, Any]] = field(default_factory=list)
    cut: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain(ws: Workspace, tenant: str, key: str, *, nominative: bool = True, who: Any = None) -> Explanation:
    """Explain the profile behind ``key``.

    With ``nominative`` the identifiers are shown as raw values (read audited), otherwise
    as pseudonyms.
    """
    from parcours.privacy.pseudonymize import pseudonym

    zone = "raw" if nominative else "analytics"
    pid = find_profile(ws, tenant, key, zone)
    amap = ws.table(tenant, "identity_map", "analytics")
    mine = amap.filter(amap.profile_id == pid).to_pyarrow().to_pylist()
    nodes = {f"{r['id_type']}:{r['identifier']}": r for r in mine}
    names = {n: n for n in nodes}
    if nominative:
        secret = ws.keys.get(tenant)
        rmap = ws.table(tenant, "identity_map", "raw")
        for r in rmap.filter(rmap.profile_id == pid).to_pyarrow().to_pylist():
            names[f"{r['id_type']}:{pseudonym(secret, r['identifier'])}"] = f"{r['id_type']}:{r['identifier']}"
        from parcours.privacy import audit

        audit.record(ws, who if who is not None else audit.OPERATOR, action="identity_explain",
                     customer=pid, detail={"key": key}, tenant=tenant)
    e = ws.table(tenant, "identity_edges", "analytics")
    keys = list(nodes)
    touching = e.filter(e.src.isin(keys) | e.dst.isin(keys)).order_by(["cut_by", "kind", "src", "dst"])
    edges, cut = [], []
    for r in touching.to_pyarrow().to_pylist():
        inside = r["src"] in nodes and r["dst"] in nodes
        row = {
            "a": names.get(r["src"], r["src"]), "b": names.get(r["dst"], r["dst"]),
            "kind": r["kind"], "source": r["source"], "occurrences": r["occurrences"],
            "first_seen": r["first_seen"].isoformat() if r["first_seen"] else None,
        }
        if r["cut_by"] is None and inside:
            edges.append(row)
        elif r["cut_by"] is not None:
            cut.append({**row, "cut_by": r["cut_by"]})
    idents = [
        {"identifier": names.get(n, n), "status": r["status"], "first_seen": r["first_seen"],
         "last_seen": r["last_seen"], "occurrences": r["occurrences"]}
        for n, r in sorted(nodes.items())
    ]
    return Explanation(tenant=tenant, key=key, profile_id=pid, identifiers=idents, edges=edges, cut=cut)
