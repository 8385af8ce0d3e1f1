#!/usr/bin/env python
"""Messages: sending through real RQ workers, and the dispatcher's fan-out of due messages.

    python bench/messages.py [--jobs N] [--fanout F] [--quick] [--database-url URL] [--redis-url URL]
                             [--keep] [--json]

Creates its own PostgreSQL database (dropped at the end, even on failure, unless --keep), migrates it,
inserts 1000 customers by raw SQL, and uses a redis-server of its own on a free port (or --redis-url,
flushed before and after). Every message is TRANSACTIONAL EMAIL, so consent, frequency cap and quiet hours do not apply;
the `log` provider "sends" them. In one run:

  idle       two `crm worker --queues messages --burst` processes on an empty queue: start-up and exit
  rq-empty   N jobs of noop() below, enqueued with crm.queue.enqueue_many, drained by two such workers
             started together; jobs/s = N / (start of the workers .. both exited)      (baseline)
  send       N due messages (bulk INSERT), queued by delivery.dispatch_due, drained by two workers
             the same way: claim, send, record SENT (and the message.sent event's job)
  fan-out    F SCHEDULED messages written by create_message, 1000 per transaction (vs a raw
             INSERT ... SELECT of 1000 rows per transaction into a copy of the table); then the time
             dispatch_due takes to move all of them to QUEUED and enqueue their jobs, against
             enqueue_many of F empty jobs (baseline). Nothing is sent.

Speed is reported as ratios within the run. The run FAILs only if the data is wrong afterwards: not
exactly N SENT with one attempt each, anything left queued, a failed job, not F QUEUED with F jobs, or
someone else flushed the Redis database meanwhile (the test suite picks db 1 + pid % 15: db 13 can clash).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import event, text  # noqa: E402

from common import (BENCH, ROOT, GuardedRedis, add_database_arguments, bench_app, conclude,  # noqa: E402
                    insert_customers, private_redis)

NOOP = "messages.noop"  # this file, as the workers import it (bench/ is on their PYTHONPATH)
CUSTOMERS = 1000
BATCH = 1000
WORKERS = 2
SENTINEL = "bench:messages:sentinel"   # gone: someone else flushed the Redis database during the run


def noop(*args):
    return None


# --- data -----------------------------------------------------------------------------------------

def make_customers(engine, count: int) -> list[str]:
    with engine.begin() as conn:
        insert_customers(conn, count)
        return [str(i) for i in conn.execute(text("SELECT id FROM customer ORDER BY email")).scalars()]


def insert_messages(engine, table: str, customers: list[str], first: int, count: int, prefix: str,
                    due: datetime, created: datetime) -> None:
    """``count`` SCHEDULED messages, rows as create_message writes them, in one INSERT ... SELECT."""
    with engine.begin() as conn:
        conn.execute(text(f"""
            INSERT INTO {table} (id, customer_id, channel, purpose, trigger, subject, body, status, scheduled_for,
                                 attempts, dedupe_key, context, created_at, updated_at)
            SELECT gen_random_uuid(), (CAST(:customers AS uuid[]))[1 + g % CAST(:n AS int)], 'EMAIL',
                   'TRANSACTIONAL', 'bench', 'Your order', 'Order ' || g || ' has shipped.', 'SCHEDULED', :due, 0,
                   :prefix || g, '{{}}', :created, :created
            FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g"""),
            {"customers": customers, "n": len(customers), "due": due, "prefix": prefix, "created": created,
             "first": first, "last": first + count - 1})


def write_with_create_message(app, customers: list[str], count: int, due: datetime, now: datetime) -> float:
    """The fan-out's messages through crm.messages.services.create_message, 1000 per transaction."""
    from crm.db import transaction
    from crm.sessions import get_session
    from crm.enums import Channel
    from crm.messages.models import MessagePurpose
    from crm.messages.services import create_message
    started = time.perf_counter()
    with app.app_context():
        session = get_session()
        for start in range(0, count, BATCH):
            with transaction(session):
                for g in range(start, min(count, start + BATCH)):
                    create_message(session, customer_id=uuid.UUID(customers[g % len(customers)]),
                                   channel=Channel.EMAIL, purpose=MessagePurpose.TRANSACTIONAL, trigger="bench",
                                   subject="Your order", body=f"Order {g} has shipped.", dedupe_key=f"fanout:{g}",
                                   send_at=due, now=now)
            session.expunge_all()
    return time.perf_counter() - started


