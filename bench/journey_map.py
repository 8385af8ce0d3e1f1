#!/usr/bin/env python
"""Journey map analytics at scale: recording throughput and the time to compute a journey map.

    python bench/journey_map.py [--interactions N] [--customers C] [--quick] [--bulk] [--database-url URL]
                                [--keep] [--json]

Creates its own PostgreSQL database on the server named by --database-url (dropped at the end, even
on failure, unless --keep), migrates it, inserts C customers by raw SQL and 40 touchpoints over the
two default maps, then loads N generated interactions (funnels, emotions and pain points spread over
two years, in time order) in batches of 1000, each batch twice, alternately:

  record      journeys.interactions.services.record_interactions (validation, rollups, customer touch, events)
  baseline    one multi-row INSERT of the same rows (and one of their pain points) into copies of the
              interaction tables with the same indexes and foreign keys but no rollups and no app logic

At 1/4, 1/2 and all of the load (after VACUUM ANALYZE, as autovacuum would), it times the map
"purchase" three ways, median of 5 runs after one warm-up:

  rollup      journeys.maps.analytics.journey_map, no period (reads the rollups)
  period      the same for the 90 days up to the newest data (aggregates those interactions)
  baseline    hand-written SQL over every interaction of the map giving the same figures

--bulk skips the throughput part: it COPYs the interactions and builds the rollups with
rollups.rebuild (at half and at the end, then measures), which loads tens of millions in minutes.

Speed is reported as ratios within the run. The run FAILs only if the data is wrong afterwards:
the rollups disagree with the interactions, the two paths disagree, or the baseline disagrees.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import event, text  # noqa: E402

from common import add_database_arguments, bench_app, conclude, insert_customers  # noqa: E402

BATCH = 1000
MAP = "purchase"
PERIOD_DAYS = 90
SPAN_DAYS = 730
RUNS = 5

# (stage, [(touchpoint key, name, channel)]) per map; 24 + 16 = 40 touchpoints.
TOUCHPOINTS = {
    "purchase": [
        ("awareness", [("aw.search-ad", "Search ad", "WEB"), ("aw.social-post", "Social post", "SOCIAL"),
                       ("aw.newsletter", "Newsletter", "EMAIL"), ("aw.store-window", "Store window", "STORE"),
                       ("aw.referral", "Friend referral", "SOCIAL")]),
        ("consideration", [("co.product-page", "Product page", "WEB"), ("co.compare", "Comparison tool", "WEB"),
                           ("co.chat", "Sales chat", "CHAT"), ("co.store-visit", "Store visit", "STORE"),
                           ("co.reviews", "Reviews", "WEB")]),
        ("purchase", [("pu.web-checkout", "Web checkout", "WEB"), ("pu.app-checkout", "App checkout", "APP"),
                      ("pu.store-till", "Store till", "STORE"), ("pu.phone-order", "Phone order", "PHONE"),
                      ("pu.payment", "Payment page", "WEB")]),
        ("onboarding", [("on.welcome-mail", "Welcome mail", "EMAIL"), ("on.delivery", "Delivery", "SMS"),
                        ("on.setup-guide", "Setup guide", "SELF_SERVICE"), ("on.app-signup", "App sign-up", "APP")]),
        ("usage", [("us.app", "App session", "APP"), ("us.push", "Push message", "PUSH"),
                   ("us.help-center", "Help center", "SELF_SERVICE"), ("us.community", "Community", "SOCIAL"),
                   ("us.loyalty", "Loyalty page", "WEB")]),
    ],
    "after-sales": [
        ("reception", [("as.hotline", "Hotline", "PHONE"), ("as.chat", "Support chat", "CHAT"),
                       ("as.mail", "Support mail", "EMAIL"), ("as.counter", "Service counter", "SERVICE_CENTER")]),
        ("diagnosis", [("as.remote-check", "Remote check", "PHONE"), ("as.workshop", "Workshop", "SERVICE_CENTER"),
                       ("as.photo-upload", "Photo upload", "APP"), ("as.self-test", "Self test", "SELF_SERVICE")]),
        ("solution", [("as.repair", "Repair", "SERVICE_CENTER"), ("as.replacement", "Replacement", "STORE"),
                      ("as.refund", "Refund", "WEB"), ("as.advice", "Advice", "PHONE")]),
        ("follow-up", [("as.survey", "Survey", "EMAIL"), ("as.callback", "Callback", "PHONE"),
                       ("as.sms-check", "SMS check", "SMS"), ("as.voucher", "Voucher", "EMAIL")]),
    ],
}
FUNNEL = {"purchase": [0.97, 0.7, 0.5, 0.85, 0.85], "after-sales": [0.3, 0.85, 0.9, 0.6]}
MEAN_VISITS = {"awareness": 1.5, "consideration": 2.5, "purchase": 1.3, "onboarding": 1.8, "usage": 5.0,
               "reception": 1.5, "diagnosis": 1.6, "solution": 1.3, "follow-up": 1.2}
PAIN_TAGS = ["slow-site", "out-of-stock", "price", "hidden-fees", "long-wait", "no-answer", "confusing",
             "payment-failed", "late-delivery", "damaged", "app-crash", "repeat-contact", "unfriendly", "no-update"]


# --- data -----------------------------------------------------------------------------------------

def make_customers(engine, count: int) -> list[uuid.UUID]:
    """Customers by raw SQL: 5 % VIP, 20 % PREFERRED; lifecycle stages mixed."""
    with engine.begin() as conn:
        insert_customers(
            conn, count, created_sql="now() - interval '3 years'",
            stage_sql="(ARRAY['LEAD','PROSPECT','NEW','DEVELOPING','LOYAL','ADVOCATE','AT_RISK','CHURNED'])[1 + g % 8]",
            tier_sql="CASE WHEN g % 20 = 0 THEN 'VIP' WHEN g % 5 = 0 THEN 'PREFERRED' ELSE 'STANDARD' END")
        return list(conn.execute(text("SELECT id FROM customer ORDER BY email")).scalars())


def make_touchpoints(app) -> dict[str, dict]:
    from crm.sessions import get_session
    from crm.enums import Channel
    from journeys.maps.services import create_touchpoint
    rng = random.Random(7)
    out = {}
    with app.app_context():
        session = get_session()
        for map_key, stages in TOUCHPOINTS.items():
            for stage, touchpoints in stages:
                for key, name, channel in touchpoints:
                    tp = create_touchpoint(session, key=key, name=name, channel=Channel(channel), stage=stage,
                                           journey_map=map_key)
                    out[key] = {"id": tp.id, "channel": tp.channel, "map": map_key, "stage": stage,
                                "mood": rng.uniform(-1.0, 1.3), "pain": rng.uniform(0.03, 0.3),
                                "tags": rng.sample(PAIN_TAGS, 3)}
    return out


def _journey(rng: random.Random, customer: uuid.UUID, touchpoints: dict, start: datetime, now: datetime) -> list:
    """One customer's way through a map's funnel from ``start``: rows (customer, touchpoint key,
    occurred_at, emotion, pain points). At each stage the customer favours one or two touchpoints and
    comes back to them, which keeps the (customer, touchpoint) pairs well below the interactions."""
    rows = []
    map_key = "purchase" if rng.random() < 0.8 else "after-sales"
    moment = start
    for (stage, stage_touchpoints), chance in zip(TOUCHPOINTS[map_key], FUNNEL[map_key]):
        if rng.random() > chance:
            break
        keys = [key for key, _, _ in stage_touchpoints]
        favourites = rng.sample(keys, 1 if rng.random() < 0.6 else 2)
        for _ in range(1 + int(rng.expovariate(1 / (MEAN_VISITS[stage] - 1 + 1e-9)))):
            moment += timedelta(hours=rng.expovariate(1 / 30))
            if moment > now:
                return rows
            key = rng.choice(favourites) if rng.random() < 0.85 else rng.choice(keys)
            tp = touchpoints[key]
            emotion = None if rng.random() < 0.3 else max(-2, min(2, round(rng.gauss(tp["mood"], 1))))
            pains = rng.sample(tp["tags"], 1 if rng.random() < 0.8 else 2) if rng.random() < tp["pain"] else []
            rows.append((customer, key, moment, emotion, pains))
        moment += timedelta(hours=rng.expovariate(1 / 72))
    return rows


def generate(customers: list[uuid.UUID], touchpoints: dict, total: int, now: datetime, chunks: int = 1,
             seed: int = 42):
    """``total`` interactions in ``chunks`` lists, each the journeys starting in its share of the two years,
    oldest first: loaded in order, the table grows in time order as a real one does. Yields (rows, the end
    of the share): the time up to which the data is complete, as some journeys run on past it."""
    rng = random.Random(seed)
    span = timedelta(days=SPAN_DAYS)
    for index in range(chunks):
        wanted = total // chunks + (total % chunks if index == chunks - 1 else 0)
        first = now - span + span * index / chunks
        rows: list[tuple] = []
        while len(rows) < wanted:
            start = first + span / chunks * rng.random()
            rows += _journey(rng, customers[rng.randrange(len(customers))], touchpoints, start, now)
        del rows[wanted:]
        rows.sort(key=lambda r: r[2])
        yield rows, first + span / chunks


# --- loading --------------------------------------------------------------------------------------

def make_copy_tables(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_interaction (LIKE interaction INCLUDING ALL)"))
        conn.execute(text("ALTER TABLE bench_interaction ADD FOREIGN KEY (customer_id) REFERENCES customer (id), "
                          "ADD FOREIGN KEY (touchpoint_id) REFERENCES touchpoint (id)"))
        conn.execute(text("CREATE TABLE bench_interaction_pain_point (LIKE interaction_pain_point INCLUDING ALL)"))
        conn.execute(text("ALTER TABLE bench_interaction_pain_point "
                          "ADD FOREIGN KEY (interaction_id) REFERENCES bench_interaction (id)"))


COPY_COLUMNS = ("id", "customer_id", "touchpoint_id", "channel", "journey_map_key", "stage", "occurred_at", "emotion",
                "pain_points", "recorded_at")


def _values_sql(table_name: str, columns: tuple[str, ...], rows: int) -> str:
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES " + ", ".join([row] * rows)


def record_batch(session, batch) -> float:
    from journeys.interactions.services import InteractionRow, record_interactions
    rows = [InteractionRow(customer_id=c, touchpoint_key=k, occurred_at=at, emotion=e, pain_points=p)
            for c, k, at, e, p in batch]
    started = time.perf_counter()
    result = record_interactions(session, rows)
    elapsed = time.perf_counter() - started
    if result.errors or len(result.recorded) != len(batch):
        raise RuntimeError(f"record_interactions refused rows: {result.errors[:3]}")
    session.expunge_all()
    return elapsed


def baseline_batch(engine, touchpoints, batch, now) -> float:
    """The same rows by hand-written multi-row INSERTs on the driver's connection: the floor for storing them."""
    from psycopg.types.json import Json
    values, pain_values = [], []
    for customer, key, at, emotion, pains in batch:
        tp = touchpoints[key]
        row_id = uuid.uuid4()
        values += [row_id, customer, tp["id"], tp["channel"].value, tp["map"], tp["stage"], at, emotion,
                   Json(sorted(pains)), now]
        for pain in pains:
            pain_values += [row_id, pain]
    connection = engine.raw_connection()
    try:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(_values_sql("bench_interaction", COPY_COLUMNS, len(batch)), values)
            if pain_values:
                cursor.execute(_values_sql("bench_interaction_pain_point", ("interaction_id", "pain_point"),
                                           len(pain_values) // 2), pain_values)
        connection.commit()
        return time.perf_counter() - started
    finally:
        connection.close()


def copy_chunk(engine, touchpoints, rows, now) -> float:
    """--bulk: COPY rows into interaction and interaction_pain_point; the rollups are rebuilt later."""
    from psycopg.types.json import Json
    connection = engine.raw_connection()
    try:
        started = time.perf_counter()
        pain_rows = []
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY interaction ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
                for customer, key, at, emotion, pains in rows:
                    tp = touchpoints[key]
                    row_id = uuid.uuid4()
                    copy.write_row((row_id, customer, tp["id"], tp["channel"].value, tp["map"], tp["stage"], at,
                                    emotion, Json(sorted(pains)), now))
                    pain_rows += [(row_id, pain) for pain in pains]
            with cursor.copy("COPY interaction_pain_point (interaction_id, pain_point) FROM STDIN") as copy:
                for pain_row in pain_rows:
                    copy.write_row(pain_row)
        connection.commit()
        return time.perf_counter() - started
    finally:
        connection.close()


def rebuild_rollups(app) -> float:
    from crm.db import transaction
    from crm.sessions import get_session
    from journeys.maps import rollups
    with app.app_context():
        session = get_session()
        started = time.perf_counter()
        with transaction(session):
            rollups.rebuild(session)
        return time.perf_counter() - started


def statements_of_one_batch(app, engine, batch) -> list[str]:
    from crm.sessions import get_session
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split())[:90])

    event.listen(engine, "before_cursor_execute", before)
    try:
        with app.app_context():
            record_batch(get_session(), batch)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return seen


