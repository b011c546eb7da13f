"""Events at scale: only the ``events`` table, for load benchmarks and big-lake tests.

``build_events(ws, "energie", events=10_000_000)`` draws enough persons for about that
many events of the demo's web, app and email behaviour (pages, screens, identify and
alias calls with traits, campaigns), then writes them through ``ws.write`` a million
rows at a time. No planted truth: use :func:`parcours.demo.build_demo` for that.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from parcours.demo.channels import Population, app_sessions, email_campaigns, web_sessions
from parcours.demo.common import Streams
from parcours.demo.energie import (
    APP_CONTEXT,
    PAGES,
    SCREENS,
    WEB_CONTEXT,
    WEB_TRACKS,
    person_traits,
)
from parcours.demo.errors import DemoError
from parcours.demo.people import cat, digits, hex_ids, make_people
from parcours.demo.timeline import (
    DAY,
    HOUR,
    T0,
    T1,
    EventFrame,
    EventTexts,
    Interner,
    Kinds,
    write_events,
)
from parcours.progress import Progress

#: events drawn per person on average by the behaviour below (measured; used for sizing)
EVENTS_PER_PERSON = 51.5


def build_events(
    ws: Any, tenant: str = "energie", events: int = 1_000_000, seed: int = 42,
    progress: Progress | None = None, chunk_rows: int = 1_000_000,
) -> int:
    """Generate about ``events`` events for ``tenant`` and write them; returns rows written."""
    if not isinstance(events, int) or events < 1_000:
        raise DemoError(f"events must be an integer of at least 1,000, got {events!r}", events=events)
    ws.create_tenant(tenant)
    r = Streams(seed, f"scale-{tenant}")
    n = max(20, int(events / EVENTS_PER_PERSON))
    everyone = np.arange(n)
    people = make_people(r("people"), n)
    cust = cat("C", digits(everyone + 10001, 9))
    rt = r("timeline")
    pop = Population(start=np.full(n, T0), end=np.full(n, T1 - HOUR), activity=rt.gamma(2.0, 0.5, n))
    ra = r("anon")
    web = np.flatnonzero(ra.random(n) < 0.7)
    cookie_owner = np.repeat(web, 1 + np.minimum(ra.poisson(0.5, len(web)), 3))
    app = np.flatnonzero(ra.random(n) < 0.35)
    anon_ids = hex_ids(ra, len(cookie_owner) + len(app))
    kinds, props, ev = Kinds(), Interner(), EventFrame()
    re_ = r("events")
    web_sessions(re_, ev, kinds, props, pop, cookie_owner, np.arange(len(cookie_owner)), PAGES, WEB_TRACKS, 6.0)
    app_sessions(re_, ev, kinds, pop, app, len(cookie_owner) + np.arange(len(app)), SCREENS, 10.0)
    campaigns = [(f"newsletter_2025_{k:02d}", T0 + (4 + 15 * k) * DAY + 9 * HOUR) for k in range(24)]
    email_campaigns(re_, ev, kinds, props, pop, campaigns)
    frozen = ev.freeze()
    del ev
    texts = EventTexts(
        tenant, "sc-", kinds, props, cust, anon_ids,
        {1: person_traits(people.email, people.phone, people.first_name, people.last_name, cust)},
        {"web": WEB_CONTEXT, "app": APP_CONTEXT},
    )
    total = len(frozen)

    def report(done: int) -> None:
        if progress is not None:
            progress(f"{tenant}: events", done, total)

    return write_events(ws, frozen, texts, r("materialize"), report=report, max_rows=chunk_rows)
