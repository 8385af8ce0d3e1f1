#!/usr/bin/env python
"""What the rate limiter costs per request: the limiter off, counting in memory, counting in Redis.

    python bench/rate_limits.py [--requests N] [--batches B] [--database-url URL] [--redis-url URL] [--keep] [--json]

Three apps in one process on one throwaway PostgreSQL database (dropped at the end): ``off``
(CRM_RATE_LIMITS_ENABLED=false), ``memory`` (the embedded default) and ``redis`` (a redis-server of the run's
own, or --redis-url, flushed), every limit far above what the run sends. Each of B batches sends N requests
through the Flask test client to each app in turn (the order rotating from batch to batch), of two kinds:

  token      POST /graphql ``{ __typename }`` with an INTEGRATION token: authentication, the cheapest query
  no token   POST /graphql without a token (401), counted per client address: the cheapest limited request

The cost is reported as ratios to ``off`` measured in the same batches (median of the batches' per-request
times), and as microseconds added, in wall time (what a client waits; Redis round trips included) and in the
process's CPU time (what the app spends; less disturbed by other work on the machine). The run FAILs only when an answer is wrong: a status other than 200 / 401,
RateLimit-* headers missing with the limiter on or present with it off, or Redis holding a count other than
the number of requests sent.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import GuardedRedis, add_database_arguments, bench_app, conclude, private_redis  # noqa: E402

QUERY = {"query": "{ __typename }"}
HIGH = "1000000000/day"  # a day: every count of the run in one window, however long it takes
KINDS = ("token", "no token")
WARM_UP = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=25, help="requests per app, kind and batch (25)")
    parser.add_argument("--batches", type=int, default=80, help="batches (80)")
    add_database_arguments(parser, "rate_limits", redis=True)
    args = parser.parse_args()

    from crm import create_app
    from crm.auth.services import create_token
    from crm.config import DEFAULTS
    from crm.enums import Role
    from crm.sessions import get_session

    high = {role: HIGH for role in DEFAULTS["RATE_LIMITS"]}
    with private_redis(args.redis_url) as redis_url, \
            bench_app(args.database_url, keep=args.keep, RATE_LIMITS_ENABLED=False) as bench:
        guard = GuardedRedis(redis_url, "bench:rate_limits:sentinel")
        common = {"DATABASE_URL": bench.url, "REDIS_URL": None, "RATE_LIMITS": high, "RATE_LIMIT_SIGN_IN": HIGH}
        # Three apps made alike (bench.app, made first, only makes the token): the same moment, the same process.
        apps = {"off": create_app({**common, "RATE_LIMITS_ENABLED": False}), "memory": create_app(common),
                "redis": create_app({**common, "RATE_LIMIT_STORAGE_URL": redis_url})}
        with bench.app.app_context():
            token = create_token(get_session(), role=Role.INTEGRATION, label="bench")[1]
        clients = {name: app.test_client() for name, app in apps.items()}
        sent = {"token": {"Authorization": f"Bearer {token}"}, "no token": {}}
        expected = {"token": 200, "no token": 401}
        wrong: list[str] = []

        def run(name: str, kind: str, count: int) -> tuple[float, float]:
            """(wall, CPU) seconds per request over ``count`` requests."""
            client, headers = clients[name], sent[kind]
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                response = client.post("/graphql", json=QUERY, headers=headers)
                if response.status_code != expected[kind] or (
                        ("RateLimit-Remaining" in response.headers) != (name != "off")):
                    wrong.append(f"{name}/{kind}: {response.status_code} {dict(response.headers)}")
            return (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count

        for name in apps:  # warm-up: connections, caches, the first parse of every limit
            for kind in KINDS:
                run(name, kind, WARM_UP)
        times = {(name, kind): [] for name in apps for kind in KINDS}
        names = list(apps)
        # Short batches, the apps taking turns in a rotating order: a change of load on the machine falls on
        # all three alike.
        for batch in range(args.batches):
            order = names[batch % 3:] + names[:batch % 3]
            for kind in KINDS:
                for name in order:
                    times[name, kind].append(run(name, kind, args.requests))
        bench.finish()

        from redis import Redis
        redis = Redis.from_url(redis_url)
        counted = {key.decode(): int(redis.get(key)) for key in redis.keys("crm-rate-limits:*")}
        per_kind = WARM_UP + args.batches * args.requests
        print(bench.describe())
        print(bench.load())
        print(f"{args.batches} batches of {args.requests} requests per app and kind; median of the batches\n")
        print(f"{'kind':10} {'app':8} {'wall us':>8} {'vs off':>8} {'added':>6}   {'CPU us':>7} {'vs off':>8} {'added':>6}")
        results = []
        for kind in KINDS:
            base_wall = statistics.median(t[0] for t in times["off", kind])
            base_cpu = statistics.median(t[1] for t in times["off", kind])
            for name in names:
                wall = statistics.median(t[0] for t in times[name, kind])
                cpu = statistics.median(t[1] for t in times[name, kind])
                print(f"{kind:10} {name:8} {wall * 1e6:8.0f} {wall / base_wall:7.3f}x {(wall - base_wall) * 1e6:6.0f}"
                      f"   {cpu * 1e6:7.0f} {cpu / base_cpu:7.3f}x {(cpu - base_cpu) * 1e6:6.0f}")
                results.append({"kind": kind, "app": name, "wall_us": wall * 1e6, "wall_ratio_to_off": wall / base_wall,
                                "cpu_us": cpu * 1e6, "cpu_ratio_to_off": cpu / base_cpu})
        checks = [
            ("every answer had its status, and RateLimit-* headers exactly when the limiter was on",
             not wrong, wrong[0] if wrong else f"{len(names) * len(KINDS) * per_kind} requests"),
            ("Redis counted every request of the redis app: one key per kind",
             sorted(counted.values()) == [per_kind, per_kind], str(counted)),
            guard.check(),
        ]
        for app in apps.values():
            app.extensions["crm.engine"].dispose()
        return conclude(bench, "rate_limits", checks, args.json, requests=args.requests, batches=args.batches,
                        results=results)


if __name__ == "__main__":
    sys.exit(main())