# --- the journey map, three ways ---------------------------------------------------------------------

BASELINE_SQL = {
    "cells": """
        SELECT touchpoint_id, count(DISTINCT customer_id), count(*), avg(emotion),
               avg(CASE WHEN json_array_length(pain_points) > 0 THEN 1.0 ELSE 0.0 END)
        FROM interaction WHERE journey_map_key = :key GROUP BY touchpoint_id""",
    "stages": """
        SELECT stage, count(DISTINCT customer_id), count(*), avg(emotion),
               avg(CASE WHEN json_array_length(pain_points) > 0 THEN 1.0 ELSE 0.0 END)
        FROM interaction WHERE journey_map_key = :key GROUP BY stage""",
    "conversion": """
        WITH entries AS (SELECT customer_id, stage, min(occurred_at) AS entered_at
                         FROM interaction WHERE journey_map_key = :key GROUP BY customer_id, stage),
             steps AS (SELECT s.stage, lead(s.stage) OVER (ORDER BY s.position) AS next_stage
                       FROM json_array_elements_text((SELECT stages FROM journey_map WHERE key = :key))
                            WITH ORDINALITY AS s (stage, position))
        SELECT e.stage, count(*), count(n.customer_id),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM n.entered_at - e.entered_at) / 3600)
        FROM entries e JOIN steps s ON s.stage = e.stage AND s.next_stage IS NOT NULL
             LEFT JOIN entries n ON n.customer_id = e.customer_id AND n.stage = s.next_stage
                                AND n.entered_at >= e.entered_at
        GROUP BY e.stage""",
    "pains": """
        SELECT touchpoint_id, pain_point, n FROM (
            SELECT i.touchpoint_id, p.pain_point, count(*) AS n, row_number() OVER (
                PARTITION BY i.touchpoint_id ORDER BY count(*) DESC, p.pain_point COLLATE "C") AS rn
            FROM interaction i JOIN interaction_pain_point p ON p.interaction_id = i.id
            WHERE i.journey_map_key = :key GROUP BY i.touchpoint_id, p.pain_point) ranked
        WHERE rn <= 5""",
}


