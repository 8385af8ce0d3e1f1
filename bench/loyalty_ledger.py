#!/usr/bin/env python
"""Loyalty ledger throughput: earn/redeem ops per second, spread over many accounts and on one hot account.

    python bench/loyalty_ledger.py [--ops N] [--threads T] [--accounts A] [--database-url URL] [--keep]
                                   [--json]

Creates its own PostgreSQL database on the server named by --database-url (dropped at the end,
even on failure, unless --keep), migrates it, and measures in one run, each with N ops:

  spread           T threads, alternating earn_points/redeem_points over A accounts
  hot              T threads, the same, all on one account
  baseline-spread  T threads, a bare transaction (INSERT a row + UPDATE a counter row, SQLAlchemy Core), A rows
  baseline-hot     T threads, the same on one counter row
  ... and each of them again from 1 thread (".1t"), which separates what contention costs
  from what a growing account history costs.

Speed is reported as ratios within the run (ledger vs baseline of the same shape, hot vs spread),
never as absolute pass/fail thresholds. The run FAILs only if the ledger is wrong afterwards.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import (BigInteger, Column, DateTime, Integer, MetaData, String, Table, Uuid,  # noqa: E402
                        UniqueConstraint, event, func, insert, select, update)

from common import add_database_arguments, bench_app, conclude  # noqa: E402

SEED_POINTS = 100        # every account starts with this (one EARN entry); each thread earns before it redeems
EARN, REDEEM = 10, 10    # each pair of ops leaves the balance where it was

# Baseline tables: the smallest "append a row and move a counter" transaction, no ledger logic.
bench_meta = MetaData()
bench_counter = Table("bench_counter", bench_meta,
                      Column("id", Integer, primary_key=True),
                      Column("value", BigInteger, nullable=False),
                      Column("updated_at", DateTime(timezone=True), nullable=False))
bench_event = Table("bench_event", bench_meta,
                    Column("id", Uuid, primary_key=True),
                    Column("counter_id", Integer, nullable=False),
                    Column("points", Integer, nullable=False),
                    Column("idempotency_key", String(200), nullable=False),
                    Column("created_at", DateTime(timezone=True), nullable=False),
                    UniqueConstraint("counter_id", "idempotency_key"))


# --- running threads ------------------------------------------------------------------------------

class LockTimer:
    """Time spent in the statement that takes the contended row lock: the ledger's SELECT ... FOR UPDATE
    of the account, the baseline's UPDATE of the counter. Waiting for the lock shows up here."""

    def __init__(self, engine):
        self.durations: list[float] = []
        self.local = threading.local()
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    @staticmethod
    def locks(statement: str) -> bool:
        return statement.startswith("UPDATE bench_counter") or (
            statement.startswith("SELECT loyalty_account.") and "FOR UPDATE" in statement)

    def before(self, conn, cursor, statement, parameters, context, executemany):
        if self.locks(statement):
            self.local.t0 = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        if self.locks(statement):
            self.durations.append(time.perf_counter() - self.local.t0)

    def take(self) -> list[float]:
        out, self.durations = self.durations, []
        return out


LOCK_TIMER: LockTimer | None = None


