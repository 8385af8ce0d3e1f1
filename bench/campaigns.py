#!/usr/bin/env python
"""Campaigns: planning a one-off "09:00 local" campaign to N customers in 20 timezones, and fanning it out.

    python bench/campaigns.py [--customers N] [--quick] [--date YYYY-MM-DD] [--database-url URL]
                              [--redis-url URL] [--keep] [--json]

Creates its own PostgreSQL database (dropped at the end, even on failure, unless --keep), migrates it,
inserts N customers by raw SQL, evenly over 20 IANA timezones, each with an email address and a granted
EMAIL consent (so nothing is suppressed), then VACUUM ANALYZEs them (a customer base exists long before
a campaign). It uses a redis-server of its own on a free port (or --redis-url, flushed before, between and after). In one run:

  baseline   crm.queue.enqueue_many of N empty jobs (noop() below, never run), each with a job id and
             one argument, as the dispatcher enqueues them; the Redis database is flushed afterwards
  campaign   services.create_campaign (one SEND step, EMAIL, purpose CAMPAIGN, a ONCE schedule at 09:00
             local on --date) and services.schedule_campaign, a day before the first zone's 09:00
  planning   planner.plan_due at each instant when some zone's local 09:00 arrives (19 instants for 20
             zones in January: Asia/Shanghai and Asia/Singapore share UTC+8): one campaign_run and one
             INSERT ... SELECT of the zone's customers into campaign_entry per zone
  advancing  engine.advance_due at the last instant, batch 500: every entry runs its SEND step, writing a
             SCHEDULED message due now and a step run, and completes
  fan-out    delivery.dispatch_due a minute later: every message QUEUED, one send job each in Redis
             (nothing is sent)

Speed is reported as ratios to the baseline within the run. A cursor listener counts statements per
phase (`stmts`: cursor calls; `server`: statements PostgreSQL runs, since psycopg's executemany sends one
per parameter set, pipelined), sums the time spent in them and, per kind of statement, the mean over
the first and the last tenth and the slowest; `cpu s` is this process's CPU time.

The run FAILs only if the data is wrong afterwards: not exactly N entries (each at its zone's 09:00)
and N completed, not N messages all QUEUED with one per customer, not N jobs in the `messages` queue
whose ids are the messages' send jobs, or someone else flushed the Redis database meanwhile (the test
suite picks db 1 + pid % 15: db 13 can clash).
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import event, text  # noqa: E402

from common import (GuardedRedis, add_database_arguments, bench_app, conclude, insert_customers,  # noqa: E402
                    private_redis)

NOOP = "campaigns.noop"   # never run: the baseline's jobs only sit in the queue
SENTINEL = "bench:campaigns:sentinel"   # gone: someone else flushed the Redis database during the run
ZONES = ["Pacific/Auckland", "Asia/Tokyo", "Asia/Shanghai", "Asia/Kolkata", "Asia/Dubai", "Europe/Moscow",
         "Europe/Berlin", "Europe/London", "Atlantic/Azores", "America/Sao_Paulo", "America/New_York",
         "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
         "Australia/Sydney", "Asia/Singapore", "Africa/Cairo", "Asia/Karachi"]
LOCAL_TIME = "09:00"
DEFAULT_DATE = "2030-01-15"   # a Tuesday in January: no daylight-saving change anywhere near it
ADVANCE_BATCH = 500
PHASES = ("planning", "advancing", "fan-out")


def noop(*args):
    return None


# --- data -----------------------------------------------------------------------------------------

def make_customers(engine, count: int) -> None:
    """``count`` customers, customer g in ZONES[g % 20], each with a granted EMAIL consent."""
    with engine.begin() as conn:
        insert_customers(conn, count, timezone_sql="(CAST(:zones AS text[]))[1 + g % CAST(:z AS int)]",
                         params={"zones": ZONES, "z": len(ZONES)})
        conn.execute(text("""
            INSERT INTO consent (customer_id, channel, granted, source, updated_at)
            SELECT id, 'EMAIL', true, 'bench', now() - interval '1 year' FROM customer"""))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE customer"))
        conn.execute(text("VACUUM ANALYZE consent"))


def zone_instants(local_date: date) -> dict[str, datetime]:
    """When LOCAL_TIME on ``local_date`` arrives in each zone, in UTC."""
    hour, minute = (int(p) for p in LOCAL_TIME.split(":"))
    return {zone: datetime(local_date.year, local_date.month, local_date.day, hour, minute, tzinfo=ZoneInfo(zone))
            .astimezone(timezone.utc) for zone in ZONES}


# --- measuring ------------------------------------------------------------------------------------

class Meter:
    """Statements, commits and time inside them, on the engine; wall and this process's CPU per phase."""

    def __init__(self, engine):
        self.engine, self.statements, self.executions, self.commits, self.sql_s = engine, 0, 0, 0, 0.0
        self.kinds: dict[str, list] = {}   # statement kind: [count, seconds, [seconds of each]]
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "commit", self._commit)

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)
        event.remove(self.engine, "commit", self._commit)

    def _before(self, conn, cursor, statement, params, context, executemany):
        conn.info["bench_t"] = time.perf_counter()

    def _after(self, conn, cursor, statement, params, context, executemany):
        spent = time.perf_counter() - conn.info.pop("bench_t", time.perf_counter())
        self.sql_s += spent
        self.statements += 1
        # psycopg's executemany runs the statement once per parameter set (pipelined): the server
        # executes that many statements.
        self.executions += len(params) if executemany else 1
        kind = _kind(statement)
        counts = self.kinds.setdefault(kind, [0, 0.0, []])
        counts[0] += 1
        counts[1] += spent
        counts[2].append(spent)

    def _commit(self, conn):
        self.commits += 1

    def start(self):
        self.statements, self.executions, self.commits, self.sql_s, self.kinds = 0, 0, 0, 0.0, {}
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self, rows: int) -> dict:
        seconds = time.perf_counter() - self.wall
        return {"rows": rows, "seconds": seconds, "per_s": rows / seconds, "statements": self.statements,
                "executions": self.executions, "commits": self.commits, "sql_s": self.sql_s, "client_cpu_s": time.process_time() - self.cpu,
                "kinds": {k: {"count": c, "seconds": s, "ms_first_tenth": _tenth(each, 0),
                              "ms_last_tenth": _tenth(each, -1), "ms_max": 1000 * max(each)}
                          for k, (c, s, each) in sorted(self.kinds.items(), key=lambda kv: -kv[1][1])}}


