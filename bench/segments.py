#!/usr/bin/env python
"""Segments at scale: full refresh of a nested rule against hand-written SQL, and one customer's re-evaluation.

    python bench/segments.py [--customers N] [--quick] [--database-url URL] [--keep] [--json]

Creates its own PostgreSQL database (dropped at the end unless --keep), migrates it and loads, by raw
SQL, N customers (countries, stages, tiers), about 2.5 orders each over two years with the order
metrics to match, and EMAIL consent for 60 % of them. Then, median of 5 runs after one warm-up:

  baseline      a hand-written query selecting the same customers as RULE: the order window as one
                GROUP BY joined to customer, consent as EXISTS, the rest as plain predicates
  selection     the compiled rule alone: crm.segments.membership.matching_customers (the refresh's selection)
  refresh       crm.segments.services.refresh_segment on the stored segment: finds the differences
                (one FULL JOIN of the rule's selection with the stored members) and writes them; timed
                with nothing to change (steady state) and after 1 % of customers changed consent

and once: creating the segment (the first refresh writes every member). Re-evaluating one customer
after an event (crm.segments.services.reevaluate_customer: lock, scores, every dynamic segment, tier)
is timed for 200 customers with 1 and with 10 dynamic segments defined.

The run FAILs if the stored members differ from the baseline's selection.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import select, text  # noqa: E402

from common import add_database_arguments, bench_app, conclude  # noqa: E402

RUNS = 5
RULE = {"all": [
    {"field": "consents.EMAIL", "op": "eq", "value": True},
    {"any": [
        {"field": "orders.sum", "op": "gte", "value": "300", "within": "P365D"},
        {"all": [{"field": "lifecycleStage", "op": "in", "value": ["LOYAL", "ADVOCATE"]},
                 {"field": "metrics.lastOrderAt", "op": "within_last", "value": "P180D"}]},
    ]},
    {"not": {"field": "country", "op": "in", "value": ["US", "CA"]}},
]}

BASELINE = """
SELECT c.id FROM customer c
LEFT JOIN (SELECT customer_id, sum(amount_base) AS spent FROM customer_order
           WHERE status = 'COMPLETED' AND occurred_at >= :year_ago GROUP BY customer_id) o ON o.customer_id = c.id
WHERE c.merged_into_id IS NULL
  AND EXISTS (SELECT 1 FROM consent k WHERE k.customer_id = c.id AND k.channel = 'EMAIL' AND k.granted)
  AND (coalesce(o.spent, 0) >= 300 * 10000  -- money is stored in 1/10,000 units
       OR (c.lifecycle_stage IN ('LOYAL', 'ADVOCATE') AND c.last_order_at >= :half_year_ago
           AND c.last_order_at <= :now))
  AND NOT (json_typeof(c.attributes -> 'country') = 'string' AND c.attributes ->> 'country' IN ('US', 'CA'))