def baseline_query(engine) -> dict:
    with engine.connect() as conn:
        return {name: conn.execute(text(sql), {"key": MAP}).all() for name, sql in BASELINE_SQL.items()}


def timed(fn) -> tuple[float, object]:
    fn()  # warm-up: plans and caches
    times, result = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def measure(app, engine, latest: datetime, loaded: int) -> dict:
    """Times at this point of the load; the period is the 90 days up to ``latest``."""
    from crm.sessions import get_session
    from journeys.maps.analytics import JourneyFilter, journey_map
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE interaction, interaction_pain_point, journey_customer_touchpoint, "
                          "journey_customer_pain_point, customer"))
        sizes = {name: conn.execute(text(f"SELECT count(*), pg_total_relation_size('{name}') FROM {name}")).one()
                 for name in ("interaction", "journey_customer_touchpoint", "journey_customer_pain_point")}
        in_period = conn.execute(text("SELECT count(*) FROM interaction WHERE journey_map_key = :key "
                                      "AND occurred_at >= :since"),
                                 {"key": MAP, "since": latest - timedelta(days=PERIOD_DAYS)}).scalar()
    period = JourneyFilter(from_=latest - timedelta(days=PERIOD_DAYS), to=latest + timedelta(seconds=1))

    def run(flt):
        with app.app_context():
            return journey_map(get_session(), key=MAP, flt=flt)

    rollup_s, rollup_report = timed(lambda: run(None))
    period_s, _ = timed(lambda: run(period))
    baseline_s, baseline = timed(lambda: baseline_query(engine))
    return {"interactions": loaded, "rows": {k: v[0] for k, v in sizes.items()},
            "mb": {k: round(v[1] / 1e6, 1) for k, v in sizes.items()}, "period_interactions": in_period,
            "rollup_s": rollup_s, "period_s": period_s, "baseline_s": baseline_s,
            "baseline_over_rollup": baseline_s / rollup_s, "baseline_over_period": baseline_s / period_s,
            "_rollup_report": rollup_report, "_baseline": baseline}


