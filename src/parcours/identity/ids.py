"""Stable profile ids: unrelated data never renames a profile; on a merge the oldest wins."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import ibis

if TYPE_CHECKING:
    import ibis.expr.types as ir


def assign_ids(
    labels: ir.Table,
    previous: ir.Table | None,
    previous_profiles: ir.Table | None,
    run_at: dt.datetime,
) -> tuple[ir.Table, ir.Table]:
    """Give each component a profile id.

    A component keeps the id of the previous profiles its identifiers belonged to; when it
    holds several, the oldest (then smallest) id survives and the others are recorded as
    merged into it. When a previous profile is split, the part holding most of its
    identifiers keeps the id. Components with no previous profile get a new id derived
    from the run time and their smallest identifier (the same on every engine).

    Args:
        labels: ``(node, label)``.
        previous: ``(node, profile_id)`` of the previous run (linked identifiers), or None.
        previous_profiles: ``(profile_id, created_at)`` of live previous profiles, or None.
    Returns:
        (``(label, profile_id, created_at)``, ``(profile_id, merged_into)`` new merges).
    """
    tag = run_at.strftime("%Y%m%dT%H%M%S%f")
    comps = labels.select("label").distinct()
    run_ts = ibis.literal(run_at, "timestamp('UTC', 6)")
    if previous is None or previous_profiles is None:
        fresh = comps.mutate(profile_id=_new_id(comps.label, tag), created_at=run_ts)
        empty = fresh.select(profile_id="profile_id", merged_into="profile_id").limit(0)
        return fresh, empty
    prev = previous.select(p_node="node", profile_id="profile_id")
    cand = labels.join(prev, labels.node == prev.p_node).group_by(["label", "profile_id"]).agg(
        n=ibis._.node.count()
    )
    pp = previous_profiles.select(pp_id="profile_id", created_at="created_at")
    cand = cand.join(pp, cand.profile_id == pp.pp_id).drop("pp_id")
    owner = ibis.row_number().over(group_by="profile_id", order_by=[ibis.desc("n"), "label"])
    kept = cand.mutate(owner=owner).filter(ibis._.owner == 0)
    order = ibis.row_number().over(group_by="label", order_by=["created_at", "profile_id"])
    kept = kept.mutate(order=order)
    survivors = kept.filter(kept.order == 0).select("label", "profile_id", "created_at")
    s = survivors.select(s_label="label", merged_into="profile_id")
    merges = kept.filter(kept.order > 0).join(s, ibis._.label == s.s_label).select(
        "profile_id", "merged_into"
    )
    fresh = comps.anti_join(survivors, comps.label == survivors.label)
    fresh = fresh.mutate(profile_id=_new_id(fresh.label, tag), created_at=run_ts)
    return ibis.union(survivors, fresh, distinct=False), merges


def _new_id(label: ir.Value, tag: str) -> ir.StringValue:
    return ibis.literal("pf") + (ibis.literal(tag + "|") + label.cast("string")).hexdigest(
        "md5"
    ).substr(0, 22)
