"""The ``energie`` world: an electricity and gas supplier with planted truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.demo import meters
from parcours.demo.channels import (
    Population,
    app_sessions,
    email_campaigns,
    plant_sequence,
    web_sessions,
)
from parcours.demo.common import ChunkWriter, PersonsBuilder, Reporter, Streams, WorldResult
from parcours.demo.people import cat, digits, hex_ids, make_people, take
from parcours.demo.timeline import (
    DAY,
    HOUR,
    T0,
    T1,
    US,
    EventFrame,
    EventTexts,
    Interner,
    Kinds,
    at_hours,
    expand,
    iso,
    month_bounds,
    to_ts,
    uniform_between,
    write_events,
)
from parcours.demo.verbatims import ENERGIE_TEXTS, VerbatimSource, compose

TENANT = "energie"
SHARED_EMAIL = "contact@entreprise.fr"
PLACEHOLDER_PHONE = "+33100000000"
CHURN = ("contract_terminated", [("price_increase_notified", "email"),
                                 ("offer_comparison_viewed", "web"),
                                 ("termination_page_viewed", "app")])
CALL = ("call_center_call", [("high_bill_alert", "billing"),
                             ("direct_debit_rejected", "billing"),
                             ("payment_page_error", "web")])
CALL_REASONS = ("billing", "payment", "move", "outage", "meter", "contract", "price")
PAGES = [("accueil", "/"), ("offres", "/offres"), ("espace_client", "/espace-client"),
         ("factures", "/espace-client/factures"), ("consommation", "/espace-client/consommation"),
         ("demenagement", "/aide/demenagement"), ("contact", "/contact"), ("faq", "/aide")]
WEB_TRACKS = ["invoice_downloaded", "consumption_viewed", "meter_index_submitted", "eco_tips_viewed"]
SCREENS = ["home", "consumption", "invoices", "contract", "eco_tips", "messages"]
SITE_GROUPS = ("Siège", "Agences Nord", "Agences Sud", "Entrepôts", "Magasins")
WEB_CONTEXT = '{"library":{"name":"analytics.js","version":"4.1.0"}}'
APP_CONTEXT = '{"library":{"name":"analytics-ios","version":"4.1.8"},"app":{"name":"Energie"}}'


def person_traits(email: pa.Array, phone: pa.Array, first: pa.Array, last: pa.Array, cust: pa.Array) -> pa.Array:
    return cat('{"email":"', email, '","phone":"', phone, '","firstName":"', first,
               '","lastName":"', last, '","customerNumber":"', cust, '"}')


def build(ws: Any, customers: int, seed: int, report: Reporter) -> WorldResult:
    """Build and write the ``energie`` tenant; return its counts and truth."""
    r = Streams(seed, TENANT)
    n = customers
    counts: dict[str, int] = {}
    persons = PersonsBuilder(TENANT)
    everyone = np.arange(n)

    # -- people and timeline -------------------------------------------------------------
    people = make_people(r("people"), n)
    cust = cat("C", digits(everyone + 10001, 7))
    rt = r("timeline")
    business = rt.random(n) < 0.08
    new = rt.random(n) < 0.12
    start = np.where(new, T0 + rt.integers(10 * DAY, 270 * DAY, n), T0)
    churn = rt.random(n) < 0.12
    t_term = start + 60 * DAY + (rt.random(n) * (T1 - 25 * DAY - start - 60 * DAY)).astype(np.int64)
    t_term = np.where(churn, at_hours(rt, t_term, "office"), 0)
    end = np.where(churn, t_term + 15 * DAY, T1 - HOUR)
    pop = Population(start=start, end=end, activity=rt.gamma(2.0, 0.5, n))
    created = np.where(new, start, T0 - rt.integers(30 * DAY, 3650 * DAY, n))

    email = people.email
    shared_k = max(3, n // 1000)
    pool = np.flatnonzero(business) if business.sum() >= shared_k else everyone
    shared_email_persons = r("shared").choice(pool, shared_k, replace=False)
    mask = np.zeros(n, bool)
    mask[shared_email_persons] = True
    email = pc.if_else(pa.array(mask), pa.scalar(SHARED_EMAIL), email)

    customers_t = pa.table({
        "customer_number": cust, "first_name": people.first_name, "last_name": people.last_name,
        "email": email, "phone": people.phone, "address": people.address,
        "postal_code": people.postal_code, "city": people.city, "iban": people.iban,
        "segment": take(["residential", "business"], business.astype(np.int64)),
        "created_at": to_ts(created), "updated_at": to_ts(np.maximum(created, start)),
    })
    counts["customers"] = ws.write(TENANT, "customers", customers_t)
    report("reference data", 1, 4)
    persons.add("customer_number", cust, everyone)
    persons.add("user_id", cust, everyone)
    persons.add("email", email, everyone)
    persons.add("phone", people.phone, everyone)
    persons.add("iban", people.iban, everyone)

    # -- sites -----------------------------------------------------------------------------
    rs = r("sites")
    n_sites = np.where(business, 2 + np.minimum(rs.poisson(2.5, n), 10), 1)
    owner = expand(n_sites)
    s = len(owner)
    s_business = business[owner]
    site_id = cat("S", digits(np.arange(s) + 1, 8))
    meter_point = cat("1", digits(rs.choice(10**13, s, replace=False), 13))
    heating = np.where(rs.random(s) < np.where(s_business, 0.5, 0.4), 0, np.where(rs.random(s) < 0.75, 1, 2))
    base_day = np.round(np.where(s_business, rs.lognormal(np.log(150), 0.7, s), rs.lognormal(np.log(6.5), 0.35, s)), 3)
    gradient = np.where(
        heating == 0,
        np.where(s_business, rs.uniform(15, 120, s), rs.uniform(2.5, 9.0, s)),
        np.where(s_business, rs.uniform(1.0, 5.0, s), rs.uniform(0.1, 0.8, s)),
    ).round(3)
    site_addr = make_people(r("site_addresses"), s)  # business sites: their own address and region
    region_idx = np.where(s_business, site_addr.region_idx, people.region_idx[owner])
    first_site = np.r_[0, np.cumsum(n_sites)[:-1]]
    sites_t = pa.table({
        "site_id": site_id, "customer_number": cust.take(pa.array(owner)), "meter_point": meter_point,
        "address": pc.if_else(pa.array(s_business), site_addr.address, people.address.take(pa.array(owner))),
        "postal_code": pc.if_else(pa.array(s_business), site_addr.postal_code, people.postal_code.take(pa.array(owner))),
        "city": pc.if_else(pa.array(s_business), site_addr.city, people.city.take(pa.array(owner))),
        "region": take(list(meters.REGIONS), region_idx),
        "kind": take(["residential", "business"], s_business.astype(np.int64)),
        "site_group": take(SITE_GROUPS, np.where(s_business, rs.integers(0, len(SITE_GROUPS), s), -1)),
        "power_kva": pa.array(np.where(s_business, rs.choice([36.0, 60.0, 120.0, 250.0], s), rs.choice([6.0, 9.0, 12.0], s))),
        "heating": take(["electric", "gas", "other"], heating),
    })
    counts["sites"] = ws.write(TENANT, "sites", sites_t)
    persons.add("meter_point", meter_point, owner)

    weather_t, temps = meters.weather(r("weather"))
    counts["weather"] = ws.write(TENANT, "weather", weather_t)
    report("reference data", 2, 4)

    # -- anonymous ids: web cookies, app devices, shared household tablets ----------------
    ra = r("anon")
    web_active = ra.random(n) < 0.7
    cookie_owner = np.repeat(np.flatnonzero(web_active), 1 + np.minimum(ra.poisson(0.5, int(web_active.sum())), 3))
    app_users = np.flatnonzero(ra.random(n) < 0.35)
    device_owner = np.repeat(app_users, 1 + (ra.random(len(app_users)) < 0.1))
    n_tablets = max(2, n // 2000)
    tablet_persons = ra.choice(app_users, 3 * n_tablets, replace=False)
    n_c, n_d = len(cookie_owner), len(device_owner)
    anon_ids = hex_ids(ra, n_c + n_d + n_tablets)
    cookie_index = np.arange(n_c)
    device_index = n_c + np.arange(n_d)
    tablet_of = n_c + n_d + np.repeat(np.arange(n_tablets), 3)
    persons.add("anonymous_id", anon_ids.slice(0, n_c + n_d), np.r_[cookie_owner, device_owner])

    # -- background events -----------------------------------------------------------------
    kinds, props = Kinds(), Interner()
    ev = EventFrame()
    re_ = r("events")
    web_sessions(re_, ev, kinds, props, pop, cookie_owner, cookie_index, PAGES, WEB_TRACKS, 4.0)
    app_sessions(re_, ev, kinds, pop, device_owner, device_index, SCREENS, 6.0)
    app_sessions(re_, ev, kinds, pop, tablet_persons, tablet_of, SCREENS, 3.0, alias_share=0.0)
    campaigns = [(f"newsletter_2025_{k:02d}", T0 + (4 + 15 * k) * DAY + 9 * HOUR) for k in range(24)]
    email_campaigns(re_, ev, kinds, props, pop, campaigns)

    # invoices and payments (also billing events)
    ri = r("billing")
    dd = meters.degree_days(temps)
    months = month_bounds()
    dd_month = np.stack([dd[:, (a - T0) // DAY:(b - T0) // DAY].sum(axis=1) for a, b in months], axis=1)
    days_month = np.array([(b - a) // DAY for a, b in months])
    site_kwh = base_day[:, None] * days_month[None, :] + gradient[:, None] * dd_month[region_idx]
    kwh_pm = np.zeros((n, 12))
    np.add.at(kwh_pm, owner, site_kwh)
    offset = ri.integers(DAY, 20 * DAY, n)
    inv_ts = np.array([a for a, _ in months])[None, :] + offset[:, None] + 6 * HOUR
    regular = (inv_ts >= start[:, None]) & (inv_ts < np.where(churn, t_term, end)[:, None])
    ip, im = np.nonzero(regular)
    fp = np.flatnonzero(churn)
    f_ts = t_term[fp] + ri.integers(3 * DAY, 14 * DAY, len(fp))
    f_m = np.searchsorted(np.array([a for a, _ in months]), f_ts, side="right") - 1
    inv_p = np.r_[ip, fp]
    inv_m = np.r_[im, f_m]
    inv_t = np.r_[inv_ts[ip, im], f_ts]
    kwh = np.round(kwh_pm[inv_p, inv_m], 1)
    amount = np.round(kwh * 0.2516 + 12.5 * n_sites[inv_p], 2)
    n_inv = len(inv_p)
    inv_id = cat("F", digits(np.arange(n_inv) + 1, 9))
    paid_at = inv_t + ri.integers(2 * DAY, 20 * DAY, n_inv)
    u = ri.random(n_inv)
    status = np.where(u < 0.02, 3, np.where(paid_at >= np.minimum(end[inv_p], T1), 0, np.where(u < 0.07, 2, 1)))
    period_start = np.array([np.datetime64(iso(a)[:10]) for a, _ in months])
    invoices_t = pa.table({
        "invoice_id": inv_id, "customer_number": cust.take(pa.array(inv_p)),
        "site_id": site_id.take(pa.array(first_site[inv_p])), "issued_at": to_ts(inv_t),
        "period_start": pa.array(period_start[inv_m]),
        "period_end": pa.array(period_start[inv_m] + (days_month[inv_m] - 1).astype("timedelta64[D]")),
        "kwh": pa.array(kwh), "amount_eur": pa.array(amount),
        "due_date": pa.array((inv_t // (DAY) + 15).astype("datetime64[D]")),
        "status": take(["issued", "paid", "overdue", "cancelled"], status),
    })
    counts["invoices"] = ws.write(TENANT, "invoices", invoices_t)
    paid = np.flatnonzero(status == 1)
    method = np.where(ri.random(len(paid)) < 0.75, 0, np.where(ri.random(len(paid)) < 0.6, 1, 2))
    payments_t = pa.table({
        "payment_id": cat("R", digits(np.arange(len(paid)) + 1, 9)), "invoice_id": inv_id.take(pa.array(paid)),
        "customer_number": cust.take(pa.array(inv_p[paid])), "paid_at": to_ts(paid_at[paid]),
        "amount_eur": pa.array(amount[paid]),
        "method": take(["direct_debit", "card", "transfer"], method),
        "iban": pc.if_else(pa.array(method != 1), people.iban.take(pa.array(inv_p[paid])), pa.scalar(None, pa.string())),
    })
    counts["payments"] = ws.write(TENANT, "payments", payments_t)
    period_codes = props.many([f'{{"period":"{iso(a)[:7]}"}}' for a, _ in months])
    ev.add(inv_t, inv_p, kinds("track", "invoice_issued", "billing"), prop=period_codes[inv_m])
    method_codes = props.many([f'{{"method":"{m}"}}' for m in ("direct_debit", "card", "transfer")])
    ev.add(paid_at[paid], inv_p[paid], kinds("track", "payment_received", "billing"), prop=method_codes[method])
    report("reference data", 3, 4)

    # contract life (terminations come with the churn planting below)
    rc = r("contracts")
    sub = np.flatnonzero(new)
    mover = np.flatnonzero(~business & (rc.random(n) < 0.04))
    powered = np.flatnonzero(rc.random(n) < 0.03)
    move_ts = at_hours(rc, uniform_between(rc, start[mover] + 10 * DAY, end[mover] - 10 * DAY), "office")
    power_ts = at_hours(rc, uniform_between(rc, start[powered] + 10 * DAY, end[powered] - 10 * DAY), "office")
    ev.add(start[sub], sub, kinds("track", "contract_subscribed", "contract"))
    ev.add(move_ts, mover, kinds("track", "contract_moved", "contract"))
    ev.add(power_ts, powered, kinds("track", "power_changed", "contract"), prop=props('{"change":"power_increase"}'))

    # smart meters: monthly load-curve publication events for metered customers
    rm = r("meters")
    n_metered = int(np.clip(n // 50, 12, 400))
    bus_sites = np.flatnonzero(s_business)
    k_bus = min(len(bus_sites), n_metered * 3 // 10)
    metered = np.sort(np.r_[rm.choice(bus_sites, k_bus, replace=False),
                            rm.choice(np.flatnonzero(~s_business), n_metered - k_bus, replace=False)])
    mp, mm = np.meshgrid(np.unique(owner[metered]), np.arange(12), indexing="ij")
    m_ts = np.array([a for a, _ in months])[mm.ravel()] + DAY + 5 * HOUR
    ok = (m_ts >= start[mp.ravel()]) & (m_ts < end[mp.ravel()])
    ev.add(m_ts[ok], mp.ravel()[ok], kinds("track", "load_curve_published", "meter"))

    # verbatim-bearing events: complaints, advisor notes, inbound emails, social posts
    rv = r("verbatims")
    v_kinds = [("complaint", "complaint_filed", 0.05), ("advisor", "advisor_meeting", 0.04),
               ("email", "customer_email_received", 0.04), ("social", "social_post", 0.02)]
    v_person, v_channel, v_ts = [], [], []
    for channel, _name, share in v_kinds:
        rate = np.where(business, share * 4 if channel == "advisor" else share, share)
        who = np.flatnonzero(rv.random(n) < rate)
        if len(who) < 2:  # every channel shows up, even in a tiny world
            who = np.sort(rv.choice(n, 2, replace=False))
        who = np.repeat(who, 1 + (rv.random(len(who)) < 0.2))
        v_person.append(who)
        v_channel.append(np.full(len(who), channel, dtype=object))
        vts = uniform_between(rv, start[who], end[who] - HOUR)
        v_ts.append(at_hours(rv, vts, "web" if channel == "social" else "office", start[who], end[who] - HOUR))
    vp = np.concatenate(v_person)
    vc = np.concatenate(v_channel)
    vt = np.concatenate(v_ts)
    nv = len(vp)
    vid = [f"V{k + 1:08d}" for k in range(nv)]
    handles = cat("@", pc.utf8_lower(pc.utf8_slice_codeunits(people.email, 0, 6)), "_", digits(everyone % 997, 3))
    handles = pc.replace_substring_regex(handles, r"[^@a-z0-9_]", "_")
    handles = cat(handles, digits(everyone, 1))
    advisor = [f"CONS-{k:03d}" for k in rv.integers(1, 60, nv)]
    author = [h if c == "social" else (a if c == "advisor" else None)
              for h, c, a in zip(handles.take(pa.array(vp)).to_pylist(), vc.tolist(), advisor, strict=True)]
    src = VerbatimSource(
        verbatim_id=vid, channel=vc.tolist(), ts=vt, user_id=cust.take(pa.array(vp)).to_pylist(),
        author=author, first_name=people.first_name.take(pa.array(vp)).to_pylist(),
        last_name=people.last_name.take(pa.array(vp)).to_pylist(),
        email=people.email.take(pa.array(vp)).to_pylist(), phone=people.phone.take(pa.array(vp)).to_pylist(),
        iban=people.iban.take(pa.array(vp)).to_pylist(),
    )
    verb_t, verb_labels, verb_pii = compose(r("texts"), src, ENERGIE_TEXTS)
    counts["verbatims"] = ws.write(TENANT, "verbatims", verb_t)
    social = vc == "social"
    persons.add("social_handle", handles.take(pa.array(vp[social])), vp[social])
    v_codes = {c: kinds("track", name, c) for c, name, _ in v_kinds}
    cat_of = verb_labels["category"].to_pylist()
    for c in v_codes:
        sel = np.flatnonzero(vc == c)
        codes = props.many([f'{{"verbatim_id":"{vid[k]}","category":"{cat_of[k]}"}}' for k in sel])
        ev.add(vt[sel], vp[sel], v_codes[c], prop=codes)
    report("reference data", 4, 4)

    # -- planted precursors: the last background event anchors the negatives' windows -----
    last = ev_last(ev, n)
    rp = r("planting")
    caller = rp.random(n) < 0.28
    t_call = at_hours(rp, uniform_between(rp, start + 32 * DAY, last - 2 * DAY), "office",
                      start + 32 * DAY, last - 2 * DAY)
    reasons = props.many([f'{{"reason":"{x}","duration_s":{d}}}' for x in CALL_REASONS for d in range(60, 1260, 60)])
    call_k = kinds("track", CALL[0], "call_center")
    repeat = np.repeat(np.flatnonzero(caller), rp.poisson(0.6, int(caller.sum())))
    r_ts = uniform_between(rp, t_call[repeat] + HOUR, last[repeat] - HOUR)
    r_ts = at_hours(rp, r_ts, "office", t_call[repeat] + HOUR, last[repeat] - HOUR)
    c_person = np.r_[np.flatnonzero(caller), repeat]
    c_ts = np.r_[t_call[caller], r_ts]
    ev.add(c_ts, c_person, call_k, prop=reasons[rp.integers(0, len(reasons), len(c_ts))])
    variant = np.where(rp.random(len(c_ts)) < 0.15, 3, 2)
    ev.add(c_ts + 2 * US, c_person, kinds("identify", "identify", "call_center"), trait=variant)
    ev.add(t_term[churn], np.flatnonzero(churn), kinds("track", CHURN[0], "contract"),
           prop=props('{"reason":"customer_request"}'))
    churn_steps = [kinds("track", e, c) for e, c in CHURN[1]]
    call_steps = [kinds("track", e, c) for e, c in CALL[1]]
    planted_churn = plant_sequence(rp, ev, churn_steps, [e for e, _ in CHURN[1]], CHURN[0], churn,
                                   t_term, last, start, p_pos=0.6, p_neg=0.04)
    planted_call = plant_sequence(rp, ev, call_steps, [e for e, _ in CALL[1]], CALL[0], caller,
                                  t_call, last, start, p_pos=0.4, p_neg=0.03)

    # -- contract_events table ------------------------------------------------------------
    term_p = np.flatnonzero(churn)
    term_sites = _site_range(first_site[term_p], n_sites[term_p])
    sub_sites = _site_range(first_site[sub], n_sites[sub])
    ce_site = np.r_[sub_sites, first_site[mover], first_site[powered], term_sites]
    ce_ts = np.r_[start[owner[sub_sites]], move_ts, power_ts, t_term[owner[term_sites]]]
    ce_kind = np.r_[np.zeros(len(sub_sites), int), np.ones(len(mover), int), np.full(len(powered), 2), np.full(len(term_sites), 3)]
    postal_codes = [p for cities, _, _ in meters.REGIONS.values() for _, p in cities]
    new_pc = take(postal_codes, rc.integers(0, len(postal_codes), len(ce_site)))
    power = sites_t["power_kva"].to_numpy()[ce_site]
    steps = np.array([6.0, 9.0, 12.0, 15.0, 36.0, 60.0, 120.0, 250.0, 400.0])
    next_power = steps[np.minimum(np.searchsorted(steps, power) + 1, len(steps) - 1)]
    old_v = pc.if_else(pa.array(ce_kind == 1), sites_t["postal_code"].combine_chunks().take(pa.array(ce_site)),
                       pc.if_else(pa.array(ce_kind == 2), pa.array(power).cast(pa.string()), pa.scalar(None, pa.string())))
    new_v = pc.if_else(pa.array(ce_kind == 1), new_pc,
                       pc.if_else(pa.array(ce_kind == 2), pa.array(next_power).cast(pa.string()),
                                  pc.if_else(pa.array(ce_kind == 0), pa.scalar("offre_base"), pa.scalar(None, pa.string()))))
    contract_t = pa.table({
        "contract_event_id": cat("K", digits(np.arange(len(ce_site)) + 1, 8)),
        "customer_number": cust.take(pa.array(owner[ce_site])), "site_id": site_id.take(pa.array(ce_site)),
        "ts": to_ts(ce_ts), "kind": take(["subscription", "move", "power_change", "termination"], ce_kind),
        "old_value": old_v, "new_value": new_v,
    })
    counts["contract_events"] = ws.write(TENANT, "contract_events", contract_t)

    # -- write events month by month ------------------------------------------------------
    frozen = ev.freeze()
    traits = {
        1: person_traits(email, people.phone, people.first_name, people.last_name, cust),
        2: cat('{"phone":"', people.phone, '"}'),
        3: take([f'{{"phone":"{PLACEHOLDER_PHONE}"}}'], np.zeros(n, np.int64)),
    }
    texts = EventTexts(TENANT, "en-", kinds, props, cust, anon_ids, traits,
                       {"web": WEB_CONTEXT, "app": APP_CONTEXT})
    total = len(frozen)
    counts["events"] = write_events(ws, frozen, texts, r("materialize"),
                                    report=lambda done: report("events", done, total))

    # -- load curves ------------------------------------------------------------------------
    m_sites = meters.MeteredSites(
        site_id=site_id.take(pa.array(metered)).to_pylist(),
        meter_point=meter_point.take(pa.array(metered)).to_pylist(),
        region_idx=region_idx[metered], business=s_business[metered],
        base_day=base_day[metered], gradient=gradient[metered],
        anomalies=meters.plant_anomalies(r("anomalies"), len(metered)),
    )
    out = ChunkWriter(ws, TENANT, "meter_readings")
    for k, chunk in enumerate(meters.load_curves(r("load_curves"), m_sites, temps)):
        out.add(chunk)
        report("load curves", k + 1, 12)
    counts["meter_readings"] = out.flush()

    # -- truth ----------------------------------------------------------------------------
    shared: list[dict[str, Any]] = [
        {"id_type": "email", "identifier": SHARED_EMAIL, "persons": int(shared_k),
         "why": "CRM placeholder email for business customers"},
        {"id_type": "phone", "identifier": PLACEHOLDER_PHONE,
         "persons": int(len(np.unique(c_person[variant == 3]))), "why": "call-center placeholder phone"},
    ]
    tablet_ids = anon_ids.slice(n_c + n_d).to_pylist()
    shared += [{"id_type": "anonymous_id", "identifier": t, "persons": 3, "why": "household tablet"}
               for t in tablet_ids]
    adv = np.array(advisor, dtype=object)[vc == "advisor"]
    adv_person = vp[vc == "advisor"]
    for a_id in sorted(set(adv.tolist())):
        k = len(np.unique(adv_person[adv == a_id]))
        if k >= 2:  # an advisor who wrote notes on several customers
            shared.append({"id_type": "social_handle", "identifier": a_id, "persons": int(k),
                           "why": "advisor id, the author of advisor notes (verbatims.author)"})
    exclude = {(str(x["id_type"]), str(x["identifier"])) for x in shared}
    sites_truth = pa.table({
        "site_id": site_id, "customer_number": cust.take(pa.array(owner)), "meter_point": meter_point,
        "metered": pa.array(np.isin(np.arange(s), metered)), "heating": sites_t["heating"],
        "base_load_kwh_per_day": pa.array(base_day), "heating_gradient_kwh_per_degree_day": pa.array(gradient),
    })
    anomalies = [{"site_id": m_sites.site_id[a.site], "kind": a.kind, "start": iso(a.start), "end": iso(a.end)}
                 for a in m_sites.anomalies]
    truth = {
        "customers": n,
        "churn": planted_churn.to_dict(),
        "call": planted_call.to_dict(),
        "persons": "demo/persons_energie.parquet",
        "shared_identifiers": shared,
        "sites": [
            {"site_id": m_sites.site_id[k], "base_load_kwh_per_day": float(m_sites.base_day[k]),
             "heating_gradient_kwh_per_degree_day": float(m_sites.gradient[k]),
             "region": list(meters.REGIONS)[m_sites.region_idx[k]]}
            for k in range(len(metered))
        ],
        "sites_file": "demo/sites_energie.parquet",
        "degree_day_base_c": meters.BASE_TEMP_C,
        "anomalies": anomalies,
        "verbatims": "demo/verbatims_energie.parquet",
        "verbatim_personal_data": "demo/verbatim_pii_energie.parquet",
        "churned_customers": int(churn.sum()),
    }
    files = {
        "persons_energie": persons.table(exclude),
        "sites_energie": sites_truth,
        "verbatims_energie": verb_labels,
        "verbatim_pii_energie": verb_pii,
    }
    return WorldResult(TENANT, counts, truth, files)


def ev_last(ev: EventFrame, n: int) -> np.ndarray:
    """Each person's last background event time."""
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    for ts, person in zip(ev.ts, ev.person, strict=True):
        np.maximum.at(last, person, ts)
    return last


def _site_range(first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """All site indices first[i] .. first[i]+count[i]-1, concatenated."""
    starts = np.r_[0, np.cumsum(count)[:-1]]
    return np.repeat(first, count) + (np.arange(int(count.sum())) - np.repeat(starts, count))