"""


def load(engine, count: int) -> dict:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO customer (id, external_id, email, first_name, last_name, first_name_key, last_name_key, timezone,
                                  attributes, lifecycle_stage, service_tier, service_tier_pinned, total_spent,
                                  order_count, created_at, updated_at)
            SELECT gen_random_uuid(), 'c' || g, 'c' || g || '@bench.example', 'Bench', 'C' || g, 'bench', 'c' || g,
                   'UTC', json_build_object('country', (ARRAY['DE','FR','US','GB','CA','JP','SE'])[1 + g % 7]),
                   (ARRAY['LEAD','PROSPECT','NEW','DEVELOPING','LOYAL','ADVOCATE','AT_RISK','CHURNED'])[1 + g % 8],
                   'STANDARD', false, 0, 0, now() - interval '3 years', now()
            FROM generate_series(1, :n) AS g"""), {"n": count})
        conn.execute(text("""
            INSERT INTO customer_order (id, external_id, customer_id, amount, currency, amount_base, channel,
                                        occurred_at, items, points_earned, status, payload_hash, created_at)
            SELECT gen_random_uuid(), 'o' || c.n || '-' || k, c.id, a.amount, 'EUR', a.amount, 'WEB',
                   now() - ((c.n * 7 + k * 131) % 730) * interval '1 day', '[]', 0, 'COMPLETED', '', now()
            FROM (SELECT id, substr(external_id, 2)::int AS n FROM customer) c,
                 generate_series(1, c.n % 6) AS k,
                 LATERAL (SELECT (20 + (c.n * 13 + k * 17) % 400) * 10000 AS amount) a  -- money is stored in 1/10,000 units"""))
        conn.execute(text("""
            UPDATE customer SET total_spent = o.spent, order_count = o.orders, first_order_at = o.first_at,
                                last_order_at = o.last_at
            FROM (SELECT customer_id, sum(amount_base) AS spent, count(*) AS orders, min(occurred_at) AS first_at,
                         max(occurred_at) AS last_at FROM customer_order GROUP BY customer_id) o
            WHERE o.customer_id = customer.id"""))
        conn.execute(text("""
            INSERT INTO consent (customer_id, channel, granted, source, updated_at)
            SELECT id, 'EMAIL', substr(external_id, 2)::int % 10 < 6, 'bench', now() FROM customer"""))
        orders = conn.execute(text("SELECT count(*) FROM customer_order")).scalar()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return {"orders": orders, "load_s": time.perf_counter() - started}


