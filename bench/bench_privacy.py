"""Privacy costs: pseudonymization, free-text redaction, GDPR erasure — against what a
user would otherwise write, in the same run.

    python bench/bench_privacy.py [--rows 2000000] [--customers 100000] [--events 1000000]

1. Pseudonymize a user-id column (HMAC-SHA256 with the tenant secret): parcours
   (dictionary-encode, hash each distinct value once) vs pandas ``Series.map`` of HMAC.
2. Redact 50,000 verbatims with planted personal data: parcours (Python ``re``, Unicode
   aware) vs the same patterns vectorized with Arrow's RE2 (faster, ASCII-only ``\\w``):
   seconds and how much of the planted data each leaves.
3. Erase one customer from a Delta events table partitioned by day: parcours
   ``remove_rows`` + vacuum vs ``DeltaTable.delete(predicate)`` + vacuum — seconds, and
   whether the customer's id survives in ``_delta_log`` (delete writes its predicate).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import random
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import measured, save  # noqa: E402

from parcours.events import spec  # noqa: E402
from parcours.lake import Lake  # noqa: E402
from parcours.lake.erase import remove_rows  # noqa: E402
from parcours.privacy.keys import TenantSecret  # noqa: E402
from parcours.privacy.pseudonymize import pseudonymize_array  # noqa: E402
from parcours.privacy.redact import PATTERNS, redact_array  # noqa: E402


def bench_pseudonymize(rows: int, customers: int, out: dict) -> None:
    rng = np.random.default_rng(1)
    ids = pa.array([f"C{n:08d}" for n in rng.integers(0, customers, rows)])
    secret = TenantSecret("bench", bytes(range(32)))
    with measured(out, "pseudonymize_parcours"):
        ours = pseudonymize_array(secret, ids)
    key = secret.reveal()
    series = ids.to_pandas()
    with measured(out, "pseudonymize_pandas_map"):
        theirs = series.map(lambda v: "px" + hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:32])
    assert ours.to_pylist() == theirs.tolist()
    out["pseudonymize_ratio_pandas_to_parcours"] = round(
        out["pseudonymize_pandas_map"]["seconds"] / out["pseudonymize_parcours"]["seconds"], 2)


def _texts(n: int) -> tuple[list[str], list[str]]:
    rng = random.Random(2)
    names = ["zoé.m", "jean.dupont", "hélène_r", "marc"]
    texts, planted = [], []
    for _ in range(n):
        email = f"{rng.choice(names)}{rng.randint(1, 99)}@orange.fr"
        phone = "0" + rng.choice("67") + " " + " ".join(f"{rng.randint(0, 99):02d}" for _ in range(4))
        iban = "FR76 " + " ".join(f"{rng.randint(0, 9999):04d}" for _ in range(5)) + " 189"
        value = rng.choice([email, phone, iban])
        texts.append(f"Bonjour, ma facture est trop élevée. Contact : {value}. Merci.")
        planted.append(value)
    return texts, planted


def _left(out_texts: list[str], planted: list[str]) -> int:
    """Planted items of which a word (3+ letters) or the whole value is still in the text."""
    left = 0
    for text, value in zip(out_texts, planted, strict=True):
        pieces = [p for p in re.split(r"[\W_]+", value) if len(p) >= 3 and not p.isdigit()]
        left += any(p in text for p in pieces) or value in text
    return left


def bench_redact(n: int, out: dict) -> None:
    texts, planted = _texts(n)
    arr = pa.array(texts)
    with measured(out, "redact_parcours"):
        ours = redact_array(arr).to_pylist()
    with measured(out, "redact_arrow_re2"):
        theirs = arr
        for token, pattern in PATTERNS:
            theirs = pc.replace_substring_regex(theirs, pattern=pattern, replacement=token)
        theirs = theirs.to_pylist()
    out["redact_texts"] = n
    out["redact_left_parcours"] = _left(ours, planted)
    out["redact_left_arrow_re2"] = _left(theirs, planted)


def _events(n: int, customers: int) -> pa.Table:
    rng = np.random.default_rng(3)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ts = pa.array([t0 + timedelta(seconds=int(s)) for s in rng.integers(0, 365 * 86400, n)],
                  pa.timestamp("us", tz="UTC"))
    users = pa.array([f"C{u:08d}" for u in rng.integers(0, customers, n)])
    return pa.table({
        "message_id": pa.array([f"m{i}" for i in range(n)]), "tenant": pa.array(["bench"] * n),
        "type": pa.array(["track"] * n), "event": pa.array(["page_viewed"] * n),
        "channel": pa.array(["web"] * n), "user_id": users, "timestamp": ts, "received_at": ts,
    })


def bench_erase(events: int, customers: int, out: dict) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-privacy-"))
    try:
        data = _events(events, customers)
        target = data.column("user_id")[0].as_py()
        base = Lake(root / "base")
        for i in range(0, events, 250_000):
            base.append("bench", "raw", "events", data.slice(i, 250_000), spec_=spec("events"))
        rows = int(pc.sum(pc.equal(data.column("user_id"), target)).as_py())
        out["erase_table_rows"] = events
        out["erase_customer_rows"] = rows
        for kind in ("parcours", "delta_delete"):
            shutil.copytree(root / "base", root / kind)
            lake = Lake(root / kind)
            with measured(out, f"erase_{kind}"):
                if kind == "parcours":
                    done = remove_rows(lake, "bench", "raw", "events",
                                       lambda t: pc.equal(t.column("user_id"), target),
                                       ["user_id"]).rows_removed
                else:
                    done = lake.delta("bench", "raw", "events").delete(f"user_id = '{target}'")["num_deleted_rows"]
                lake.vacuum("bench", "raw", "events")
            assert done == rows, (kind, done, rows)
            log = lake.path("bench", "raw", "events") / "_delta_log"
            out[f"erase_{kind}_id_left_in_delta_log"] = any(
                target.encode() in p.read_bytes() for p in log.iterdir() if p.is_file())
        out["erase_ratio_delete_to_parcours"] = round(
            out["erase_delta_delete"]["seconds"] / out["erase_parcours"]["seconds"], 2)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--texts", type=int, default=50_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    out: dict = {"args": vars(args)}
    bench_pseudonymize(args.rows, args.customers, out)
    bench_redact(args.texts, out)
    bench_erase(args.events, args.customers // 10, out)
    path = save("privacy", out)
    print(pd.Series({k: v for k, v in out.items() if k != "args"}).to_string())
    print(f"written to {path}")


if __name__ == "__main__":
    main()