def _kind(statement: str) -> str:
    """"SELECT customer", "SELECT campaign_entry FOR UPDATE", "INSERT INTO message", "UPDATE message"."""
    words = statement.split()
    if words[0] == "SELECT":
        table = words[words.index("FROM") + 1] if "FROM" in words else ""
        lock = " FOR UPDATE" if " FOR UPDATE" in statement else " FOR SHARE" if " FOR SHARE" in statement else ""
        return f"SELECT {table}{lock}"
    return " ".join(words[:3] if words[0] in ("INSERT", "DELETE") else words[:2])


def _tenth(values: list[float], end: int) -> float:
    """Mean milliseconds over the first (end=0) or last (end=-1) tenth of the statements of a kind."""
    tenth = max(1, len(values) // 10)
    part = values[:tenth] if end == 0 else values[-tenth:]
    return 1000 * sum(part) / len(part)


# --- the run --------------------------------------------------------------------------------------

def baseline(app, n: int) -> dict:
    from crm.queue import enqueue_many, get_queue
    jobs = [(f"bench-{uuid.uuid4()}-0", [str(uuid.uuid4())]) for _ in range(n)]
    with app.app_context():
        started, cpu = time.perf_counter(), time.process_time()
        enqueue_many("messages", NOOP, jobs)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        queued = get_queue("messages", app).count
    return {"rows": n, "seconds": seconds, "per_s": n / seconds, "client_cpu_s": cpu, "queued": queued}


def campaign_run(app, engine, n: int, local_date: date, out: dict, checks: list) -> uuid.UUID:
    import crm.queue
    from crm.sessions import get_session
    from crm.enums import Role
    from crm.messages.delivery import dispatch_due
    from crm.messages.settings import MessageSettings
    from journeys.campaigns import engine as journey_engine
    from journeys.campaigns import planner, services

    instants = zone_instants(local_date)
    moments = sorted(set(instants.values()))
    first, last = moments[0], moments[-1]
    out["instants"] = len(moments)
    with app.app_context():
        session = get_session()
        campaign = services.create_campaign(session, values={
            "name": "Bench: 09:00 local", "purpose": "CAMPAIGN",
            "schedule": {"kind": "ONCE", "local_date": local_date.isoformat(), "local_time": LOCAL_TIME},
            "steps": [{"key": "hello", "type": "SEND", "content": [
                {"channel": "EMAIL", "template": "Subject: Hi\nHello {{ customer.firstName }}"}]}]},
            actor="bench", actor_role=Role.MARKETER, now=first - timedelta(days=1, minutes=5))
        campaign_id = campaign.id
        services.schedule_campaign(session, campaign_id=campaign_id, actor="bench", actor_role=Role.MARKETER,
                                   now=first - timedelta(days=1))
        session.close()

    meter = Meter(engine)
    try:
        # Planning: one plan_due per instant at which some zone's 09:00 arrives.
        print(f"  planning: plan_due at {len(moments)} instants, {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} "
              "UTC ...", flush=True)
        per_call = []
        with app.app_context():
            session = get_session()
            meter.start()
            entered = 0
            for moment in moments:
                started = time.perf_counter()
                got = planner.plan_due(session, now=moment, settings=planner.PlanSettings())
                per_call.append((moment, got, time.perf_counter() - started))
                entered += got
            out["planning"] = meter.stop(entered)
            session.close()
        out["planning"]["calls_ms"] = [round(1000 * s, 1) for _, _, s in per_call]
        checks.append(("planning: plan_due entered every customer once",
                       entered == n, f"{entered} entered, {n} customers"))

        # Advancing: every entry's SEND step, at the last instant.
        print(f"  advancing: advance_due, batch {ADVANCE_BATCH} ...", flush=True)
        with app.app_context():
            session = get_session()
            meter.start()
            moved = journey_engine.advance_due(session, now=last, batch=ADVANCE_BATCH)
            out["advancing"] = meter.stop(moved)
            session.close()
        checks.append(("advancing: advance_due moved every entry", moved == n, f"{moved} moved"))

        # Fan-out: dispatch_due a minute later; enqueue_many is wrapped to time the Redis part.
        print("  fan-out: dispatch_due ...", flush=True)
        real_enqueue_many, spent = crm.queue.enqueue_many, []

        def timed_enqueue_many(*args, **kwargs):
            started = time.perf_counter()
            try:
                return real_enqueue_many(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - started)

        crm.queue.enqueue_many = timed_enqueue_many
        try:
            with app.app_context():
                session = get_session()
                meter.start()
                dispatched = dispatch_due(session, now=last + timedelta(minutes=1), settings=MessageSettings())
                out["fan-out"] = meter.stop(dispatched)
                session.close()
        finally:
            crm.queue.enqueue_many = real_enqueue_many
        out["fan-out"]["enqueue_many_s"] = sum(spent)
        out["fan-out"]["enqueue_calls"] = len(spent)
    finally:
        meter.close()
    return campaign_id


def verify(app, engine, redis, n: int, local_date: date, campaign_id, checks: list) -> None:
    from crm.messages.delivery import send_job_id
    from crm.queue import get_queue
    instants = zone_instants(local_date)
    with engine.connect() as conn:
        entries = conn.execute(text("""
            SELECT count(*), count(*) FILTER (WHERE status = 'COMPLETED'), count(DISTINCT customer_id)
            FROM campaign_entry WHERE campaign_id = :c"""), {"c": campaign_id}).one()
        by_zone = conn.execute(text("""
            SELECT c.timezone, count(*), min(e.entered_at), max(e.entered_at)
            FROM campaign_entry e JOIN customer c ON c.id = e.customer_id GROUP BY 1"""), {}).all()
        runs = conn.execute(text("""
            SELECT count(*), coalesce(sum(entered), 0), count(*) FILTER (WHERE skipped)
            FROM campaign_run WHERE campaign_id = :c"""), {"c": campaign_id}).one()
        statuses = conn.execute(text("SELECT status, count(*) FROM message GROUP BY 1 ORDER BY 1")).all()
        per_customer = conn.execute(text("""
            SELECT count(*) FILTER (WHERE m.k = 1), count(*) FILTER (WHERE m.k <> 1)
            FROM (SELECT c.id, (SELECT count(*) FROM message WHERE customer_id = c.id) AS k FROM customer c) m
            """)).one()
        step_runs = conn.execute(text("""
            SELECT count(*), count(DISTINCT message_id) FROM campaign_step_run WHERE campaign_id = :c"""),
            {"c": campaign_id}).one()
        expected_jobs = {send_job_id(i, a) for i, a in conn.execute(text("SELECT id, attempts FROM message"))}
    checks.append(("exactly N entries, one per customer, all COMPLETED",
                   tuple(entries) == (n, n, n),
                   f"{entries[0]} entries, {entries[1]} completed, {entries[2]} customers"))
    wrong = [z for z, _count, lo, hi in by_zone if lo != instants[z] or hi != instants[z]]
    checks.append(("each zone's customers entered at its local 09:00, one run per zone, none skipped",
                   not wrong and tuple(runs) == (len(ZONES), n, 0),
                   f"{runs[0]} runs, {runs[1]} entered by them, {runs[2]} skipped"
                   + (f"; wrong instants in {', '.join(wrong)}" if wrong else "")))
    checks.append(("exactly N messages, all QUEUED", [tuple(r) for r in statuses] == [("QUEUED", n)],
                   ", ".join(f"{s}: {c}" for s, c in statuses) or "no messages"))
    checks.append(("each customer got exactly one message", tuple(per_customer) == (n, 0),
                   f"{per_customer[0]} customers with one, {per_customer[1]} with none or more"))
    checks.append(("one step run per entry, each linking its own message", tuple(step_runs) == (n, n),
                   f"{step_runs[0]} step runs, {step_runs[1]} distinct messages"))
    queue = get_queue("messages", app)
    job_ids = {j.decode() for j in redis.lrange(queue.key, 0, -1)}
    checks.append(("exactly N jobs in the messages queue, the messages' send jobs",
                   queue.count == n and job_ids == expected_jobs,
                   f"{queue.count} jobs; {len(job_ids & expected_jobs)} match a message's send job"))


# --- main -----------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000, help="customers (default 100000)")
    parser.add_argument("--quick", action="store_true", help="10000 customers")
    parser.add_argument("--date", default=DEFAULT_DATE, help=f"the campaign's local date (default {DEFAULT_DATE})")
    add_database_arguments(parser, "campaigns", redis=True)
    args = parser.parse_args(argv)
    if args.quick:
        args.customers = 10_000
    if args.customers < len(ZONES):
        parser.error(f"need --customers >= {len(ZONES)}")
    with private_redis(args.redis_url) as args.redis_url:
        return measure(args)


def measure(args) -> int:
    local_date = date.fromisoformat(args.date)
    n = args.customers
    checks: list[tuple[str, bool, str]] = []
    out: dict = {}
    guard = GuardedRedis(args.redis_url, SENTINEL)
    redis = guard.redis
    with bench_app(args.database_url, keep=args.keep, REDIS_URL=args.redis_url) as bench:
        app, engine = bench.app, bench.engine
        try:
            out["postgresql"] = bench.server_version
            out["redis"] = redis.info("server")["redis_version"]
            print(f"inserting {n} customers in {len(ZONES)} timezones, with EMAIL consent ...", flush=True)
            started = time.perf_counter()
            make_customers(engine, n)
            out["customers_s"] = time.perf_counter() - started

            print(f"baseline: enqueue_many of {n} empty jobs ...", flush=True)
            out["baseline"] = baseline(app, n)
            checks.append(("baseline: every empty job queued", out["baseline"]["queued"] == n,
                           f"{out['baseline']['queued']} jobs"))
            guard.fresh()

            print(f"campaign to {n} customers, 09:00 local on {local_date} ...", flush=True)
            campaign_id = campaign_run(app, engine, n, local_date, out, checks)
            guard.note()
            verify(app, engine, redis, n, local_date, campaign_id, checks)
            checks.append(guard.check())
        finally:
            redis.flushdb()

    bench.finish()
    base = out["baseline"]["seconds"]
    total = {key: sum(out[p][key] for p in PHASES)
             for key in ("seconds", "statements", "executions", "commits", "sql_s", "client_cpu_s")}
    total.update(rows=n, per_s=n / total["seconds"])
    out["total"] = total

    print()
    print(f"{bench.describe()}; Redis {out['redis']}")
    print(f"{n} customers in {len(ZONES)} timezones (inserted in {out['customers_s']:.1f} s); {bench.load()}")
    print()
    print(f"{f'campaign to {n} customers':<46}{'seconds':>8}{'rows/s':>9}{'vs base':>9}{'stmts':>7}{'server':>8}"
          f"{'commits':>8}{'in SQL s':>9}{'cpu s':>7}")

    def row(label, r, ratio=True, counts=True):
        print(f"{label:<46}{r['seconds']:>8.2f}{r['per_s']:>9.0f}"
              + (f"{r['seconds'] / base:>8.2f}x" if ratio else f"{'':>9}")
              + (f"{r['statements']:>7}{r['executions']:>8}{r['commits']:>8}{r['sql_s']:>9.2f}" if counts
                 else f"{'':>32}")
              + f"{r['client_cpu_s']:>7.2f}")

    row("enqueue_many of empty jobs (baseline)", out["baseline"], ratio=False, counts=False)
    row(f"planning: plan_due x {out['instants']} (entries)", out["planning"])
    row(f"advancing: advance_due, batch {ADVANCE_BATCH} (messages)", out["advancing"])
    row("fan-out: dispatch_due (jobs)", out["fan-out"])
    fo = out["fan-out"]
    label = f"  of which in enqueue_many ({fo['enqueue_calls']} calls)"
    print(f"{label:<46}{fo['enqueue_many_s']:>8.2f}{'':>9}{fo['enqueue_many_s'] / base:>8.2f}x")
    row("total: plan + advance + fan-out", total)
    calls = out["planning"]["calls_ms"]
    print(f"plan_due per instant: {min(calls):.0f}-{max(calls):.0f} ms (first {calls[0]:.0f}, last {calls[-1]:.0f})")
    print()
    print(f"{'statements by kind':<46}{'count':>8}{'seconds':>9}  ms each: first tenth / last tenth / max")
    for phase in PHASES:
        print(f"{phase}:")
        for kind, k in out[phase]["kinds"].items():
            print(f"  {kind:<44}{k['count']:>8}{k['seconds']:>9.2f}  "
                  f"{k['ms_first_tenth']:.1f} / {k['ms_last_tenth']:.1f} / {k['ms_max']:.1f}")
    print()
    return conclude(bench, "campaigns", checks, args.json, results=out,
                    params={"customers": n, "zones": len(ZONES), "date": local_date.isoformat(),
                            "advance_batch": ADVANCE_BATCH})


if __name__ == "__main__":
    sys.exit(main())
