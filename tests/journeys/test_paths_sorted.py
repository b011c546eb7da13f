"""Paths on the journey store with numpy against the Ibis expressions, on random logs
with exact duplicate rows, ties in time, nulls and an anchor that is also a step."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pyarrow as pa

from parcours.journeys.paths import paths
from parcours.journeys.store import PROFILE
from tests.journeys.logs import SCHEMA, T0, connect, duck, stored


def _log(seed: int, profiles: int = 30) -> pa.Table:
    rng = random.Random(seed)
    kinds = [("home", "web", "page"), ("offers", "web", "page"), ("cart", "web", "track"),
             ("home", "app", "screen"), ("buy", "app", "track"), (None, "web", "track"),
             ("faq", None, "page")]
    rows = []
    for p in range(profiles):
        for _ in range(rng.randint(0, 10)):
            e, c, ty = rng.choice(kinds)
            row = {"profile_id": f"p{p:02d}", "ts": T0 + dt.timedelta(minutes=rng.randint(0, 6)),
                   "event": e, "channel": c, "type": ty, "properties": None}
            rows.append(row)
            if rng.random() < 0.2:
                rows.append(dict(row))  # an exact duplicate: equal order keys
    rng.shuffle(rows)  # read in no particular order
    return pa.Table.from_pylist(rows, SCHEMA)


def test_numpy_paths_equal_the_ibis_paths():
    """Every anchor, direction, step naming and collapse, each against one of the two
    Ibis forms (on the order key, on numbered rows) with one of two (steps, top) shapes,
    so that every option value meets both forms and both shapes (two logs and every
    form and shape with every option took 30-55 s; each Ibis form is tested against
    the brute-force reference in test_paths)."""
    tbl = _log(11, profiles=40)
    con = connect()
    store = stored(tbl, "paths_sorted", con)
    forms = [store.drop(PROFILE), duck(tbl, "paths_plain", con)]  # order key, numbered rows
    seen = 0
    options = itertools.product([None, "home", "web:offers", "faq"], ["next", "previous"],
                                ["event", "page", "channel_event"], [True, False])
    for i, (event, direction, step_by, collapse) in enumerate(options):
        steps, top = [(3, 2), (2, 8)][(i + i // 3 + i // 12) % 2]
        kw = {"event": event, "direction": direction, "steps": steps, "step_by": step_by,
              "collapse_repeats": collapse, "top": top}
        fast = paths(store, **kw).to_dict()  # the store's numpy path
        assert fast == paths(forms[(i + i // 2) % 2], **kw).to_dict(), kw
        seen += len(fast["rows"])
    assert seen > 100


def test_paths_read_in_pieces_of_profiles(monkeypatch):
    """A store bigger than a piece is read in ranges of profile codes: same paths."""
    import parcours.journeys.paths as paths_module

    store = stored(_log(5), "paths_pieces")
    kw = {"event": "home", "steps": 3, "top": 2, "step_by": "channel_event"}
    whole = paths(store, **kw).to_dict()
    monkeypatch.setattr(paths_module, "PIECE_EVENTS", 7)
    assert paths(store, **kw).to_dict() == whole
    assert paths(store.drop(PROFILE), **kw).to_dict() == whole
    assert len(whole["rows"]) > 3