# --- workers --------------------------------------------------------------------------------------

def run_workers(env: dict, logdir: Path, tag: str) -> tuple[float, list[int]]:
    """Start WORKERS `crm worker --queues messages --burst` processes together; seconds until all exited."""
    crm = shutil.which("crm", path=str(Path(sys.executable).parent)) or shutil.which("crm")
    logs = [open(logdir / f"{tag}-{i}.log", "w") for i in range(WORKERS)]
    started = time.perf_counter()
    procs = [subprocess.Popen([crm, "worker", "--queues", "messages", "--burst"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, cwd=logdir) for log in logs]
    try:
        codes = [p.wait() for p in procs]
    finally:
        for p, log in zip(procs, logs):
            if p.poll() is None:  # interrupted: stop our own workers
                p.terminate()
                p.wait()
            log.close()
    seconds = time.perf_counter() - started
    for i in (i for i, code in enumerate(codes) if code):
        tail = (logdir / f"{tag}-{i}.log").read_text().splitlines()[-15:]
        print(f"  worker {tag}-{i} exited {codes[i]}:\n    " + "\n    ".join(tail), flush=True)
    return seconds, codes


def queue_state(app) -> dict:
    from crm.queue import get_queue
    queue = get_queue("messages", app)
    return {"queued": queue.count, "failed": queue.failed_job_registry.count}


# --- scenarios ------------------------------------------------------------------------------------

def drain(app, env, logdir, tag: str, items: int, checks: list) -> dict:
    seconds, codes = run_workers(env, logdir, tag)
    state = queue_state(app)
    checks.append((f"{tag}: both workers exited 0, queue empty, no failed job",
                   codes == [0] * WORKERS and state == {"queued": 0, "failed": 0}, f"exit {codes}, {state}"))
    return {"items": items, "seconds": seconds, "per_s": items / seconds}


def send(app, engine, env, logdir, customers, n: int, checks: list) -> dict:
    from crm.db import utcnow
    from crm.sessions import get_session
    from crm.messages.delivery import dispatch_due
    now = utcnow()
    insert_messages(engine, "message", customers, 0, n, "send:", now - timedelta(seconds=1), now)
    with app.app_context():
        dispatched = dispatch_due(get_session())
    queued = queue_state(app)["queued"]
    checks.append(("send: dispatch_due queued every message", dispatched == queued == n,
                   f"{dispatched} dispatched, {queued} jobs queued, {n} messages"))
    result = drain(app, env, logdir, "send", n, checks)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, attempts, count(*) FROM message WHERE dedupe_key LIKE 'send:%' "
                                 "GROUP BY 1, 2 ORDER BY 1, 2")).all()
        outbox = conn.execute(text("SELECT count(*) FILTER (WHERE dispatched_at IS NULL), count(*) FILTER "
                                   "(WHERE queue = 'messages') FROM outbox_entry")).one()
    checks.append(("send: exactly N messages SENT, each with attempts == 1, none left pending",
                   [tuple(r) for r in rows] == [("SENT", 1, n)],
                   ", ".join(f"{s}, {a} attempt(s): {c}" for s, a, c in rows)))
    # message.sent reaches journeys only for case follow-ups: sending queues no second job.
    checks.append(("send: no outbox row pending, no follow-on job on the messages queue",
                   tuple(outbox) == (0, 0), f"{outbox[0]} outbox rows pending, {outbox[1]} messages-queue jobs"))
    result["jobs_run"] = n + outbox[1]
    return result