# --- checks ------------------------------------------------------------------------------------------

def close(a, b, tolerance=1e-9) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(float(a) - float(b)) <= tolerance)


def baseline_agrees(report, baseline) -> list[str]:
    """Where the service's all-time figures differ from the hand-written baseline (empty when they agree)."""
    wrong = []
    cells = {row[0]: row for row in baseline["cells"]}
    stages = {row[0]: row for row in baseline["stages"]}
    conversion = {row[0]: row for row in baseline["conversion"]}
    pains: dict = {}
    for touchpoint_id, tag, n in baseline["pains"]:
        pains.setdefault(touchpoint_id, []).append((tag, n))
    for s in report.stages:
        _, customers, interactions, emotion, rate = stages.get(s.stage, (s.stage, 0, 0, None, 0.0))
        got = (s.customers, s.interactions, s.average_emotion, s.pain_point_rate)
        if (customers, interactions) != got[:2] or not close(emotion, got[2]) or not close(rate or 0.0, got[3]):
            wrong.append(f"stage {s.stage}: {got} vs baseline {(customers, interactions, emotion, rate)}")
        if s.stage in conversion:
            _, entered, converted, median = conversion[s.stage]
            if not close(converted / entered, s.conversion_to_next) or not close(median, s.median_hours_to_next, 1e-6):
                wrong.append(f"stage {s.stage} conversion: {(s.conversion_to_next, s.median_hours_to_next)} "
                             f"vs baseline {(converted / entered, median)}")
        for c in s.touchpoints:
            _, customers, interactions, emotion, rate = cells.get(c.touchpoint.id, (None, 0, 0, None, 0.0))
            if ((customers, interactions) != (c.customers, c.interactions) or not close(emotion, c.average_emotion)
                    or not close(rate or 0.0, c.pain_point_rate)
                    or sorted(pains.get(c.touchpoint.id, []), key=lambda t: (-t[1], t[0])) != c.top_pain_points):
                wrong.append(f"touchpoint {c.touchpoint.key} differs from the baseline")
    return wrong


