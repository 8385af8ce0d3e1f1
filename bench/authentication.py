#!/usr/bin/env python
"""What authentication costs per request, before and after expiry and lastUsedAt (crm/auth/services.py).

    python bench/authentication.py [--requests N] [--batches B] [--database-url URL] [--keep] [--json]

One app on a throwaway PostgreSQL database (dropped at the end), the rate limiter off, B batches of N requests
``POST /graphql { viewer { role } }`` with an INTEGRATION token through the Flask test client, for each way of
authenticating in turn (the order rotating from batch to batch), swapped in for ``crm.api.view.authenticate``:

  none         a fixed viewer, no statement: the floor, everything a request costs but authentication
  old          the lookup before this change: the token by its hash, not revoked (one SELECT)
  new          today's ``authenticate``: the same SELECT, the expiry checked, lastUsedAt written at most once
               a minute (a conditional UPDATE and a COMMIT; within the minute nothing)
  write-each   ``authenticate`` with the throttle off: the UPDATE and COMMIT on every request, what the
               throttle saves

Reported as the median of the batches' per-request times (wall and process CPU), as ratios to ``old`` and as
microseconds over ``none`` (what authentication itself costs). FAILs only when an answer is wrong or ``new``
wrote lastUsedAt more often than once a minute.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_database_arguments, bench_app, conclude  # noqa: E402

QUERY = {"query": "{ viewer { role } }"}
WARM_UP = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=25, help="requests per variant and batch (25)")
    parser.add_argument("--batches", type=int, default=80, help="batches (80)")
    add_database_arguments(parser, "authentication")
    args = parser.parse_args()

    from sqlalchemy import event, select

    import crm.api.view as view
    from crm.auth import services
    from crm.auth.models import ApiToken, StaffUser
    from crm.enums import Role
    from crm.sessions import get_session

    def old_authenticate(session, token):
        row = session.execute(
            select(ApiToken, StaffUser.email)
            .outerjoin(StaffUser, StaffUser.id == ApiToken.staff_user_id)
            .where(ApiToken.token_hash == services.hash_token(token), ApiToken.revoked_at.is_(None))
        ).first()
        if row is None:
            return None
        api_token, staff_email = row
        return services.Viewer(role=api_token.role, token_id=api_token.id, staff_user_id=api_token.staff_user_id,
                               staff_email=staff_email, customer_id=api_token.customer_id, label=api_token.label)

    fixed = services.Viewer(role=Role.INTEGRATION, label="bench")
    variants = {
        "none": lambda session, token: fixed,
        "old": old_authenticate,
        "new": services.authenticate,
        "write-each": lambda session, token: services.authenticate(session, token, touch_after=0),
    }

    with bench_app(args.database_url, keep=args.keep, RATE_LIMITS_ENABLED=False) as bench:
        app = bench.app
        with app.app_context():
            token = services.create_token(get_session(), role=Role.INTEGRATION, label="bench")[1]
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        wrong: list[str] = []
        updates = {name: 0 for name in variants}
        current = {"name": None}

        def count_updates(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("UPDATE API_TOKEN"):
                updates[current["name"]] += 1

        event.listen(bench.engine, "before_cursor_execute", count_updates)
        spent = {name: 0.0 for name in variants}

        def run(name: str, count: int) -> tuple[float, float]:
            current["name"] = name
            view.authenticate = variants[name]
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                response = client.post("/graphql", json=QUERY, headers=headers)
                if response.status_code != 200 or response.get_json() != {"data": {"viewer": {"role": "INTEGRATION"}}}:
                    wrong.append(f"{name}: {response.status_code} {response.get_data(as_text=True)[:200]}")
            elapsed = time.perf_counter() - wall
            spent[name] += elapsed
            return elapsed / count, (time.process_time() - cpu) / count

        original = view.authenticate
        try:
            for name in variants:
                run(name, WARM_UP)
            names = list(variants)
            times = {name: [] for name in names}
            began = time.perf_counter()
            for batch in range(args.batches):
                order = names[batch % len(names):] + names[:batch % len(names)]
                for name in order:
                    times[name].append(run(name, args.requests))
            measured = time.perf_counter() - began
        finally:
            view.authenticate = original
            event.remove(bench.engine, "before_cursor_execute", count_updates)
        bench.finish()

        print(bench.describe())
        print(bench.load())
        print(f"{args.batches} batches of {args.requests} requests per variant; median of the batches\n")
        print(f"{'variant':11} {'wall us':>8} {'vs old':>7} {'auth us':>8}   {'CPU us':>7} {'vs old':>7} {'auth us':>8}"
              f"   {'UPDATEs':>7}")
        base_wall = statistics.median(t[0] for t in times["old"])
        base_cpu = statistics.median(t[1] for t in times["old"])
        floor_wall = statistics.median(t[0] for t in times["none"])
        floor_cpu = statistics.median(t[1] for t in times["none"])
        results = []
        for name in names:
            wall = statistics.median(t[0] for t in times[name])
            cpu = statistics.median(t[1] for t in times[name])
            print(f"{name:11} {wall * 1e6:8.0f} {wall / base_wall:6.3f}x {(wall - floor_wall) * 1e6:8.0f}"
                  f"   {cpu * 1e6:7.0f} {cpu / base_cpu:6.3f}x {(cpu - floor_cpu) * 1e6:8.0f}   {updates[name]:7d}")
            results.append({"variant": name, "wall_us": wall * 1e6, "wall_ratio_to_old": wall / base_wall,
                            "auth_wall_us": (wall - floor_wall) * 1e6, "cpu_us": cpu * 1e6,
                            "cpu_ratio_to_old": cpu / base_cpu, "auth_cpu_us": (cpu - floor_cpu) * 1e6,
                            "updates": updates[name]})
        # "new" runs for spent["new"] seconds, spread over the whole run: at most one write per minute of the run
        # (and the first use).
        allowed = math.ceil(measured / 60) + 1
        sent = WARM_UP + args.batches * args.requests
        checks = [
            ("every answer was the INTEGRATION viewer", not wrong, wrong[0] if wrong else f"{len(names) * sent} requests"),
            ("new wrote lastUsedAt at most once a minute of the run", updates["new"] <= allowed,
             f"{updates['new']} UPDATEs in {measured:.0f} s (at most {allowed})"),
            ("write-each wrote on every request", updates["write-each"] == sent, f"{updates['write-each']} of {sent}"),
            ("old and none wrote nothing", updates["old"] == updates["none"] == 0, ""),
        ]
        return conclude(bench, "authentication", checks, args.json, requests=args.requests, batches=args.batches,
                        results=results)


if __name__ == "__main__":
    sys.exit(main())