def fan_out(app, engine, guard, customers, f: int, checks: list) -> dict:
    from crm.db import utcnow
    from crm.sessions import get_session
    from crm.messages.delivery import dispatch_due
    from crm.queue import enqueue_many
    out: dict = {"messages": f}
    now = utcnow() - timedelta(hours=1)   # written an hour ago, due half an hour ago
    due = now + timedelta(minutes=30)
    print(f"  writing {f} messages with create_message, {BATCH} per transaction ...", flush=True)
    out["create_message_s"] = write_with_create_message(app, customers, f, due, now)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_message (LIKE message INCLUDING ALL)"))
        conn.execute(text("ALTER TABLE bench_message ADD FOREIGN KEY (customer_id) REFERENCES customer (id)"))
    started = time.perf_counter()
    for start in range(0, f, BATCH):
        insert_messages(engine, "bench_message", customers, start, min(BATCH, f - start), "fanout:", due, now)
    out["raw_insert_s"] = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE message"))

    print(f"  enqueue_many of {f} empty jobs ...", flush=True)
    with app.app_context():
        started = time.perf_counter()
        enqueue_many("messages", NOOP, [(None, [str(uuid.uuid4())]) for _ in range(f)])
        out["enqueue_many_s"] = time.perf_counter() - started
    baseline_jobs = queue_state(app)["queued"]
    checks.append(("fan-out baseline: every empty job queued", baseline_jobs == f, f"{baseline_jobs} jobs"))
    guard.fresh()

    print(f"  dispatch_due of {f} due messages ...", flush=True)
    sql: dict = {"SELECT": [], "UPDATE": []}

    def before(conn, cursor, statement, params, context, executemany):
        conn.info["bench_t"] = time.perf_counter()

    def after(conn, cursor, statement, params, context, executemany):
        for kind in sql:
            if statement.startswith(f"{kind} message"):
                sql[kind].append(time.perf_counter() - conn.info["bench_t"])

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        with app.app_context():
            started = time.perf_counter()
            dispatched = dispatch_due(get_session())
            out["dispatch_s"] = time.perf_counter() - started
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    out.update(select_s=sum(sql["SELECT"]), update_s=sum(sql["UPDATE"]), batches=len(sql["SELECT"]))
    tenth = max(1, len(sql["SELECT"]) // 10)
    out["select_ms_first_tenth"] = 1000 * sum(sql["SELECT"][:tenth]) / tenth
    out["select_ms_last_tenth"] = 1000 * sum(sql["SELECT"][-tenth:]) / tenth
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM message WHERE dedupe_key LIKE 'fanout:%' "
                                 "GROUP BY 1 ORDER BY 1")).all()
    jobs = queue_state(app)["queued"]
    checks.append(("fan-out: every message QUEUED", [tuple(r) for r in rows] == [("QUEUED", f)] and dispatched == f,
                   f"dispatch_due returned {dispatched}; " + ", ".join(f"{s}: {c}" for s, c in rows)))
    checks.append(("fan-out: exactly F jobs in the messages queue", jobs == f, f"{jobs} jobs"))
    return out


# --- main -----------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=5000, help="jobs / messages in rq-empty and send (default 5000)")
    parser.add_argument("--fanout", type=int, default=100_000, help="messages in fan-out (default 100000)")
    parser.add_argument("--quick", action="store_true", help="500 jobs, fan-out of 5000")
    add_database_arguments(parser, "messages", redis=True)
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.fanout = 500, 5000
    if args.jobs < 1 or args.fanout < 1:
        parser.error("need --jobs >= 1 and --fanout >= 1")
    with private_redis(args.redis_url) as args.redis_url:
        return measure(args)


