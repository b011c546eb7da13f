"""Background behaviour shared by both demo worlds, and the planting of precursor sequences.

Every generator draws whole arrays: per person counts, then per session or per event
times, never a Python loop over events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parcours.demo.timeline import (
    DAY,
    HOUR,
    US,
    EventFrame,
    Interner,
    Kinds,
    at_hours,
    expand,
    uniform_between,
)


@dataclass
class Population:
    """Per-person activity bounds and intensity (aligned by person index)."""

    start: np.ndarray  # µs, first possible activity
    end: np.ndarray  # µs, background activity happens before this
    activity: np.ndarray  # multiplier, mean 1

    @property
    def n(self) -> int:
        return len(self.start)


def web_sessions(
    rng: np.random.Generator,
    ev: EventFrame,
    kinds: Kinds,
    props: Interner,
    pop: Population,
    cookie_owner: np.ndarray,
    cookie_index: np.ndarray,
    pages: list[tuple[str, str]],
    tracks: list[str],
    sessions_per_cookie: float,
    logged_share: float = 0.4,
) -> None:
    """Web sessions of cookies: pages, a few tracks, and one identify (login) per cookie.

    Each cookie logs in at least once: its login session carries an identify call with
    userId, anonymousId and the person's traits (variant 1), then logged pages.
    """
    owner = cookie_owner
    n_sess = 1 + rng.poisson(sessions_per_cookie * pop.activity[owner])
    sess_cookie = expand(n_sess)
    sess_person = owner[sess_cookie]
    lo, hi = pop.start[sess_person], pop.end[sess_person] - 2 * HOUR
    sess_start = at_hours(rng, uniform_between(rng, lo, hi), "web", lo, hi)
    first_of_cookie = np.r_[True, sess_cookie[1:] != sess_cookie[:-1]]
    login = first_of_cookie.copy()  # the login session: the first drawn (times are random)
    logged = login | (rng.random(len(sess_cookie)) < logged_share)
    n_pages = 1 + rng.poisson(1.8, len(sess_cookie))
    page_sess = expand(n_pages)
    step = rng.integers(20 * US, 180 * US, len(page_sess))
    # offsets within a session: cumulative steps restarted per session
    cum = np.cumsum(step)
    first_idx = np.r_[0, np.cumsum(n_pages)[:-1]]
    offset = cum - np.repeat(cum[first_idx] - step[first_idx], n_pages)
    page_ts = sess_start[page_sess] + offset
    page_no = np.arange(len(page_sess)) - np.repeat(first_idx, n_pages)
    page_kind_codes = np.array([kinds("page", name, "web") for name, _ in pages], dtype=np.int16)
    page_props = props.many([f'{{"path":"{path}","title":"{name}"}}' for name, path in pages])
    which = rng.integers(0, len(pages), len(page_sess))
    which[page_no == 0] = 0  # sessions land on the home page
    # in the login session the first page is anonymous; the rest follow the login
    page_logged = logged[page_sess] & ~(login[page_sess] & (page_no == 0))
    ev.add(
        page_ts, sess_person[page_sess], page_kind_codes[which],
        anon=cookie_index[sess_cookie[page_sess]], logged=page_logged, prop=page_props[which],
    )
    lg = np.flatnonzero(login)
    ev.add(
        sess_start[lg] + 15 * US, sess_person[lg], kinds("identify", "identify", "web"),
        anon=cookie_index[sess_cookie[lg]], logged=True, trait=1,
    )
    if tracks:
        has = np.flatnonzero(rng.random(len(sess_cookie)) < 0.25)
        codes = np.array([kinds("track", t, "web") for t in tracks], dtype=np.int16)
        pick = rng.integers(0, len(tracks), len(has))
        ev.add(
            sess_start[has] + 40 * US, sess_person[has], codes[pick],
            anon=cookie_index[sess_cookie[has]], logged=logged[has],
        )


def app_sessions(
    rng: np.random.Generator,
    ev: EventFrame,
    kinds: Kinds,
    pop: Population,
    device_owner: np.ndarray,
    device_index: np.ndarray,
    screens: list[str],
    sessions_per_device: float,
    alias_share: float = 0.5,
) -> None:
    """App sessions: screens with userId and the device's anonymous id.

    Each device is linked to its person on its first session, by an alias call
    (previousId = anonymousId = device id, userId) or an identify call with traits.
    """
    n_sess = 1 + rng.poisson(sessions_per_device * pop.activity[device_owner])
    sess_dev = expand(n_sess)
    person = device_owner[sess_dev]
    lo, hi = pop.start[person], pop.end[person] - 2 * HOUR
    start = at_hours(rng, uniform_between(rng, lo, hi), "app", lo, hi)
    n_scr = 1 + rng.poisson(1.5, len(sess_dev))
    scr_sess = expand(n_scr)
    offset = (np.arange(len(scr_sess)) - np.repeat(np.r_[0, np.cumsum(n_scr)[:-1]], n_scr)) * 45 * US
    codes = np.array([kinds("screen", s, "app") for s in screens], dtype=np.int16)
    pick = rng.integers(0, len(screens), len(scr_sess))
    ev.add(
        start[scr_sess] + offset + 5 * US, person[scr_sess], codes[pick],
        anon=device_index[sess_dev[scr_sess]], logged=True,
    )
    first = np.flatnonzero(np.r_[True, sess_dev[1:] != sess_dev[:-1]])
    use_alias = rng.random(len(first)) < alias_share
    a, i = first[use_alias], first[~use_alias]
    ev.add(start[a], person[a], kinds("alias", "alias", "app"), anon=device_index[sess_dev[a]], logged=True)
    ev.add(
        start[i], person[i], kinds("identify", "identify", "app"),
        anon=device_index[sess_dev[i]], logged=True, trait=1,
    )


def email_campaigns(
    rng: np.random.Generator,
    ev: EventFrame,
    kinds: Kinds,
    props: Interner,
    pop: Population,
    campaigns: list[tuple[str, int]],
    reach: float = 0.55,
) -> None:
    """Marketing emails: sent to a share of the active persons, some opened, some clicked."""
    sent_k, open_k, click_k = (kinds("track", e, "email") for e in ("email_sent", "email_opened", "email_clicked"))
    for name, when in campaigns:
        p = np.flatnonzero((pop.start <= when) & (pop.end - 5 * DAY > when) & (rng.random(pop.n) < reach))
        ts = when + rng.integers(0, 3 * HOUR, len(p))
        code = props(f'{{"campaign":"{name}"}}')
        ev.add(ts, p, sent_k, prop=code)
        o = rng.random(len(p)) < 0.3 * np.minimum(pop.activity[p], 2)
        ots = ts[o] + rng.integers(HOUR, 3 * DAY, int(o.sum()))
        ev.add(ots, p[o], open_k, prop=code)
        c = rng.random(int(o.sum())) < 0.25
        ev.add(ots[c] + rng.integers(US, HOUR, int(c.sum())), p[o][c], click_k, prop=code)


@dataclass
class Planted:
    """The result of planting one precursor sequence before one target."""

    target: str
    sequence: list[str]
    lookback_days: int
    positives: int
    positives_with_sequence: int
    negatives: int
    negatives_with_sequence: int

    @property
    def lift(self) -> float:
        p = self.positives_with_sequence / self.positives
        q = self.negatives_with_sequence / self.negatives
        return p / q

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "sequence": self.sequence,
            "lift": round(self.lift, 4),
            "lookback_days": self.lookback_days,
            "positives": self.positives,
            "positives_with_sequence": self.positives_with_sequence,
            "negatives": self.negatives,
            "negatives_with_sequence": self.negatives_with_sequence,
            "p_sequence_given_target": round(self.positives_with_sequence / self.positives, 6),
            "p_sequence_given_no_target": round(self.negatives_with_sequence / self.negatives, 6),
        }


def plant_sequence(
    rng: np.random.Generator,
    ev: EventFrame,
    steps: list[int],
    step_names: list[str],
    target: str,
    positive: np.ndarray,
    anchor: np.ndarray,
    last: np.ndarray,
    start: np.ndarray,
    p_pos: float,
    p_neg: float,
    noise_share: float = 0.03,
    lookback_days: int = 30,
) -> Planted:
    """Plant an ordered 3-step sequence in exact counts.

    Positives (``positive``) get the steps within the ``lookback_days`` before their
    ``anchor`` (their first target event), for exactly round(p_pos × positives) of
    them; negatives get them within the ``lookback_days`` before their last event
    (``last``), for exactly round(p_neg × negatives). A further ``noise_share`` of all
    persons gets one lone step (never a whole sequence), so steps are not trivially
    tied to the target.
    """
    pos = np.flatnonzero(positive)
    neg = np.flatnonzero(~positive)
    k_pos = int(round(p_pos * len(pos)))
    k_neg = int(round(p_neg * len(neg)))
    chosen_pos = rng.choice(pos, k_pos, replace=False) if k_pos else pos[:0]
    chosen_neg = rng.choice(neg, k_neg, replace=False) if k_neg else neg[:0]
    people = np.r_[chosen_pos, chosen_neg]
    ends = np.r_[anchor[chosen_pos], last[chosen_neg]] - HOUR
    window = (lookback_days - 2) * DAY
    s1 = ends - (rng.uniform(0.25, 1.0, len(people)) * window).astype(np.int64)
    s1 = np.maximum(s1, start[people])
    s2 = s1 + (rng.uniform(0.2, 0.8, len(people)) * (ends - s1)).astype(np.int64)
    s3 = s2 + (rng.uniform(0.2, 0.8, len(people)) * (ends - s2)).astype(np.int64)
    # daytime hours, still ordered and inside the window
    s1, s2, s3 = np.sort(np.stack([at_hours(rng, x, "web", start[people], ends) for x in (s1, s2, s3)]), axis=0)
    s2 = np.maximum(s2, s1 + US)  # strictly ordered: no ties for any reader to break
    s3 = np.maximum(s3, s2 + US)
    for code, ts in zip(steps, (s1, s2, s3), strict=True):
        ev.add(ts, people, code, logged=True)
    noisy = np.flatnonzero(rng.random(len(positive)) < noise_share)
    which = rng.integers(0, 3, len(noisy))
    nts = uniform_between(rng, start[noisy], last[noisy] - HOUR)
    nts = at_hours(rng, nts, "web", start[noisy], last[noisy] - HOUR)
    ev.add(nts, noisy, np.array(steps, dtype=np.int16)[which], logged=True)
    return Planted(target, step_names, lookback_days, len(pos), k_pos, len(neg), k_neg)