def median_of(fn, runs: int = RUNS) -> tuple[float, list[float], object]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers (default 1000000)")
    parser.add_argument("--quick", action="store_true", help="50000 customers")
    add_database_arguments(parser, "segments")
    args = parser.parse_args(argv)
    if args.quick:
        args.customers = 50_000
    out: dict = {}

    with bench_app(args.database_url, keep=args.keep) as bench:
        from crm.customers.models import Customer
        from crm.db import utcnow
        from crm.segments import services
        from crm.segments.membership import matching_customers
        from crm.segments.models import SegmentKind, SegmentMembership
        from crm.sessions import get_session
        app, engine = bench.app, bench.engine
        out["postgresql"] = bench.server_version
        print(f"loading {args.customers} customers ...", flush=True)
        out["data"] = load(engine, args.customers)
        print(f"  {out['data']['orders']} orders; loaded in {out['data']['load_s']:.0f} s", flush=True)
        with app.app_context():
            session = get_session()
            now = utcnow()
            params = {"now": now, "year_ago": now - timedelta(days=365), "half_year_ago": now - timedelta(days=180)}

            def baseline():
                with engine.connect() as conn:
                    return set(conn.execute(text(BASELINE), params).scalars())

            def selection():
                query = matching_customers(RULE, now=now).with_only_columns(Customer.id)
                ids = set(session.scalars(query))
                session.rollback()
                return ids

            out["baseline_s"], out["baseline_runs"], expected = median_of(baseline)
            print(f"  baseline   {out['baseline_s']:.3f} s ({len(expected)} customers)", flush=True)
            out["selection_s"], out["selection_runs"], selected = median_of(selection)
            print(f"  selection  {out['selection_s']:.3f} s", flush=True)

            started = time.perf_counter()
            segment = services.create_segment(session, name="Bench", kind=SegmentKind.DYNAMIC, rule=RULE,
                                              actor="bench")
            out["create_s"] = time.perf_counter() - started
            out["members"] = segment.member_count
            print(f"  create     {out['create_s']:.3f} s ({segment.member_count} members written)", flush=True)

            def refresh():
                return services.refresh_segment(session, segment_id=segment.id, actor="bench").member_count

            out["refresh_steady_s"], out["refresh_steady_runs"], _ = median_of(refresh)
            print(f"  refresh    {out['refresh_steady_s']:.3f} s (nothing to change)", flush=True)

            flips = []
            for _ in range(RUNS):
                with engine.begin() as conn:
                    conn.execute(text("""UPDATE consent SET granted = NOT granted WHERE channel = 'EMAIL'
                                         AND customer_id IN (SELECT id FROM customer ORDER BY random() LIMIT :n)"""),
                                 {"n": max(1, args.customers // 100)})
                before = session.get(type(segment), segment.id).member_count
                started = time.perf_counter()
                after = refresh()
                flips.append((time.perf_counter() - started, abs(after - before)))
            out["refresh_changed_s"] = statistics.median(t for t, _ in flips)
            out["refresh_changed_runs"] = flips
            print(f"  refresh    {out['refresh_changed_s']:.3f} s after 1 % changed consent", flush=True)

            stored = set(session.scalars(select(SegmentMembership.customer_id).where(
                SegmentMembership.segment_id == segment.id)))
            session.rollback()
            expected = baseline()
            out["check_members_equal_baseline"] = stored == expected
            out["check_selection_equal_baseline"] = selection() == expected

            rng = random.Random(7)
            sample = [uuid.UUID(str(i)) for i in rng.sample(
                list(session.scalars(select(Customer.id).limit(100_000))), 200)]
            session.rollback()

            def per_customer():
                times = []
                for customer_id in sample:
                    started = time.perf_counter()
                    services.reevaluate_customer(session, customer_id=customer_id, reason="bench",
                                                 config=app.config)
                    times.append(time.perf_counter() - started)
                times.sort()
                return {"median_ms": 1000 * statistics.median(times), "p95_ms": 1000 * times[int(0.95 * len(times))]}

            per_customer()  # warm-up (and first scores)
            out["reevaluate_1_segment"] = per_customer()
            for i in range(9):
                services.create_segment(session, name=f"Bench {i}", kind=SegmentKind.DYNAMIC, actor="bench",
                                        rule={"all": [{"field": "country", "op": "eq", "value": "DE"},
                                                      {"field": "orders.count", "op": "gte", "value": i % 5}]})
            per_customer()
            out["reevaluate_10_segments"] = per_customer()
            print(f"  reevaluate one customer: {out['reevaluate_1_segment']} (1 segment), "
                  f"{out['reevaluate_10_segments']} (10 segments)", flush=True)

    bench.finish()
    ratio_steady = out["refresh_steady_s"] / out["baseline_s"]
    ratio_changed = out["refresh_changed_s"] / out["baseline_s"]
    print()
    print(bench.describe())
    print(f"{args.customers} customers, {out['data']['orders']} orders; {bench.load()}")
    print()
    print(f"median of {RUNS}                         seconds   vs baseline")
    print(f"baseline (hand-written SQL)        {out['baseline_s']:>8.3f}")
    print(f"compiled rule, selection only      {out['selection_s']:>8.3f}   {out['selection_s'] / out['baseline_s']:.2f}x")
    print(f"refresh, nothing to change         {out['refresh_steady_s']:>8.3f}   {ratio_steady:.2f}x")
    print(f"refresh, 1 % of customers changed  {out['refresh_changed_s']:>8.3f}   {ratio_changed:.2f}x")
    print(f"create (writes {out['members']} members)   {out['create_s']:>8.3f}   "
          f"{out['create_s'] / out['baseline_s']:.2f}x")
    print(f"re-evaluate one customer, 1 segment:   median {out['reevaluate_1_segment']['median_ms']:.1f} ms, "
          f"p95 {out['reevaluate_1_segment']['p95_ms']:.1f} ms")
    print(f"re-evaluate one customer, 10 segments: median {out['reevaluate_10_segments']['median_ms']:.1f} ms, "
          f"p95 {out['reevaluate_10_segments']['p95_ms']:.1f} ms")
    checks = [("stored members == baseline selection", out["check_members_equal_baseline"]),
              ("compiled selection == baseline selection", out["check_selection_equal_baseline"])]
    print()
    return conclude(bench, "segments", checks, args.json, customers=args.customers, results=out)


if __name__ == "__main__":
    sys.exit(main())
