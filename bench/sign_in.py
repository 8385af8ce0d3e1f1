#!/usr/bin/env python
"""The cost of one staffSignIn (argon2id verification, lockout read, session write) against a `{ viewer { role } }`
request, and whether a wrong password and an unknown email cost about the same.

    python bench/sign_in.py [--requests N] [--database-url URL] [--keep] [--json]

Creates its own PostgreSQL database (dropped at the end unless --keep), migrates it, creates a staff user with a
password (argon2-cffi's defaults: t=3, m=64 MiB, p=4) and posts through the Flask test client, one request at a
time after 3 warm-ups each, interleaving the kinds so that machine noise falls on all alike:

  viewer            `{ viewer { role } }` with a bearer token (the baseline: authentication and one field)
  sign-in           staffSignIn with the right password (verify, session row, failures cleared)
  wrong password    staffSignIn, INVALID_CREDENTIALS (verify, failure row committed)
  unknown email     staffSignIn, INVALID_CREDENTIALS (verify against the dummy hash, failure row committed)

Each kind's failures stay under the lockout: its rows are deleted after every request. Rate limits are off.
Reported: median and p90 in ms, and the median as a multiple of the baseline's. The run FAILs if an answer is not
the one expected, or if the two wrong answers' medians differ by more than 25 %.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import delete  # noqa: E402

from common import add_database_arguments, bench_app, conclude  # noqa: E402

EMAIL, PASSWORD = "bench@example.com", "a bench passphrase of some length"
SIGN_IN = ("mutation($e: String!, $p: String!) { staffSignIn(email: $e, password: $p) "
           "{ token errors { code } } }")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--requests", type=int, default=60, help="requests of each kind (default 60)")
    add_database_arguments(parser, "sign_in")
    args = parser.parse_args()
    with bench_app(args.database_url, keep=args.keep, RATE_LIMITS_ENABLED=False) as bench:
        from crm.auth.models import SignInFailure
        from crm.auth.services import create_staff, create_token
        from crm.auth.sign_in import set_staff_password
        from crm.enums import Role
        from crm.sessions import get_session
        app = bench.app
        with app.app_context():
            session = get_session()
            create_staff(session, name="Bench", email=EMAIL, role=Role.ADMIN)
            set_staff_password(session, email=EMAIL, password=PASSWORD)
            token = create_token(session, role=Role.ADMIN, staff_email=EMAIL)[1]
        client = app.test_client()
        kinds = {
            "viewer": ({"query": "{ viewer { role } }"}, {"Authorization": f"Bearer {token}"},
                       lambda body: body == {"data": {"viewer": {"role": "ADMIN"}}}),
            "sign-in": ({"query": SIGN_IN, "variables": {"e": EMAIL, "p": PASSWORD}}, {},
                        lambda body: body["data"]["staffSignIn"]["errors"] == []),
            "wrong password": ({"query": SIGN_IN, "variables": {"e": EMAIL, "p": "not the passphrase"}}, {},
                               lambda body: body["data"]["staffSignIn"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]),
            "unknown email": ({"query": SIGN_IN, "variables": {"e": "nobody@example.com", "p": PASSWORD}}, {},
                              lambda body: body["data"]["staffSignIn"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]),
        }
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        wrong_answers = 0
        for round_ in range(args.requests + 3):
            for kind, (payload, headers, expected) in kinds.items():
                began = time.perf_counter()
                response = client.post("/graphql", json=payload, headers=headers)
                elapsed = time.perf_counter() - began
                if response.status_code != 200 or not expected(response.get_json()):
                    wrong_answers += 1
                if round_ >= 3:
                    times[kind].append(elapsed * 1000)
                with bench.engine.begin() as conn:  # stay under the lockout
                    conn.execute(delete(SignInFailure))
        bench.finish()
    baseline = statistics.median(times["viewer"])
    print(bench.describe())
    print(f"{'request':<16} {'n':>4} {'median ms':>10} {'p90 ms':>8} {'x viewer':>9}")
    rows = {}
    for kind, values in times.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        rows[kind] = {"n": len(values), "median_ms": round(median, 2), "p90_ms": round(p90, 2),
                      "ratio": round(median / baseline, 1)}
        print(f"{kind:<16} {len(values):>4} {median:>10.2f} {p90:>8.2f} {median / baseline:>8.1f}x")
    print(bench.load())
    wrong, unknown = rows["wrong password"]["median_ms"], rows["unknown email"]["median_ms"]
    checks = [
        ("every answer was the one expected", wrong_answers == 0, f"{wrong_answers} unexpected"),
        ("a wrong password and an unknown email cost about the same (medians within 25 %)",
         abs(wrong - unknown) <= 0.25 * max(wrong, unknown), f"{wrong:.1f} ms vs {unknown:.1f} ms"),
    ]
    return conclude(bench, "sign_in", checks, args.json, rows=rows)


if __name__ == "__main__":
    sys.exit(main())
