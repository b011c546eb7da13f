"""The ``fidelite`` world: a couponing and loyalty programme across several retailers.

Bulk volume is basket lines (``transactions``). A coupon campaign on one category is
run against a randomized control group, with a known true uplift.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.demo.channels import (
    Population,
    app_sessions,
    email_campaigns,
    plant_sequence,
    web_sessions,
)
from parcours.demo.common import ChunkWriter, PersonsBuilder, Reporter, Streams, WorldResult
from parcours.demo.people import REGIONS, cat, digits, hex_ids, make_people, take
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
    month_bounds,
    to_ts,
    uniform_between,
    write_events,
)
from parcours.demo.verbatims import FIDELITE_TEXTS, VerbatimSource, compose

TENANT = "fidelite"
RETAILERS = ("Marché Plus", "Hyper Sud", "BioCoin", "Proxi Centre")
CATEGORIES = ("epicerie", "boissons", "cafe", "frais", "fruits_legumes", "hygiene", "entretien",
              "bebe", "animalerie", "surgeles")
CATEGORY_WEIGHTS = np.array([0.2, 0.12, 0.06, 0.18, 0.14, 0.08, 0.07, 0.03, 0.04, 0.08])
CATEGORY_PRICE = np.array([2.8, 3.5, 4.2, 3.2, 2.4, 4.5, 5.0, 8.0, 9.0, 4.0])
SHARED_EMAIL = "pas.de.mail@fidelite.fr"
SHARED_PHONE = "+33600000000"
CHURN = ("loyalty_account_closed", [("coupon_expired_unused", "app"),
                                    ("card_rejected_at_checkout", "store"),
                                    ("unsubscribe_requested", "email")])
CALL = ("customer_service_call", [("points_missing_reported", "web"),
                                  ("receipt_claim_rejected", "email"),
                                  ("contact_form_opened", "web")])
PAGES = [("accueil", "/"), ("catalogue", "/catalogue"), ("mes_coupons", "/mes-coupons"),
         ("magasins", "/magasins"), ("mon_compte", "/mon-compte"), ("aide", "/aide")]
WEB_TRACKS = ["coupon_clipped", "store_searched", "recipe_viewed"]
SCREENS = ["wallet", "coupons", "offers", "card", "receipts"]
CAMPAIGN = {
    "campaign_id": "CAMP-CAFE-2025-06",
    "category": "cafe",
    "loaded_at": "2025-05-28T08:00:00+00:00",
    "window_start": "2025-06-01",
    "window_end": "2025-06-30",
    "coupon_value_eur": 1.5,
}
WIN_A = T0 + 151 * DAY  # 2025-06-01
WIN_B = T0 + 181 * DAY  # 2025-07-01 (exclusive)
LOAD_AT = T0 + 147 * DAY + 8 * HOUR
PRE_A, PRE_B = T0, T0 + 147 * DAY  # the pre-period: 2025-01-01 .. 2025-05-27


def build(ws: Any, customers: int, seed: int, report: Reporter) -> WorldResult:
    """Build and write the ``fidelite`` tenant; return its counts and truth."""
    r = Streams(seed, TENANT)
    n = customers
    everyone = np.arange(n)
    counts: dict[str, int] = {}
    persons = PersonsBuilder(TENANT)

    people = make_people(r("people"), n)
    cust = cat("L", digits(everyone + 10001, 7))
    rt = r("timeline")
    new = rt.random(n) < 0.15
    start = np.where(new, T0 + rt.integers(10 * DAY, 260 * DAY, n), T0)
    churn = rt.random(n) < 0.1
    t_term = start + 60 * DAY + (rt.random(n) * (T1 - 25 * DAY - start - 60 * DAY)).astype(np.int64)
    t_term = np.where(churn, at_hours(rt, t_term, "web"), 0)
    end = np.where(churn, t_term + 15 * DAY, T1 - HOUR)
    activity = rt.gamma(2.0, 0.5, n)
    pop = Population(start=start, end=end, activity=activity)
    created = np.where(new, start, T0 - rt.integers(30 * DAY, 3650 * DAY, n))

    rs = r("shared")
    k_shared = max(3, n // 1000)
    shared_mail = rs.choice(n, k_shared, replace=False)
    shared_tel = rs.choice(np.setdiff1d(everyone, shared_mail), k_shared, replace=False)
    m1 = np.zeros(n, bool)
    m1[shared_mail] = True
    m2 = np.zeros(n, bool)
    m2[shared_tel] = True
    email = pc.if_else(pa.array(m1), pa.scalar(SHARED_EMAIL), people.email)
    phone = pc.if_else(pa.array(m2), pa.scalar(SHARED_PHONE), people.phone)
    customers_t = pa.table({
        "customer_number": cust, "first_name": people.first_name, "last_name": people.last_name,
        "email": email, "phone": phone, "address": people.address, "postal_code": people.postal_code,
        "city": people.city, "iban": pa.nulls(n, pa.string()),
        "segment": take(["loyalty"], np.zeros(n, np.int64)),
        "created_at": to_ts(created), "updated_at": to_ts(np.maximum(created, start)),
    })
    counts["customers"] = ws.write(TENANT, "customers", customers_t)
    persons.add("customer_number", cust, everyone)
    persons.add("user_id", cust, everyone)
    persons.add("email", email, everyone)
    persons.add("phone", phone, everyone)

    # stores and cards
    rst = r("stores")
    n_stores = int(np.clip(n // 100, 12, 200))
    regions = list(REGIONS)
    store_region = rst.integers(0, len(regions), n_stores)
    stores_t = pa.table({
        "store_id": cat("M", digits(np.arange(n_stores) + 1, 4)),
        "retailer": take(RETAILERS, rst.integers(0, len(RETAILERS), n_stores)),
        "city": take([c for x in regions for c, _ in REGIONS[x][0][:3]], store_region * 3 + rst.integers(0, 3, n_stores)),
        "region": take(regions, store_region),
    })
    counts["stores"] = ws.write(TENANT, "stores", stores_t)
    store_ids = stores_t["store_id"].combine_chunks()
    retailer_of = stores_t["retailer"].combine_chunks()
    home_store = rst.integers(0, n_stores, n)
    rc = r("cards")
    second = rc.random(n) < 0.1
    card_owner = np.r_[everyone, np.flatnonzero(second)]
    n_cards = len(card_owner)
    card_id = cat("29", digits(rc.choice(10**11, n_cards, replace=False), 11))
    primary_card = card_id.slice(0, n)
    second_of = np.full(n, -1)
    second_of[second] = n + np.arange(int(second.sum()))
    cards_t = pa.table({
        "card_id": card_id, "customer_number": cust.take(pa.array(card_owner)),
        "issued_at": to_ts(created[card_owner]),
        "status": take(["active", "closed"], churn[card_owner].astype(np.int64)),
        "home_store_id": store_ids.take(pa.array(home_store[card_owner])),
    })
    counts["cards"] = ws.write(TENANT, "cards", cards_t)
    persons.add("card_id", card_id, card_owner)
    report("reference data", 1, 3)

    # baskets: background ones, then the campaign's incremental ones
    rb = r("baskets")
    years = (end - start) / (365 * DAY)
    n_b = rb.poisson(38 * activity * years)
    b_person = expand(n_b)
    lo, hi = start[b_person] + 8 * HOUR, end[b_person] - HOUR
    b_ts = uniform_between(rb, lo, hi)
    sunday = ((b_ts // DAY + 2) % 7 == 6) & (rb.random(len(b_ts)) < 0.85)  # most stores close on Sunday
    b_ts = at_hours(rb, b_ts - sunday * DAY, "store", lo, hi)
    b_ts = b_ts - b_ts % (60 * US)
    use_second = (second_of[b_person] >= 0) & (rb.random(len(b_person)) < 0.3)
    b_card = np.where(use_second, second_of[b_person], b_person)
    b_store = np.where(rb.random(len(b_person)) < 0.7, home_store[b_person], rb.integers(0, n_stores, len(b_person)))
    b_lines = 1 + rb.poisson(2.5, len(b_person))
    b_forced = np.zeros(len(b_person), bool)

    rcp = r("campaign")
    eligible = np.flatnonzero((start <= T0 + 120 * DAY) & (end >= T0 + 200 * DAY))
    shuffled = rcp.permutation(eligible)
    treated = np.sort(shuffled[: len(shuffled) // 2])
    control = np.sort(shuffled[len(shuffled) // 2:])
    redeem = treated[rcp.random(len(treated)) < 0.35]
    r_ts = at_hours(rcp, uniform_between(rcp, np.full(len(redeem), WIN_A), np.full(len(redeem), WIN_B - DAY)), "store")
    r_ts = r_ts - r_ts % (60 * US)
    b_person = np.r_[b_person, redeem]
    b_ts = np.r_[b_ts, r_ts]
    b_card = np.r_[b_card, redeem]  # redeemed on the card the coupon was loaded on
    b_store = np.r_[b_store, home_store[redeem]]
    b_lines = np.r_[b_lines, 1 + (rcp.random(len(redeem)) < 0.3)]
    b_forced = np.r_[b_forced, np.ones(len(redeem), bool)]
    order = np.argsort(b_ts, kind="stable")
    b_person, b_ts, b_card, b_store, b_lines, b_forced = (
        x[order] for x in (b_person, b_ts, b_card, b_store, b_lines, b_forced))
    b_tx = cat("T", digits(np.arange(len(b_ts)) + 1, 10))

    # catalogue
    rp = r("catalogue")
    per_cat = 120
    prod_price = np.round(np.repeat(CATEGORY_PRICE, per_cat) * rp.lognormal(0, 0.35, per_cat * len(CATEGORIES)), 2)
    prod_id = cat("P", digits(np.arange(per_cat * len(CATEGORIES)) + 1, 5))

    # lines, written month by month
    rl = r("lines")
    out = ChunkWriter(ws, TENANT, "transactions")
    forced_spend_by_card = np.zeros(n_cards)
    window_cafe_spend = np.zeros(n_cards)
    pre_spend = np.zeros(n_cards)
    months = month_bounds()
    cafe = CATEGORIES.index("cafe")
    for k, (a, b) in enumerate(months):
        lo, hi = np.searchsorted(b_ts, [a, b])
        bl = b_lines[lo:hi]
        line_b = lo + expand(bl)
        line_no = np.arange(len(line_b)) - np.repeat(np.r_[0, np.cumsum(bl)[:-1]], bl) + 1
        cat_i = rl.choice(len(CATEGORIES), len(line_b), p=CATEGORY_WEIGHTS)
        forced = b_forced[line_b]
        cat_i[forced] = cafe
        prod = cat_i * per_cat + rl.integers(0, per_cat, len(line_b))
        qty = 1 + rl.poisson(0.3, len(line_b))
        amount = np.round(prod_price[prod] * qty, 2)
        card = b_card[line_b]
        ts = b_ts[line_b]
        np.add.at(forced_spend_by_card, card[forced], amount[forced])
        in_win = (cat_i == cafe) & (ts >= WIN_A) & (ts < WIN_B)
        np.add.at(window_cafe_spend, card[in_win], amount[in_win])
        pre = (ts >= PRE_A) & (ts < PRE_B)
        np.add.at(pre_spend, card[pre], amount[pre])
        table = pa.table({
            "transaction_id": b_tx.take(pa.array(line_b)), "line_no": pa.array(line_no.astype(np.int32)),
            "card_id": card_id.take(pa.array(card)), "store_id": store_ids.take(pa.array(b_store[line_b])),
            "retailer": retailer_of.take(pa.array(b_store[line_b])), "ts": to_ts(ts),
            "product_id": prod_id.take(pa.array(prod)), "category": take(CATEGORIES, cat_i),
            "quantity": pa.array(qty.astype(np.int32)), "amount_eur": pa.array(amount),
        })
        out.add(table)
        report("transactions", k + 1, 12)
    counts["transactions"] = out.flush()

    # coupons and redemptions
    coupon_id = cat("CP", digits(np.arange(len(treated)) + 1, 8))
    coupons_t = pa.table({
        "coupon_id": coupon_id, "campaign_id": take([CAMPAIGN["campaign_id"]], np.zeros(len(treated), np.int64)),
        "card_id": primary_card.take(pa.array(treated)),
        "loaded_at": to_ts(np.full(len(treated), LOAD_AT) + rcp.integers(0, 3600 * US, len(treated))),
        "expires_at": to_ts(np.full(len(treated), WIN_B - US)),
        "value_eur": pa.array(np.full(len(treated), CAMPAIGN["coupon_value_eur"])),
        "category": take(["cafe"], np.zeros(len(treated), np.int64)),
    })
    counts["coupons"] = ws.write(TENANT, "coupons", coupons_t)
    forced_idx = np.flatnonzero(b_forced)
    coupon_of = np.full(n, -1)
    coupon_of[treated] = np.arange(len(treated))
    redemptions_t = pa.table({
        "redemption_id": cat("RD", digits(np.arange(len(forced_idx)) + 1, 8)),
        "coupon_id": coupon_id.take(pa.array(coupon_of[b_person[forced_idx]])),
        "card_id": card_id.take(pa.array(b_card[forced_idx])),
        "transaction_id": b_tx.take(pa.array(forced_idx)),
        "store_id": store_ids.take(pa.array(b_store[forced_idx])),
        "redeemed_at": to_ts(b_ts[forced_idx] + 30 * US),
        "value_eur": pa.array(np.full(len(forced_idx), CAMPAIGN["coupon_value_eur"])),
    })
    counts["redemptions"] = ws.write(TENANT, "redemptions", redemptions_t)
    report("reference data", 2, 3)

    # anonymous ids and events
    ra = r("anon")
    web_active = ra.random(n) < 0.55
    cookie_owner = np.repeat(np.flatnonzero(web_active), 1 + np.minimum(ra.poisson(0.4, int(web_active.sum())), 3))
    app_users = np.flatnonzero(ra.random(n) < 0.45)
    device_owner = np.repeat(app_users, 1 + (ra.random(len(app_users)) < 0.1))
    n_tablets = max(2, n // 2000)
    tablet_persons = ra.choice(app_users, 3 * n_tablets, replace=False)
    n_c, n_d = len(cookie_owner), len(device_owner)
    anon_ids = hex_ids(ra, n_c + n_d + n_tablets)
    persons.add("anonymous_id", anon_ids.slice(0, n_c + n_d), np.r_[cookie_owner, device_owner])
    kinds, props = Kinds(), Interner()
    ev = EventFrame()
    re_ = r("events")
    web_sessions(re_, ev, kinds, props, pop, cookie_owner, np.arange(n_c), PAGES, WEB_TRACKS, 3.0)
    app_sessions(re_, ev, kinds, pop, device_owner, n_c + np.arange(n_d), SCREENS, 8.0)
    app_sessions(re_, ev, kinds, pop, tablet_persons, n_c + n_d + np.repeat(np.arange(n_tablets), 3),
                 SCREENS, 3.0, alias_share=0.0)
    campaigns = [(f"offres_semaine_{k:02d}", T0 + (2 + 7 * k) * DAY + 7 * HOUR) for k in range(52)]
    email_campaigns(re_, ev, kinds, props, pop, campaigns, reach=0.3)
    # monthly points statements: every active member hears from the programme each month
    sp, sm = np.meshgrid(everyone, np.arange(12), indexing="ij")
    s_ts = np.array([a for a, _ in months])[sm.ravel()] + 2 * DAY + 6 * HOUR
    ok = (s_ts >= start[sp.ravel()]) & (s_ts < end[sp.ravel()])
    ev.add(s_ts[ok], sp.ravel()[ok], kinds("track", "points_statement_sent", "email"))
    # store visits: one basket in four is also sent as an event by the checkout
    sv = np.flatnonzero(re_.random(len(b_ts)) < 0.25)
    store_props = props.many([f'{{"store_id":"{s}"}}' for s in store_ids.to_pylist()])
    ev.add(b_ts[sv], b_person[sv], kinds("track", "store_visit", "store"), prop=store_props[b_store[sv]])
    ev.add(coupons_t["loaded_at"].combine_chunks().cast(pa.int64()).to_numpy(), treated,
           kinds("track", "coupon_loaded", "app"), prop=props(f'{{"campaign_id":"{CAMPAIGN["campaign_id"]}"}}'))
    ev.add(b_ts[forced_idx] + 30 * US, b_person[forced_idx], kinds("track", "coupon_redeemed", "store"),
           prop=props(f'{{"campaign_id":"{CAMPAIGN["campaign_id"]}"}}'))
    cp = np.flatnonzero(churn)
    ev.add(t_term[cp] + re_.integers(DAY, 5 * DAY, len(cp)), cp, kinds("track", "account_closure_confirmed", "email"))

    # verbatims
    rv = r("verbatims")
    v_person, v_channel = [], []
    for channel, share in (("complaint", 0.03), ("email", 0.03), ("social", 0.015)):
        who = np.flatnonzero(rv.random(n) < share)
        if len(who) < 2:  # every channel shows up, even in a tiny world
            who = np.sort(rv.choice(n, 2, replace=False))
        v_person.append(who)
        v_channel.append(np.full(len(who), channel, dtype=object))
    vp = np.concatenate(v_person)
    vc = np.concatenate(v_channel)
    vt = at_hours(rv, uniform_between(rv, start[vp], end[vp] - HOUR), "web", start[vp], end[vp] - HOUR)
    vid = [f"W{k + 1:08d}" for k in range(len(vp))]
    handles = cat("@", pc.replace_substring_regex(pc.utf8_slice_codeunits(people.email, 0, 7), r"[^a-z0-9]", "_"),
                  "_", digits(everyone, 6))
    src = VerbatimSource(
        verbatim_id=vid, channel=vc.tolist(), ts=vt, user_id=cust.take(pa.array(vp)).to_pylist(),
        author=[h if c == "social" else None for h, c in zip(handles.take(pa.array(vp)).to_pylist(), vc.tolist(), strict=True)],
        first_name=people.first_name.take(pa.array(vp)).to_pylist(),
        last_name=people.last_name.take(pa.array(vp)).to_pylist(),
        email=people.email.take(pa.array(vp)).to_pylist(), phone=people.phone.take(pa.array(vp)).to_pylist(),
        iban=[None] * len(vp),
    )
    verb_t, verb_labels, verb_pii = compose(r("texts"), src, FIDELITE_TEXTS)
    counts["verbatims"] = ws.write(TENANT, "verbatims", verb_t)
    social = vc == "social"
    persons.add("social_handle", handles.take(pa.array(vp[social])), vp[social])
    cat_of = verb_labels["category"].to_pylist()
    for c, name in (("complaint", "complaint_filed"), ("email", "customer_email_received"), ("social", "social_post")):
        sel = np.flatnonzero(vc == c)
        codes = props.many([f'{{"verbatim_id":"{vid[k]}","category":"{cat_of[k]}"}}' for k in sel])
        ev.add(vt[sel], vp[sel], kinds("track", name, c), prop=codes)
    report("reference data", 3, 3)

    # planted precursors
    last = _last(ev, n)
    rpl = r("planting")
    caller = rpl.random(n) < 0.2
    t_call = at_hours(rpl, uniform_between(rpl, start + 32 * DAY, last - 2 * DAY), "office",
                      start + 32 * DAY, last - 2 * DAY)
    call_k = kinds("track", CALL[0], "call_center")
    reasons = props.many([f'{{"reason":"{x}"}}' for x in ("points", "coupon", "card", "account")])
    repeat = np.repeat(np.flatnonzero(caller), rpl.poisson(0.4, int(caller.sum())))
    c_person = np.r_[np.flatnonzero(caller), repeat]
    c_ts = np.r_[t_call[caller], uniform_between(rpl, t_call[repeat] + HOUR, last[repeat] - HOUR)]
    ev.add(c_ts, c_person, call_k, prop=reasons[rpl.integers(0, 4, len(c_ts))])
    ev.add(c_ts + 2 * US, c_person, kinds("identify", "identify", "call_center"), trait=2)
    ev.add(t_term[cp], cp, kinds("track", CHURN[0], "web"))
    planted_churn = plant_sequence(rpl, ev, [kinds("track", e, c) for e, c in CHURN[1]], [e for e, _ in CHURN[1]],
                                   CHURN[0], churn, t_term, last, start, p_pos=0.55, p_neg=0.04)
    planted_call = plant_sequence(rpl, ev, [kinds("track", e, c) for e, c in CALL[1]], [e for e, _ in CALL[1]],
                                  CALL[0], caller, t_call, last, start, p_pos=0.45, p_neg=0.03)

    frozen = ev.freeze()
    traits = {
        1: cat('{"email":"', email, '","phone":"', phone, '","firstName":"', people.first_name,
               '","lastName":"', people.last_name, '","cardId":"', primary_card, '"}'),
        2: cat('{"phone":"', phone, '"}'),
    }
    texts = EventTexts(TENANT, "fi-", kinds, props, cust, anon_ids, traits,
                       {"web": '{"library":{"name":"analytics.js","version":"4.1.0"}}',
                        "app": '{"library":{"name":"analytics-android","version":"4.11.3"},"app":{"name":"Fidelite"}}'})
    total = len(frozen)
    counts["events"] = write_events(ws, frozen, texts, r("materialize"),
                                    report=lambda done: report("events", done, total))

    # truth
    t_spend = window_cafe_spend[treated]
    c_spend = window_cafe_spend[control]
    true_uplift = float(forced_spend_by_card[treated].sum() / len(treated))
    observed = float(t_spend.mean() - c_spend.mean())
    se = float(np.sqrt(t_spend.var(ddof=1) / len(treated) + c_spend.var(ddof=1) / len(control)))
    campaign = dict(CAMPAIGN)
    campaign.update({
        "treated": "demo/campaign_fidelite.parquet",
        "treated_cards": int(len(treated)),
        "control_cards": int(len(control)),
        "redeemed_cards": int(len(redeem)),
        "true_uplift_eur_per_card": round(true_uplift, 4),
        "true_uplift_definition": (
            "mean over treated cards minus mean over control cards of the card's transactions.amount_eur "
            "in category 'cafe' with ts in [window_start, window_end] (UTC days, inclusive); the planted "
            "value is the incremental spend the generator added on treated cards divided by the number "
            "of treated cards"
        ),
        "observed_difference_eur_per_card": round(observed, 4),
        "standard_error_eur": round(se, 4),
        "redemption_rate": round(len(redeem) / len(treated), 4),
        "pre_period": {"start": "2025-01-01", "end": "2025-05-27"},
        "pre_period_mean_spend_eur": {"treated": round(float(pre_spend[treated].mean()), 3),
                                      "control": round(float(pre_spend[control].mean()), 3)},
    })
    exclude = {("email", SHARED_EMAIL), ("phone", SHARED_PHONE)}
    tablet_ids = anon_ids.slice(n_c + n_d).to_pylist()
    shared = [
        {"id_type": "email", "identifier": SHARED_EMAIL, "persons": int(k_shared),
         "why": "placeholder email typed at enrolment"},
        {"id_type": "phone", "identifier": SHARED_PHONE, "persons": int(k_shared),
         "why": "placeholder phone typed at enrolment"},
    ] + [{"id_type": "anonymous_id", "identifier": t, "persons": 3, "why": "household tablet"} for t in tablet_ids]
    exclude |= {("anonymous_id", t) for t in tablet_ids}
    groups = pa.table({
        "card_id": pa.concat_arrays([primary_card.take(pa.array(treated)), primary_card.take(pa.array(control))]),
        "group": take(["treated", "control"], np.r_[np.zeros(len(treated), np.int64), np.ones(len(control), np.int64)]),
        "redeemed": pa.array(np.r_[np.isin(treated, redeem), np.zeros(len(control), bool)]),
    })
    truth = {
        "customers": n,
        "churn": planted_churn.to_dict(),
        "call": planted_call.to_dict(),
        "persons": "demo/persons_fidelite.parquet",
        "shared_identifiers": shared,
        "campaign": campaign,
        "verbatims": "demo/verbatims_fidelite.parquet",
        "verbatim_personal_data": "demo/verbatim_pii_fidelite.parquet",
    }
    files = {
        "persons_fidelite": persons.table(exclude),
        "campaign_fidelite": groups,
        "verbatims_fidelite": verb_labels,
        "verbatim_pii_fidelite": verb_pii,
    }
    return WorldResult(TENANT, counts, truth, files)


def _last(ev: EventFrame, n: int) -> np.ndarray:
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    for ts, person in zip(ev.ts, ev.person, strict=True):
        np.maximum.at(last, person, ts)
    return last