class Run:
    """T threads started together; per-op latencies and completion times, errors kept."""

    def __init__(self, name: str, threads: int):
        self.name, self.threads = name, threads
        self.latencies: list[float] = []
        self.done_at: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(threads + 1)
        self.start = self.end = 0.0
        self.cpu = 0.0

    def record(self, latencies, done_at, errors):
        with self.lock:
            self.latencies += latencies
            self.done_at += done_at
            self.errors += errors

    def go(self, worker, per_thread: int):
        threads = [threading.Thread(target=worker, args=(self, t, per_thread), daemon=True)
                   for t in range(self.threads)]
        for th in threads:
            th.start()
        self.barrier.wait()          # every thread is set up (app context, session): start the clock
        if LOCK_TIMER:
            LOCK_TIMER.take()
        self.start, cpu0 = time.perf_counter(), time.process_time()
        for th in threads:
            th.join()
        self.end, self.cpu = time.perf_counter(), time.process_time() - cpu0
        self.lock_waits = LOCK_TIMER.take() if LOCK_TIMER else []
        return self

    def summary(self) -> dict:
        ops = len(self.latencies)
        seconds = self.end - self.start
        lat = sorted(self.latencies)
        done = sorted(self.done_at)
        half = len(done) // 2
        # Drift: rate over the second half of the ops relative to the first half (1.0 = steady).
        drift = None
        if half and done[-1] > done[half - 1] and done[half - 1] > self.start:
            drift = ((len(done) - half) / (done[-1] - done[half - 1])) / (half / (done[half - 1] - self.start))
        return {"scenario": self.name, "threads": self.threads, "ops": ops, "errors": len(self.errors),
                "first_errors": self.errors[:3],
                "seconds": seconds, "ops_per_s": ops / seconds if seconds else 0.0,
                "p50_ms": 1000 * statistics.median(lat) if lat else None,
                "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))] if lat else None,
                # CPU this Python process used per wall second (1.0 = one core busy, the GIL's limit).
                "client_cpu": self.cpu / seconds if seconds else None,
                # Mean ms per op inside the statement that takes the row lock (lock wait + its own work).
                "lock_stmt_ms": 1000 * statistics.fmean(self.lock_waits) if self.lock_waits else None,
                "second_half_rate_vs_first": drift}


def timed(run: Run, latencies, done_at, errors, fn):
    t0 = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # keep going; errors are reported and fail the run
        errors.append(f"{exc.__class__.__name__}: {exc}")
        return
    t1 = time.perf_counter()
    latencies.append(t1 - t0)
    done_at.append(t1)


# --- scenarios ------------------------------------------------------------------------------------

def baseline(engine, name: str, threads: int, per_thread: int, counters: list[int]) -> dict:
    def worker(run: Run, t: int, n: int):
        rng = random.Random(1000 + t)
        lat, done, errs = [], [], []
        run.barrier.wait()
        counter = None
        for i in range(n):
            if i % 2 == 0:
                counter = rng.choice(counters)
            points = EARN if i % 2 == 0 else -REDEEM

            def op(counter=counter, points=points, key=f"{name}:{t}:{i}"):
                with engine.begin() as conn:
                    conn.execute(insert(bench_event).values(id=uuid.uuid4(), counter_id=counter, points=points,
                                                            idempotency_key=key, created_at=datetime.now(timezone.utc)))
                    conn.execute(update(bench_counter).where(bench_counter.c.id == counter)
                                 .values(value=bench_counter.c.value + points, updated_at=datetime.now(timezone.utc)))
            timed(run, lat, done, errs, op)
        run.record(lat, done, errs)

    return Run(name, threads).go(worker, per_thread).summary()


def ledger(app, name: str, threads: int, per_thread: int, accounts: list[uuid.UUID], tally: dict) -> dict:
    """Alternating earn/redeem; each pair on one account chosen at random (so the balance stays >= seed)."""
    from crm.sessions import get_session
    from loyalty.services import earn_points, redeem_points

    def worker(run: Run, t: int, n: int):
        rng = random.Random(2000 + t)
        lat, done, errs = [], [], []
        net: dict = {}
        with app.app_context():  # its own app context, so its own session
            session = get_session()
            run.barrier.wait()
            account = None
            for i in range(n):
                key = f"bench:{name}:{t}:{i}"
                if i % 2 == 0:
                    account = rng.choice(accounts)
                    op = lambda a=account, k=key: earn_points(session, customer_id=a, points=EARN,  # noqa: E731
                                                              reason="bench earn", idempotency_key=k)
                    delta = EARN
                else:
                    op = lambda a=account, k=key: redeem_points(session, customer_id=a, points=REDEEM,  # noqa: E731
                                                                reason="bench redeem", idempotency_key=k)
                    delta = -REDEEM
                before = len(lat)
                timed(run, lat, done, errs, op)
                if len(lat) > before:  # succeeded
                    net[account] = net.get(account, (0, 0))
                    net[account] = (net[account][0] + delta, net[account][1] + 1)
        with run.lock:
            for acc, (points, count) in net.items():
                p, c = tally.get(acc, (0, 0))
                tally[acc] = (p + points, c + count)
        run.record(lat, done, errs)

    return Run(name, threads).go(worker, per_thread).summary()


