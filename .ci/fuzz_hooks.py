"""Schemathesis hooks for `.ci/fuzz`: strategies for the custom scalars and the `no_internal_errors` check.

Loaded with `SCHEMATHESIS_HOOKS=.ci/fuzz_hooks.py` (schemathesis 4.32). Each scalar strategy draws a
mix of values the API must accept (plausible instants, amounts, rules, real ids of the demo data) and
values it must refuse cleanly (years past 9999, offsets that overflow UTC, NUL, NaN, Infinity, huge
decimals, JSON nested deeper than Python's recursion limit, ids of the wrong type). A refusal is any
answer but a 5xx or an `INTERNAL` error code: those two are bugs, whatever the input.

Environment (set by `.ci/fuzz`):
  FUZZ_RECORD   file to append one JSON line per checked response (the summary counts them)
  FUZZ_IDS      file with a JSON list of real global ids of the seeded data (optional)
  FUZZ_LABEL    name of the run (role and seed), copied into each record
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
import uuid

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes
from schemathesis.specs.graphql import schemas as _st_schemas
from schemathesis.specs.graphql import validation as _st_validation

import graphql

# --------------------------------------------------------------------------------------------
# Turning plain Python values into GraphQL literals


def literal(value) -> graphql.ValueNode:
    """A Python value as a GraphQL value node (dict keys must be GraphQL names)."""
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, (list, tuple)):
        return nodes.List([literal(v) for v in value])
    if isinstance(value, dict):
        return nodes.Object([
            graphql.ObjectFieldNode(name=graphql.NameNode(value=str(k)), value=literal(v)) for k, v in value.items()
        ])
    raise TypeError(type(value))


def nested_list(depth: int) -> graphql.ValueNode:
    node = nodes.List([])
    for _ in range(depth):
        node = nodes.List([node])
    return node


def nested_object(depth: int) -> graphql.ValueNode:
    node = nodes.Object([])
    for _ in range(depth):
        node = nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value="all"), value=nodes.List([node]))])
    return node


NUL = "\x00"
HOSTILE_TEXT = ["", " ", NUL, f"a{NUL}b", "\u202e", "é" * 300, "x" * 5000, "💥", "'; DROP TABLE customer; --",
                "%s%s%n", "{{7*7}}", "${jndi:x}", "\\", '"', "null", "NaN", "Infinity", "-0", "1e999"]
GRAPHQL_NAMES = st.from_regex(r"\A[a-z][a-zA-Z0-9_]{0,12}\Z")

# --------------------------------------------------------------------------------------------
# DateTime and Date

OFFSETS = ["Z", "+00:00", "+02:00", "-05:00", "+05:45", "+14:00", "-12:00", "+23:59", "-23:59"]
_valid_instants = st.builds(
    lambda d, off: d.isoformat(timespec="seconds") + off,
    st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 12, 31)),
    st.sampled_from(OFFSETS),
)
_edge_instants = st.sampled_from([
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "0001-01-01T00:30:00+23:59",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59.999999-23:59",
    "1900-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2038-01-19T03:14:08Z", "2262-04-12T00:00:00Z",
    "3000-01-01T00:00:00Z", "2026-03-29T02:30:00+01:00", "2026-02-29T00:00:00Z", "2024-02-29T12:00:00Z",
    "2026-06-01T12:00:00z", "2026-06-01 12:00:00+02:00", "2026-06-01T12:00:00.123456789Z",
])
_bad_instants = st.sampled_from([
    "2026-06-01T12:00:00", "2026-06-01", "10000-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "-0001-01-01T00:00:00Z",
    "2026-13-01T00:00:00Z", "2026-06-01T25:00:00Z", "2026-06-01T12:00:00+24:00", f"2026-06-01T12:00:00{NUL}Z",
    "now", "", " ", "NaN", "2026-06-01T12:00:00+02:00[Europe/Berlin]",
])


def _dates(min_year: int = 1900, max_year: int = 2100):
    return st.dates(min_value=dt.date(min_year, 1, 1), max_value=dt.date(max_year, 12, 31)).map(str)


DATETIME = st.one_of(
    _valid_instants.map(nodes.String),
    _edge_instants.map(nodes.String),
    _bad_instants.map(nodes.String),
    st.text(max_size=30).map(nodes.String),
    st.integers(min_value=-(2**63), max_value=2**63).map(nodes.Int),
)
DATE = st.one_of(
    _dates().map(nodes.String),
    st.sampled_from(["0001-01-01", "9999-12-31", "2024-02-29", "2026-02-29", "10000-01-01", "2026-1-1",
                     "01/02/2026", "", f"2026-01-01{NUL}", "2026-06-01T00:00:00Z"]).map(nodes.String),
    st.text(max_size=12).map(nodes.String),
    st.integers(min_value=0, max_value=2**40).map(nodes.Int),
)

# --------------------------------------------------------------------------------------------
# Decimal

DECIMAL = st.one_of(
    st.decimals(min_value=-10000, max_value=100000, places=2, allow_nan=False).map(str).map(nodes.String),
    st.decimals(allow_nan=False, allow_infinity=False).map(str).map(nodes.String),
    st.sampled_from([
        "0", "-0", "0.01", "0.001", "0.0000000001", "12.50", " 12.50 ", "-12.50", "1e3", "1E+2", "1e-2",
        "9" * 40, "9" * 400, "0." + "0" * 400 + "1", "1e400", "-1e400", "1E+999999999", "1e-999999999",
        "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "", " ", "1,5", "1_000", "0x10", f"1{NUL}",
        "99999999999999999999.99", "123456789012345678901234567890.123456789",
    ]).map(nodes.String),
    st.integers(min_value=-(10**30), max_value=10**30).map(nodes.Int),
    st.sampled_from(["1e308", "1.7976931348623157e309", "-1e-400", "0.1", "123.456"]).map(nodes.Float),
    st.just(nodes.Int(int("9" * 300))),
)

# --------------------------------------------------------------------------------------------
# JSON: generic values, segment rules, business hours, order items, deep nesting

_json_leaves = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(HOSTILE_TEXT),
)
_json_values = st.recursive(
    _json_leaves,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(GRAPHQL_NAMES, children, max_size=4)),
    max_leaves=12,
)

RULE_FIELDS = [
    "email", "locale", "timezone", "country", "birthday", "createdAt", "attributes.vip", "attributes.score",
    "lifecycleStage", "serviceTier", "consents.EMAIL", "consents.SMS", "accountManagerId", "metrics.totalSpent",
    "metrics.orderCount", "metrics.lastOrderAt", "metrics.churnRisk", "metrics.lifetimeValue", "orders.count",
    "orders.sum", "interactions.count", "cases.open", "surveys.lastNps", "surveys.lastCsat", "loyalty.balance",
    "loyalty.tier", "segment", "nope", "",
]
RULE_OPS = ["eq", "neq", "lt", "lte", "gt", "gte", "between", "in", "not_in", "contains", "starts_with", "exists",
            "within_last", "before_last", "regex", ""]
DURATIONS = ["P90D", "PT12H", "P1Y", "P1M", "P0D", "PT0S", "P99999999999D", "P9999Y", "PT99999999999999H",
             "P-1D", "P1.5D", "P", "PT", "90", "P1W", "P100000000Y", "PT1E9S"]
_rule_values = st.one_of(
    _json_leaves,
    st.sampled_from(["LOYAL", "VIP", "EUR", "WEB", "2026-01-01", "2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "0001-01-01", "10000-01-01"] + DURATIONS),
    st.lists(_json_leaves, max_size=3),
    st.just([0, 10]), st.just(["2020-01-01", "2030-01-01"]),
)
_conditions = st.fixed_dictionaries(
    {"field": st.sampled_from(RULE_FIELDS), "op": st.sampled_from(RULE_OPS), "value": _rule_values},
    optional={
        "within": st.sampled_from(DURATIONS),
        "where": st.fixed_dictionaries({}, optional={
            "channel": st.sampled_from(["WEB", "APP", "EMAIL", "nope"]),
            "touchpointKey": st.text(max_size=10), "stage": st.text(max_size=10), "painPoint": st.text(max_size=10),
        }),
    },
)
_rules = st.recursive(
    _conditions,
    lambda children: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(children, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(children, max_size=3)),
        st.builds(lambda x: {"not": x}, children),
    ),
    max_leaves=6,
)
_business_hours = st.fixed_dictionaries({}, optional={
    "timezone": st.sampled_from(["Europe/Berlin", "UTC", "America/New_York", "Mars/Olympus", "", NUL]),
    "weekdays": st.lists(st.integers(min_value=-2, max_value=9), max_size=8),
    "start": st.sampled_from(["09:00", "00:00", "23:59", "24:00", "17:00", "9", "", "25:61"]),
    "end": st.sampled_from(["17:00", "09:00", "00:00", "24:00", "23:59:59", ""]),
    "holidays": st.lists(st.sampled_from(["2026-12-25", "0001-01-01", "9999-12-31", "2026-02-30", "x"]), max_size=3),
})
_order_items = st.lists(
    st.fixed_dictionaries({}, optional={
        "sku": st.text(max_size=10), "name": st.text(max_size=10),
        "quantity": st.one_of(st.integers(min_value=-5, max_value=2**40), st.just("2")),
        "price": st.one_of(st.sampled_from(["9.99", "NaN", "1e400", "-1"]), st.integers(), st.floats(allow_nan=False,
                                                                                                      allow_infinity=False)),
        "unitPrice": st.sampled_from(["9.99", "NaN"]), "category": st.text(max_size=8),
    }),
    max_size=4,
)

JSON = st.one_of(
    _json_values.map(literal),
    _rules.map(literal),
    _business_hours.map(literal),
    _order_items.map(literal),
    st.sampled_from([10, 100, 900, 1200, 3000]).map(nested_list),
    st.sampled_from([5, 9, 50, 600]).map(nested_object),
)

# --------------------------------------------------------------------------------------------
# ID: real ids of the demo data, ids of the wrong type, malformed ones

NODE_TYPES = ["Customer", "Order", "Case", "Touchpoint", "Interaction", "StaffUser", "SurveyResponse", "Segment",
              "LedgerEntry", "Reward", "RewardRedemption", "Message", "Campaign"]


def _gid(kind: str, raw: str) -> str:
    return base64.b64encode(f"{kind}:{raw}".encode("utf-8", "surrogatepass")).decode()


def _real_ids() -> list[str]:
    path = os.environ.get("FUZZ_IDS")
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [str(i) for i in json.load(handle)][:500]


_REAL_IDS = _real_ids()
_crafted_ids = st.one_of(
    st.builds(lambda k, u: _gid(k, str(u)), st.sampled_from(NODE_TYPES), st.uuids()),
    st.builds(_gid, st.sampled_from(NODE_TYPES + ["", "Nope", "customer"]),
              st.sampled_from(["", "1", "not-a-uuid", NUL, "0" * 32, "-1", "9" * 50, "x" * 400])),
    st.uuids().map(str),
    st.sampled_from(["", " ", "!!!", "====", "Q3VzdG9tZXI6", "Q3VzdG9tZXI6\x00", "%00", "null", "0",
                     base64.b64encode(b"\xff\xfe\xfd").decode(), base64.b64encode(b"Customer:\xff").decode()]),
    st.text(max_size=20),
)
ID = st.one_of(st.sampled_from(_REAL_IDS), _crafted_ids) if _REAL_IDS else _crafted_ids
ID = ID.map(nodes.String)

# --------------------------------------------------------------------------------------------
# String: cursors, well-known formats the API parses, and plain text

ORDERINGS = ["campaigns", "cases", "customer-cases", "customer-messages", "ledger", "messages", "orders",
             "redemptions", "rewards", "segment-members", "segments", "staff", "surveys", "customers", "interactions"]
_cursor_values = st.one_of(
    st.sampled_from(["2026-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00",
                     "2026-01-01T00:00:00", "1e400", "NaN", "12.5", NUL, str(uuid.uuid4()), "x" * 300]),
    st.integers(min_value=-(2**80), max_value=2**80), st.none(), st.booleans(), st.floats(allow_nan=False),
    st.just([1, 2]), st.just({"a": 1}),
)


def _cursor(parts: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


_cursors = st.one_of(
    st.builds(lambda o, vs: _cursor([o, *vs]), st.sampled_from(ORDERINGS), st.lists(_cursor_values, max_size=4)),
    st.sampled_from([_cursor(["orders", float("nan")]), "W10", "e30", "!!!", "AAAA", "=" * 8]),
)
_known_formats = st.sampled_from([
    "EUR", "USD", "GBP", "JPY", "XXX", "eur", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Mars/Olympus",
    "de-DE", "en", "zz-ZZ", "+4915112345678", "+44 20 7946 0958", "0", "ann.lee@example.com", "nakamura.kenji@example.com",
    "a@b", "@", "09:00", "24:00", "21:00", "0 9 * * *", "*/0 * * * *", "0 9 31 2 *", "P90D", "demo-1", "web-1001",
    "purchase", "after-sales", "awareness", "reception", "VIP", "admin@demo.example",
    "{{ customer.first_name }}", "{% for x in range(10**9) %}{% endfor %}", "{{ ''.__class__ }}",
    # dates, times and zones of campaign schedules (strings, not the DateTime scalar)
    "2026-12-24", "9999-12-31", "0001-01-01", "2024-02-29", "2026-02-29", "00:00", "23:59", "Etc/GMT+12",
    "Etc/GMT-14", "Pacific/Kiritimati", "localtime", "0 0 31 2 *", "R R * * *", "0 9 L * *",
])
STRING = st.one_of(
    st.text(max_size=40).map(nodes.String),
    st.sampled_from(HOSTILE_TEXT).map(nodes.String),
    _known_formats.map(nodes.String),
    _cursors.map(nodes.String),
)

for _name, _strategy in (("DateTime", DATETIME), ("Date", DATE), ("Decimal", DECIMAL), ("JSON", JSON), ("ID", ID),
                         ("String", STRING)):
    schemathesis.graphql.scalar(_name, _strategy)

# --------------------------------------------------------------------------------------------
# What counts as a server error
#
# schemathesis 4.32's `not_a_server_error` also fails a 200 whose errors carry a `path` (ST113 "GraphQL
# server error") unless their code is one of Apollo's client codes. This API answers every refusal of an
# input that way, with its own codes (INVALID, NOT_FOUND, PAGE_SIZE_LIMIT, FORBIDDEN, ...), so every
# clean refusal would be a failure. Here only INTERNAL is a server-side error; anything else is the
# API doing its job. `not_a_server_error` keeps failing every 5xx.

def _is_client_error(payload: dict) -> bool:
    errors = payload.get("errors")
    if not isinstance(errors, list) or not errors:
        return False
    return not any(isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "INTERNAL" for e in errors)


for _module in (_st_schemas, _st_validation):
    if not hasattr(_module, "is_client_error"):
        raise RuntimeError(f"{_module.__name__}.is_client_error is gone: adapt .ci/fuzz_hooks.py to this schemathesis")
    _module.is_client_error = _is_client_error

# --------------------------------------------------------------------------------------------
# The check: no INTERNAL error code in any answer, whatever the status

_lock = threading.Lock()


def _record(entry: dict) -> None:
    path = os.environ.get("FUZZ_RECORD")
    if not path:
        return
    line = json.dumps(entry, ensure_ascii=True, default=str)
    with _lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _internal_errors(response) -> list[dict]:
    try:
        body = response.json()
    except ValueError:  # not JSON: not_a_server_error judges the status
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "INTERNAL"]


@schemathesis.check
def no_internal_errors(ctx, response, case):
    """Fails on any error whose `extensions.code` is INTERNAL, whatever the HTTP status."""
    internal = _internal_errors(response)
    entry = {"run": os.environ.get("FUZZ_LABEL", ""), "operation": case.operation.label,
             "status": response.status_code, "internal": len(internal)}
    if internal or response.status_code >= 500:
        query = case.body.get("query") if isinstance(case.body, dict) else case.body
        entry["query"] = query
        # In development the API names the exception class in `extensions.exception`.
        entry["messages"] = [" ".join(filter(None, [(e.get("extensions") or {}).get("exception"), e.get("message")]))
                             for e in internal] or [response.text_lossy()[:500]]
        entry["path"] = [e.get("path") for e in internal]
    _record(entry)
    if internal:
        first = internal[0]
        raise AssertionError(f"INTERNAL error at {first.get('path')}: {first.get('message')}")