def verify(app, engine, loaded: int, last: dict, bulk: bool) -> list[tuple[str, bool, str]]:
    from crm.sessions import get_session
    from journeys.maps import rollups
    from journeys.maps.analytics import JourneyFilter, journey_map
    checks = []
    tables = ("interaction",) if bulk else ("interaction", "bench_interaction")
    with engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables]
    checks.append(("every row stored" + ("" if bulk else ", by both writers"), counts == [loaded] * len(tables),
                   ", ".join(f"{t} {n}" for t, n in zip(tables, counts)) + f", loaded {loaded}"))
    with app.app_context():
        session = get_session()
        started = time.perf_counter()
        differences = rollups.differences(session)
        checks.append(("rollups agree with the interactions", differences == 0,
                       f"{differences} cell(s) differ (checked in {time.perf_counter() - started:.1f} s)"))
        everything = JourneyFilter(from_=datetime(2000, 1, 1, tzinfo=timezone.utc),
                                   to=datetime.now(timezone.utc) + timedelta(days=1))
        for key in ("purchase", "after-sales"):
            same = journey_map(session, key=key) == journey_map(session, key=key, flt=everything)
            checks.append((f"{key}: rollup path == period path covering everything", same, "identical reports"
                           if same else "the reports differ"))
    wrong = baseline_agrees(last["_rollup_report"], last["_baseline"])
    checks.append(("rollup path == hand-written baseline", not wrong, "; ".join(wrong[:3]) or "every figure"))
    return checks