# --- setup, statement count, checks ---------------------------------------------------------------

def make_customers(app, count: int, tag: str) -> list[uuid.UUID]:
    from crm.customers.services import create_customer
    from crm.sessions import get_session
    from loyalty.services import earn_points
    ids = []
    with app.app_context():
        session = get_session()
        for i in range(count):
            customer = create_customer(session, data={"email": f"{tag}{i}@bench.example", "firstName": "Bench",
                                                      "lastName": f"{tag}{i}"}, actor="bench")
            earn_points(session, customer_id=customer.id, points=SEED_POINTS, reason="bench seed",
                        idempotency_key=f"bench:seed:{customer.id}")
            ids.append(customer.id)
    return ids


def count_statements(app, customer_id: uuid.UUID) -> dict:
    """SQL statements (cursor executes) and commits of one earn and one redeem on an existing account."""
    from crm.sessions import get_session
    from loyalty.services import earn_points, redeem_points
    engine = app.extensions["crm.engine"]
    out = {}
    with app.app_context():
        session = get_session()
        for label, call in (
                ("earn", lambda: earn_points(session, customer_id=customer_id, points=EARN, reason="count",
                                             idempotency_key="bench:count:earn")),
                ("redeem", lambda: redeem_points(session, customer_id=customer_id, points=REDEEM, reason="count",
                                                 idempotency_key="bench:count:redeem"))):
            statements, commits = [], []

            def before(conn, cursor, statement, parameters, context, executemany):
                statements.append(" ".join(statement.split())[:120])

            def on_commit(conn):
                commits.append(1)

            pings = []
            real_ping = engine.dialect.do_ping

            def counting_ping(dbapi_connection):  # pool_pre_ping runs outside the cursor events
                pings.append(1)
                return real_ping(dbapi_connection)

            event.listen(engine, "before_cursor_execute", before)
            event.listen(engine, "commit", on_commit)
            engine.dialect.do_ping = counting_ping
            try:
                call()
            finally:
                engine.dialect.do_ping = real_ping
                event.remove(engine, "before_cursor_execute", before)
                event.remove(engine, "commit", on_commit)
            out[label] = {"statements": len(statements), "commits": len(commits), "pings": len(pings),
                          "sql": statements}
    return out


def verify(app, tally: dict, hot: dict) -> list[tuple[str, bool, str]]:
    """The ledger is exact after the load. ``tally``: account -> (net points, ops) that succeeded;
    ``hot``: label -> (hot account, ops it was given)."""
    from crm.sessions import get_session
    from loyalty.models import LedgerEntry, LoyaltyAccount
    from loyalty.queries import balance_differences
    checks = []
    with app.app_context():
        session = get_session()
        diffs = balance_differences(session)
        checks.append(("balance_differences() is empty", not diffs, f"{len(diffs)} account(s) differ: {diffs[:3]}"
                       if diffs else "every account's balance = sum of its entries = its last balance_after"))
        balances = dict(session.execute(select(LoyaltyAccount.customer_id, LoyaltyAccount.balance)).all())
        entries = dict(session.execute(select(LedgerEntry.customer_id, func.count())
                                       .group_by(LedgerEntry.customer_id)).all())
        for label, (account, given) in hot.items():
            if not given:
                continue
            points, count = tally.get(account, (0, 0))
            ok = balances.get(account) == SEED_POINTS + points and entries.get(account) == 1 + count == 1 + given
            checks.append((f"{label} account balance = seed + earned - redeemed", ok,
                           f"balance {balances.get(account)} (expected {SEED_POINTS + points}), "
                           f"entries {entries.get(account)} (expected 1 seed + {given} ops)"))
        hot_ids = {account for account, _ in hot.values()}
        wrong = [acc for acc in balances if acc not in hot_ids and
                 (balances[acc] != SEED_POINTS + tally.get(acc, (0, 0))[0]
                  or entries.get(acc) != 1 + tally.get(acc, (0, 0))[1])]
        checks.append(("every other account = seed + earned - redeemed", not wrong,
                       f"{len(wrong)} of {len(balances) - len(hot_ids)} wrong" if wrong
                       else f"{len(balances) - len(hot_ids)} accounts checked"))
    return checks