def measure(args) -> int:
    checks: list[tuple[str, bool, str]] = []
    out: dict = {}
    guard = GuardedRedis(args.redis_url, SENTINEL)
    with bench_app(args.database_url, keep=args.keep, REDIS_URL=args.redis_url,
                   MESSAGES_FREQUENCY_CAP=1_000_000) as bench, tempfile.TemporaryDirectory(prefix="bench-msg-") as tmp:
        app, engine = bench.app, bench.engine
        env = {**os.environ, "CRM_DATABASE_URL": bench.url, "CRM_REDIS_URL": args.redis_url,
               "CRM_MESSAGES_FREQUENCY_CAP": "1000000", "CRM_INSTANCE_PATH": tmp,
               "PYTHONPATH": os.pathsep.join([str(BENCH), str(ROOT), os.environ.get("PYTHONPATH", "")])}
        try:
            out["postgresql"] = bench.server_version
            out["redis"] = guard.redis.info("server")["redis_version"]
            customers = make_customers(engine, CUSTOMERS)
            logdir = Path(tmp)

            print(f"idle: {WORKERS} workers on an empty queue (twice) ...", flush=True)
            out["idle_s"] = min(run_workers(env, logdir, f"idle{i}")[0] for i in range(2))
            print(f"rq-empty: {args.jobs} noop jobs ...", flush=True)
            with app.app_context():
                from crm.queue import enqueue_many
                enqueue_many("messages", NOOP, [(None, [str(uuid.uuid4())]) for _ in range(args.jobs)])
            out["rq-empty"] = drain(app, env, logdir, "rq-empty", args.jobs, checks)
            print(f"send: {args.jobs} messages ...", flush=True)
            out["send"] = send(app, engine, env, logdir, customers, args.jobs, checks)
            guard.fresh()
            print(f"fan-out: {args.fanout} messages ...", flush=True)
            out["fan-out"] = fan_out(app, engine, guard, customers, args.fanout, checks)
            checks.append(guard.check())
        finally:
            guard.redis.flushdb()

    bench.finish()
    base, idle = out["rq-empty"], out["idle_s"]
    for r in (out["rq-empty"], out["send"]):
        r["net_per_s"] = r["items"] / max(1e-9, r["seconds"] - idle)
    print()
    print(f"{bench.describe()}; Redis {out['redis']}")
    print(f"{CUSTOMERS} customers, {WORKERS} worker processes; {bench.load()}")
    print()
    print(f"{WORKERS} `crm worker --queues messages --burst`; start-up and exit on an empty queue: {idle:.2f} s")
    print(f"{'scenario':<10}{'items':>7}{'seconds':>9}{'per s':>9}{'net per s':>11}  cost vs rq-empty (net)")
    for name in ("rq-empty", "send"):
        r = out[name]
        cost = "(baseline)" if name == "rq-empty" else \
            f"{base['per_s'] / r['per_s']:.2f}x  ({base['net_per_s'] / r['net_per_s']:.2f}x)"
        print(f"{name:<10}{r['items']:>7}{r['seconds']:>9.2f}{r['per_s']:>9.1f}{r['net_per_s']:>11.1f}  {cost}")
    print(f"(send ran {out['send']['jobs_run']} jobs, one per message; net = items / (seconds - idle))")
    fo, f = out["fan-out"], out["fan-out"]["messages"]

    def row(label, seconds, baseline=None, rate=True):
        per_s = f"{f / seconds:>9.0f}" if rate else " " * 9
        print(f"{label:<46}{seconds:>8.2f}{per_s}" + (f"{seconds / baseline:>9.2f}x" if baseline else ""))

    print()
    print(f"{f'fan-out of {f} messages':<46}{'seconds':>8}{'per s':>9}  cost vs baseline")
    row("enqueue_many of empty jobs (baseline)", fo["enqueue_many_s"])
    row("dispatch_due: SCHEDULED -> QUEUED + its job", fo["dispatch_s"], fo["enqueue_many_s"])
    row(f"  in SELECT ... FOR UPDATE ({fo['batches']} statements)", fo["select_s"], rate=False)
    row("  in UPDATE message SET status = QUEUED", fo["update_s"], rate=False)
    row(f"raw INSERT ... SELECT, {BATCH} per tx (baseline)", fo["raw_insert_s"])
    row(f"create_message, {BATCH} per tx", fo["create_message_s"], fo["raw_insert_s"])
    print(f"dispatch SELECT per batch: {fo['select_ms_first_tenth']:.1f} ms over the first tenth of the batches, "
          f"{fo['select_ms_last_tenth']:.1f} ms over the last")
    print()
    return conclude(bench, "messages", checks, args.json, results=out,
                    params={"jobs": args.jobs, "fanout": args.fanout, "customers": CUSTOMERS, "workers": WORKERS})


if __name__ == "__main__":
    sys.exit(main())