# --- main --------------------------------------------------------------------------------------------

def load_recorded(app, engine, rows, touchpoints, now) -> tuple[int, list, dict]:
    """Default mode: each batch through record_interactions and through the baseline INSERT, alternately."""
    from crm.sessions import get_session
    batches = [rows[i:i + BATCH] for i in range(0, len(rows), BATCH)]
    statements = statements_of_one_batch(app, engine, batches[0])
    baseline_batch(engine, touchpoints, batches[0], now)
    checkpoints = {len(batches) // 4, len(batches) // 2, len(batches)}
    record_s = baseline_s = 0.0
    loaded, results = len(batches[0]), []
    with app.app_context():
        session = get_session()
        for number, batch in enumerate(batches[1:], start=2):
            record_s += record_batch(session, batch)
            baseline_s += baseline_batch(engine, touchpoints, batch, now)
            loaded += len(batch)
            if number % 100 == 0:
                print(f"  {loaded} loaded: record {(loaded - BATCH) / record_s:.0f} rows/s, "
                      f"baseline {(loaded - BATCH) / baseline_s:.0f} rows/s", flush=True)
            if number in checkpoints:
                print(f"  measuring the journey map at {loaded} interactions ...", flush=True)
                results.append(measure(app, engine, batch[-1][2], loaded))
    timed_rows = loaded - BATCH  # the first batch went to the statement count and warm-up
    load = {"rows": timed_rows, "record_rows_per_s": timed_rows / record_s,
            "baseline_rows_per_s": timed_rows / baseline_s, "record_cost_vs_baseline": record_s / baseline_s,
            "statements_per_record_batch": len(statements), "statements": statements}
    return loaded, results, load


def load_bulk(app, engine, chunks, count: int, touchpoints, now) -> tuple[int, list, dict]:
    """--bulk: COPY in time order; at half and at the end, rebuild the rollups and measure."""
    loaded, results, copy_s, rebuild_s = 0, [], 0.0, []
    for number, (rows, complete_until) in enumerate(chunks, start=1):
        copy_s += copy_chunk(engine, touchpoints, rows, now)
        loaded += len(rows)
        print(f"  {loaded} copied ({loaded / copy_s:.0f} rows/s)", flush=True)
        if number in (count // 2, count):
            rebuild_s.append(rebuild_rollups(app))
            print(f"  rollups rebuilt in {rebuild_s[-1]:.1f} s; measuring the journey map at {loaded} ...", flush=True)
            results.append(measure(app, engine, complete_until, loaded))
    return loaded, results, {"copy_rows_per_s": loaded / copy_s, "rebuild_s": rebuild_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interactions", type=int, default=1_000_000, help="interactions to load (default 1000000)")
    parser.add_argument("--customers", type=int, default=100_000, help="customers (default 100000)")
    parser.add_argument("--quick", action="store_true", help="100000 interactions over 10000 customers")
    parser.add_argument("--bulk", action="store_true",
                        help="load by COPY and rollups.rebuild instead of record_interactions (no throughput "
                             "figures): tens of millions of interactions in minutes, to time the journey map")
    add_database_arguments(parser, "journey_map")
    args = parser.parse_args(argv)
    if args.quick:
        args.interactions, args.customers = 100_000, 10_000
    if args.interactions < 8 * BATCH or args.customers < 1:
        parser.error(f"need --interactions >= {8 * BATCH} and --customers >= 1")
    with bench_app(args.database_url, keep=args.keep) as bench:
        app, engine = bench.app, bench.engine
        print(f"inserting {args.customers} customers, {sum(len(t) for s in TOUCHPOINTS.values() for _, t in s)} "
              f"touchpoints ...", flush=True)
        customers = make_customers(engine, args.customers)
        touchpoints = make_touchpoints(app)
        now = datetime.now(timezone.utc)
        if args.bulk:
            count = max(2, args.interactions // 200_000)
            chunks = generate(customers, touchpoints, args.interactions, now, chunks=count)
            loaded, results, load = load_bulk(app, engine, chunks, count, touchpoints, now)
        else:
            make_copy_tables(engine)
            started = time.perf_counter()
            rows, _ = next(generate(customers, touchpoints, args.interactions, now))
            print(f"generated {len(rows)} interactions in {time.perf_counter() - started:.1f} s", flush=True)
            loaded, results, load = load_recorded(app, engine, rows, touchpoints, now)
        checks = verify(app, engine, loaded, results[-1], args.bulk)

    bench.finish()
    print()
    print(bench.describe())
    print(f"{args.customers} customers, {loaded} interactions over {SPAN_DAYS} days"
          f"{' (bulk: COPY + rollups.rebuild)' if args.bulk else f', batches of {BATCH}'}; {bench.load()}")
    print()
    if args.bulk:
        print(f"COPY {load['copy_rows_per_s']:.0f} rows/s; rollups.rebuild "
              + ", ".join(f"{s:.1f} s" for s in load["rebuild_s"]))
    else:
        print(f"record_interactions  {load['record_rows_per_s']:>9.0f} rows/s  "
              f"({load['statements_per_record_batch']} statements per batch)")
        print(f"baseline INSERT      {load['baseline_rows_per_s']:>9.0f} rows/s  (2 statements per batch)")
        print(f"record cost vs baseline: {load['record_cost_vs_baseline']:.2f}x")
    print()
    head = (f"{'interactions':>12}{'rollup rows':>12}{'rollup MB':>10}{'interact. MB':>13}{'in 90 days':>11}"
            f"{'rollup s':>10}{'period s':>10}{'baseline s':>11}{'base/rollup':>12}{'base/period':>12}")
    print(f"journey map {MAP!r}, median of {RUNS} runs:")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['interactions']:>12}{r['rows']['journey_customer_touchpoint']:>12}"
              f"{r['mb']['journey_customer_touchpoint']:>10}{r['mb']['interaction']:>13}{r['period_interactions']:>11}"
              f"{r['rollup_s']:>10.3f}{r['period_s']:>10.3f}{r['baseline_s']:>11.3f}"
              f"{r['baseline_over_rollup']:>11.2f}x{r['baseline_over_period']:>11.2f}x")
    if not args.bulk:
        print()
        print("statements of one record_interactions batch:")
        for sql in load["statements"]:
            print(f"    {sql}")
    print()
    return conclude(bench, "journey_map", checks, args.json, load=load,
                    params={"interactions": loaded, "customers": args.customers, "bulk": args.bulk, "batch": BATCH,
                            "map": MAP, "period_days": PERIOD_DAYS, "runs": RUNS},
                    journey_map=[{k: v for k, v in r.items() if not k.startswith("_")} for r in results])


if __name__ == "__main__":
    sys.exit(main())