# --- main -----------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=2000, help="ops per scenario (default 2000)")
    parser.add_argument("--threads", type=int, default=4, help="threads of the concurrent scenarios (default 4)")
    parser.add_argument("--accounts", type=int, default=200, help="accounts of the spread scenarios (default 200)")
    add_database_arguments(parser, "loyalty_ledger")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.ops < 2 or args.accounts < 1:
        parser.error("need --threads >= 1, --ops >= 2, --accounts >= 1")
    t = args.threads
    per_thread = max(2, args.ops // t // 2 * 2)  # even: every earn has its redeem
    ops = per_thread * t

    with bench_app(args.database_url, keep=args.keep) as bench:
        app, engine = bench.app, bench.engine
        global LOCK_TIMER
        LOCK_TIMER = LockTimer(engine)
        bench_meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(bench_counter), [{"id": i, "value": SEED_POINTS,
                                                  "updated_at": datetime.now(timezone.utc)}
                                                 for i in range(args.accounts + 2)])
        print(f"creating {args.accounts} spread customers + 2 hot + 1 warm-up, {SEED_POINTS} points each ...",
              flush=True)
        spread_ids = make_customers(app, args.accounts, "spread")
        hot_id, hot1_id, warm_id = make_customers(app, 3, "single")

        tally: dict = {}
        # Warm-up, not measured: compiled-statement caches, pooled connections.
        ledger(app, "warmup", t, 10, [warm_id], tally)
        baseline(engine, "warmup-baseline", t, 10, [args.accounts + 1])

        spread_counters, hot_counter = list(range(args.accounts)), [args.accounts]
        plan = [
            ("baseline-spread", lambda: baseline(engine, "baseline-spread", t, per_thread, spread_counters)),
            ("baseline-hot", lambda: baseline(engine, "baseline-hot", t, per_thread, hot_counter)),
            ("spread", lambda: ledger(app, "spread", t, per_thread, spread_ids, tally)),
            ("hot", lambda: ledger(app, "hot", t, per_thread, [hot_id], tally)),
            ("baseline-spread.1t", lambda: baseline(engine, "baseline-spread.1t", 1, ops, spread_counters)),
            ("baseline-hot.1t", lambda: baseline(engine, "baseline-hot.1t", 1, ops, hot_counter)),
            ("spread.1t", lambda: ledger(app, "spread.1t", 1, ops, spread_ids, tally)),
            ("hot.1t", lambda: ledger(app, "hot.1t", 1, ops, [hot1_id], tally)),
        ]
        if t == 1:
            plan = plan[:4]
        results = []
        for label, fn in plan:
            print(f"  {label} ...", flush=True)
            results.append(fn())

        statements = count_statements(app, warm_id)
        points, count = tally.get(warm_id, (0, 0))
        tally[warm_id] = (points + EARN - REDEEM, count + 2)
        checks = verify(app, tally, {"hot": (hot_id, ops), "hot.1t": (hot1_id, ops if t > 1 else 0)})

    bench.finish()
    by = {r["scenario"]: r for r in results}
    for r in results:
        if not r["scenario"].startswith("baseline"):
            b = by["baseline-" + r["scenario"]]
            r["baseline"] = b["scenario"]
            r["cost_vs_baseline"] = b["ops_per_s"] / r["ops_per_s"] if r["ops_per_s"] else None

    def ratio(a, b):
        return by[a]["ops_per_s"] / by[b]["ops_per_s"] if a in by and b in by and by[b]["ops_per_s"] else None

    ratios = {
        "hot_over_spread": ratio("hot", "spread"),
        "baseline_hot_over_spread": ratio("baseline-hot", "baseline-spread"),
        "hot_over_spread_1t": ratio("hot.1t", "spread.1t"),
        "spread_T_over_1t": ratio("spread", "spread.1t"),
        "hot_T_over_1t": ratio("hot", "hot.1t"),
    }

    print()
    print(f"{bench.describe()}; {t} threads, {ops} ops per scenario, {args.accounts} spread accounts, "
          f"earn {EARN} / redeem {REDEEM} alternating")
    print(f"{bench.load()} (1 min; other work on the machine skews the ratios)")
    head = (f"{'scenario':<19}{'thr':>4}{'ops':>6}{'err':>4}{'seconds':>8}{'ops/s':>8}{'p50 ms':>8}{'p95 ms':>8}"
            f"{'lock ms':>8}{'client cpu':>11}{'2nd/1st half':>13}  {'cost vs baseline (same shape)'}")
    print(head)
    print("-" * len(head))
    for r in results:
        drift = f"{r['second_half_rate_vs_first']:.2f}" if r["second_half_rate_vs_first"] else "-"
        cost = f"{r['cost_vs_baseline']:.2f}x {r['baseline']}" if "baseline" in r else "(baseline)"
        print(f"{r['scenario']:<19}{r['threads']:>4}{r['ops']:>6}{r['errors']:>4}{r['seconds']:>8.2f}"
              f"{r['ops_per_s']:>8.1f}{r['p50_ms']:>8.2f}{r['p95_ms']:>8.2f}{r['lock_stmt_ms'] or 0:>8.2f}"
              f"{r['client_cpu']:>11.2f}{drift:>13}  {cost}")
    print()
    for key, label in (("hot_over_spread", f"hot / spread, ledger, {t} threads"),
                       ("baseline_hot_over_spread", f"hot / spread, baseline, {t} threads"),
                       ("hot_over_spread_1t", "hot / spread, ledger, 1 thread"),
                       ("spread_T_over_1t", f"spread: {t} threads / 1 thread"),
                       ("hot_T_over_1t", f"hot: {t} threads / 1 thread")):
        if ratios[key] is not None:
            print(f"{label:<38}{ratios[key]:.2f}")
    print()
    for label in ("earn", "redeem"):
        s = statements[label]
        print(f"one {label} (existing account): {s['statements']} SQL statements + {s['commits']} COMMIT"
              f" (+ {s['pings']} pool pre-ping)")
        for sql in s["sql"]:
            print(f"    {sql[:100]}")
    print("one baseline op: 2 SQL statements + 1 COMMIT (+ 1 pool pre-ping)")
    print()
    failed_ops = sum(r["errors"] for r in results)
    checks.append(("no op raised", failed_ops == 0,
                   f"{failed_ops} error(s)" + (f", first: {next(e for r in results for e in r['first_errors'])}"
                                               if failed_ops else "")))
    return conclude(bench, "loyalty_ledger", checks, args.json, results=results, ratios=ratios,
                    params={"ops": ops, "threads": t, "accounts": args.accounts, "earn": EARN, "redeem": REDEEM,
                            "seed": SEED_POINTS},
                    statements={k: {key: v[key] for key in ("statements", "commits", "pings", "sql")}
                                for k, v in statements.items()})


if __name__ == "__main__":
    sys.exit(main())
