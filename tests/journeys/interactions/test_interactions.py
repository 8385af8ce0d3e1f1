"""Touchpoints, interactions (single and bulk) and the customer's timeline, through GraphQL."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from journeys.maps import rollups
from journeys.interactions.models import Interaction, InteractionPainPoint
from tests.helpers import (
    BULK,
    RECORD,
    TOUCHPOINT,
    ahead,
    create_customer,
    make_touchpoint,
    post,
    raw_id,
    run_threads,
)

TIMELINE = """query($id: ID!, $channel: Channel, $after: String) { customer(id: $id) {
  interactions(first: 2, channel: $channel, after: $after) { totalCount
    pageInfo { hasNextPage endCursor } edges { node { externalId channel occurredAt touchpoint { key } } } } } }"""


def test_touchpoint_create_and_its_errors(api):
    touchpoint = make_touchpoint(api, key="store.repair-desk", channel="STORE", stage="diagnosis",
                                 journey_map="after-sales")
    assert {k: touchpoint[k] for k in ("key", "channel", "stage", "journeyMap")} == {
        "key": "store.repair-desk", "channel": "STORE", "stage": "diagnosis", "journeyMap": "after-sales"}
    cases = [({"key": "store.repair-desk"}, "key", "DUPLICATE"),
             ({"key": "Bad Key"}, "key", "INVALID"),
             ({"journeyMap": "nope"}, "journeyMap", "NOT_FOUND"),
             ({"stage": "usage"}, "stage", "INVALID"),
             ({"name": "  "}, "name", "REQUIRED")]
    for change, field, code in cases:
        data = {"key": "app.other", "name": "Other", "channel": "APP", "stage": "diagnosis",
                "journeyMap": "after-sales", **change}
        errors = api.data(TOUCHPOINT, {"input": data})["touchpointCreate"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)], change
    listed = api.data("{ touchpoints(journeyMap: \"after-sales\") { key } }")["touchpoints"]
    assert listed == [{"key": "store.repair-desk"}]
    refused = api("{ touchpoints { key } }", as_=None, status=401)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_only_admins_and_marketers_edit_the_catalogue(api):
    errors = api.data(TOUCHPOINT, {"input": {"key": "x", "name": "X", "channel": "WEB", "stage": "purchase",
                                             "journeyMap": "purchase"}}, as_="support_agent")["touchpointCreate"]
    assert [e["code"] for e in errors["errors"]] == ["FORBIDDEN"]
    assert make_touchpoint(api, key="x")["key"] == "x"


def test_record_an_interaction_is_idempotent_on_external_id(api, app):
    make_touchpoint(api)
    customer = create_customer(api, email="ida@example.com")
    row = {"customerId": customer["id"], "touchpointKey": "web.checkout", "occurredAt": "2026-06-01T10:00:00+02:00",
           "emotion": -1, "painPoints": ["Slow Page!", "slow_page", "price"], "note": "gave up once",
           "externalId": "evt-1"}
    first = api.data(RECORD, {"input": row}, as_="integration")["interactionRecord"]
    assert first["errors"] == []
    interaction = first["interaction"]
    assert interaction["painPoints"] == ["price", "slow-page"]
    assert (interaction["channel"], interaction["stage"], interaction["occurredAt"]) == (
        "WEB", "purchase", "2026-06-01T08:00:00+00:00")
    assert interaction["customer"]["metrics"]["lastInteractionAt"] == "2026-06-01T08:00:00+00:00"
    again = api.data(RECORD, {"input": row}, as_="integration")["interactionRecord"]
    assert again == first
    changed = api.data(RECORD, {"input": {**row, "emotion": 2}}, as_="integration")["interactionRecord"]
    assert (changed["interaction"], changed["errors"]) == (None, [
        {"field": "externalId", "code": "IDEMPOTENCY_MISMATCH",
         "message": "This externalId was recorded with a different payload."}])
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Interaction)) == 1
        assert session.scalar(select(func.count()).select_from(InteractionPainPoint)) == 2
        assert rollups.differences(session) == 0


def test_record_reports_each_bad_field(api):
    make_touchpoint(api)
    customer = create_customer(api, email="ida@example.com")
    base = {"customerId": customer["id"], "touchpointKey": "web.checkout", "occurredAt": "2026-06-01T10:00:00Z"}
    unknown_customer = "Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"
    cases = [({"customerId": unknown_customer}, "customerId", "NOT_FOUND"),
             ({"customerId": "nonsense"}, "customerId", "INVALID"),
             ({"touchpointKey": "nope"}, "touchpointKey", "NOT_FOUND"),
             ({"emotion": 3}, "emotion", "INVALID"),
             ({"emotion": -3}, "emotion", "INVALID"),
             ({"painPoints": ["ok", "!!!"]}, "painPoints.1", "INVALID"),
             ({"occurredAt": ahead(hours=1).isoformat()}, "occurredAt", "INVALID"),   # in the future
             ({"externalId": "case:1"}, "externalId", "INVALID"),
             ({"occurredAt": "0001-01-01T00:00:00+01:00"}, "occurredAt", "INVALID"),
             ({"caseId": "Q2FzZTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="}, "caseId", "NOT_FOUND")]
    for change, field, code in cases:
        payload = api.data(RECORD, {"input": {**base, **change}})["interactionRecord"]
        assert payload["interaction"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)], change
    assert api.data(TIMELINE, {"id": customer["id"]})["customer"]["interactions"]["totalCount"] == 0


def test_text_postgresql_cannot_store_is_refused_before_it_reaches_the_database(api, app):
    make_touchpoint(api)
    customer = create_customer(api, email="ida@example.com")
    base = {"customerId": customer["id"], "touchpointKey": "web.checkout", "occurredAt": "2026-06-01T10:00:00Z"}
    for change in ({"note": "a\u0000b"}, {"note": "a\ud800b"}):
        body = api(RECORD, {"input": {**base, **change}}, status=400)
        assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    with app.app_context():  # the import path reaches the service without the HTTP check
        from crm.sessions import get_session
        from journeys.interactions.services import InteractionRow, record_interactions
        result = record_interactions(get_session(), [InteractionRow(raw_id(customer["id"]), "web.checkout",
                                                                    datetime(2026, 6, 1, tzinfo=timezone.utc),
                                                                    note="a\x00b")])
        assert [(e.field, e.code) for e in result.errors] == [("note", "INVALID")]


def test_bulk_records_good_rows_reports_bad_ones_and_skips_duplicates(api, app, count_statements):
    make_touchpoint(api)
    make_touchpoint(api, key="app.onboarding", channel="APP", stage="onboarding")
    ada = create_customer(api, email="ada@example.com")
    bob = create_customer(api, email="bob@example.com")
    api.data(RECORD, {"input": {"customerId": ada["id"], "touchpointKey": "web.checkout",
                                "occurredAt": "2026-06-01T10:00:00Z", "externalId": "seen"}})
    rows = [
        {"customerId": ada["id"], "touchpointKey": "web.checkout", "occurredAt": "2026-06-01T10:00:00Z",
         "externalId": "seen"},                                                      # 0 duplicate of a stored row
        {"customerId": bob["id"], "touchpointKey": "app.onboarding", "occurredAt": "2026-06-02T10:00:00Z",
         "emotion": 2, "externalId": "b-1"},                                         # 1 good
        {"customerId": bob["id"], "touchpointKey": "nope", "occurredAt": "2026-06-02T10:00:00Z"},  # 2 bad key
        {"customerId": "garbage", "touchpointKey": "web.checkout", "occurredAt": "2026-06-02T10:00:00Z"},  # 3
        {"customerId": ada["id"], "touchpointKey": "app.onboarding", "occurredAt": "2026-06-03T10:00:00Z",
         "painPoints": ["login loop"]},                                              # 4 good
        {"customerId": bob["id"], "touchpointKey": "app.onboarding", "occurredAt": "2026-06-02T10:00:00Z",
         "emotion": 2, "externalId": "b-1"},                                         # 5 duplicate within the call
        {"customerId": ada["id"], "touchpointKey": "web.checkout", "occurredAt": "2026-06-01T10:00:00Z",
         "emotion": 1, "externalId": "seen"},                                        # 6 mismatch
        {"customerId": ada["id"], "touchpointKey": "web.checkout", "occurredAt": "2026-06-04T10:00:00Z",
         "emotion": 7},                                                              # 7 bad emotion
    ]
    with count_statements() as statements:
        result = api.data(BULK, {"inputs": rows}, as_="integration")["interactionRecordBulk"]
    assert (result["recorded"], result["duplicates"]) == (2, 2)
    assert [(e["index"], e["field"], e["code"]) for e in result["errors"]] == [
        (2, "touchpointKey", "NOT_FOUND"), (3, "customerId", "INVALID"), (6, "externalId", "IDEMPOTENCY_MISMATCH"),
        (7, "emotion", "INVALID")]
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO INTERACTION ")]
    assert len(inserts) == 1, [s[:400] for s in inserts]  # one multi-row statement, not a loop
    timeline = api.data(TIMELINE, {"id": ada["id"]})["customer"]["interactions"]
    assert timeline["totalCount"] == 2
    assert [e["node"]["touchpoint"]["key"] for e in timeline["edges"]] == ["app.onboarding", "web.checkout"]
    with app.app_context():
        from crm.sessions import get_session
        assert rollups.differences(get_session()) == 0


def test_bulk_statements_do_not_grow_with_rows(api, count_statements):
    make_touchpoint(api)
    customers = [create_customer(api, email=f"c{i}@example.com") for i in range(6)]

    def rows(n, tag):
        return [{"customerId": customers[i % 6]["id"], "touchpointKey": "web.checkout",
                 "occurredAt": f"2026-06-01T10:{i % 60:02d}:00Z", "emotion": i % 5 - 2,
                 "painPoints": ["wait"] if i % 2 else [], "externalId": f"{tag}-{i}"} for i in range(n)]

    counts = []
    for n, tag in ((3, "a"), (300, "b")):
        with count_statements() as statements:
            result = api.data(BULK, {"inputs": rows(n, tag)}, as_="integration")["interactionRecordBulk"]
        assert (result["recorded"], result["errors"]) == (n, [])
        if api.client.application.extensions["crm.engine"].dialect.name == "sqlite":
            # SQLite cannot return generated keys of a multi-row INSERT in order, so SQLAlchemy writes
            # outbox rows (one event per customer) one at a time there; PostgreSQL writes them in one.
            statements = [s for s in statements if not s.startswith("INSERT INTO outbox_entry")]
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_bulk_over_the_limit_is_refused_whole(api):
    make_touchpoint(api)
    customer = create_customer(api, email="ida@example.com")
    rows = [{"customerId": customer["id"], "touchpointKey": "web.checkout", "occurredAt": "2026-06-01T10:00:00Z"}
            ] * 1001
    body = api(BULK, {"inputs": rows}, as_="integration")
    assert body["errors"][0]["message"] == "Bulk limit: at most 1000 rows per interactionRecordBulk call, got 1001."
    assert api.data(TIMELINE, {"id": customer["id"]})["customer"]["interactions"]["totalCount"] == 0
    refused = api.data(BULK, {"inputs": rows[:1]}, as_="marketer")["interactionRecordBulk"]
    assert (refused["recorded"], [(e["index"], e["code"]) for e in refused["errors"]]) == (0, [(-1, "FORBIDDEN")])


def test_timeline_is_newest_first_filterable_by_channel_and_paginated(api):
    make_touchpoint(api)
    make_touchpoint(api, key="app.onboarding", channel="APP", stage="onboarding")
    customer = create_customer(api, email="ida@example.com")
    for n, (key, at) in enumerate([("web.checkout", "2026-06-01T10:00:00Z"), ("app.onboarding", "2026-06-03T10:00:00Z"),
                                   ("web.checkout", "2026-06-05T10:00:00Z"), ("app.onboarding", "2026-06-02T10:00:00Z")]):
        api.data(RECORD, {"input": {"customerId": customer["id"], "touchpointKey": key, "occurredAt": at,
                                    "externalId": f"e{n}"}})
    page = api.data(TIMELINE, {"id": customer["id"]})["customer"]["interactions"]
    assert [e["node"]["externalId"] for e in page["edges"]] == ["e2", "e1"]
    assert (page["totalCount"], page["pageInfo"]["hasNextPage"]) == (4, True)
    rest = api.data(TIMELINE, {"id": customer["id"], "after": page["pageInfo"]["endCursor"]})["customer"]
    assert [e["node"]["externalId"] for e in rest["interactions"]["edges"]] == ["e3", "e0"]
    app_only = api.data(TIMELINE, {"id": customer["id"], "channel": "APP"})["customer"]["interactions"]
    assert ([e["node"]["externalId"] for e in app_only["edges"]], app_only["totalCount"]) == (["e1", "e3"], 2)
    wrong_cursor = api(TIMELINE, {"id": customer["id"], "channel": "APP", "after": page["pageInfo"]["endCursor"]})
    assert wrong_cursor["errors"][0]["message"] == "This cursor is not valid for this list and ordering."


def test_portal_sees_only_its_own_interactions(api, portal_token, tokens):
    make_touchpoint(api)
    ida = create_customer(api, email="ida@example.com")
    eve = create_customer(api, email="eve@example.com")
    recorded = api.data(RECORD, {"input": {"customerId": eve["id"], "touchpointKey": "web.checkout",
                                           "occurredAt": "2026-06-01T10:00:00Z"}})["interactionRecord"]
    tokens["ida"] = portal_token(raw_id(ida["id"]))
    node = api.data("query($id: ID!) { node(id: $id) { id } }", {"id": recorded["interaction"]["id"]}, as_="ida")
    assert node == {"node": None}
    refused = api.data(RECORD, {"input": {"customerId": ida["id"], "touchpointKey": "web.checkout",
                                          "occurredAt": "2026-06-01T10:00:00Z"}}, as_="ida")["interactionRecord"]
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]


@pytest.mark.concurrency
def test_parallel_bulk_calls_with_shared_external_ids_record_each_once(api, app):
    make_touchpoint(api)
    customers = [create_customer(api, email=f"p{i}@example.com") for i in range(4)]
    rows = [{"customerId": customers[i % 4]["id"], "touchpointKey": "web.checkout", "emotion": i % 5 - 2,
             "occurredAt": f"2026-06-01T10:{i:02d}:00Z", "painPoints": ["wait"] if i % 3 else [],
             "externalId": f"shared-{i}"} for i in range(40)]
    token = api.tokens["integration"]
    # Half the callers send the rows reversed: inserts in arrival order would deadlock.
    results = run_threads(6, lambda index: post(app, token, BULK, {"inputs": rows if index % 2 else rows[::-1]})[
        "interactionRecordBulk"])
    assert [r["errors"] for r in results] == [[]] * 6
    assert sum(r["recorded"] for r in results) == 40
    assert sum(r["duplicates"] for r in results) == 40 * 5
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Interaction)) == 40
        assert rollups.differences(session) == 0


def test_journey_maps_are_data_that_admins_and_marketers_shape(api):
    save = """mutation($input: JourneyMapSaveInput!) { journeyMapSave(input: $input) {
      journeyMap { key name stages } errors { field code } } }"""
    created = api.data(save, {"input": {"key": "returns", "name": "Returns", "stages": ["Request", "pickup",
                                                                                        "refund"]}},
                       as_="marketer")["journeyMapSave"]
    assert created == {"journeyMap": {"key": "returns", "name": "Returns", "stages": ["request", "pickup", "refund"]},
                       "errors": []}
    make_touchpoint(api, key="web.returns-form", stage="request", journey_map="returns")
    renamed = api.data(save, {"input": {"key": "returns", "name": "Returns and refunds",
                                        "stages": ["request", "label", "pickup", "refund"]}})["journeyMapSave"]
    assert renamed["journeyMap"]["stages"] == ["request", "label", "pickup", "refund"]
    cases = [({"stages": ["pickup", "refund"]}, "stages", "INVALID"),   # "request" has a touchpoint
             ({"stages": []}, "stages", "REQUIRED"),
             ({"stages": ["a", "a"]}, "stages", "INVALID"),
             ({"stages": ["ok", "Bad!"]}, "stages.1", "INVALID"),
             ({"key": "Bad Key"}, "key", "INVALID")]
    for change, field, code in cases:
        data = {"key": "returns", "name": "Returns", "stages": ["request"], **change}
        payload = api.data(save, {"input": data})["journeyMapSave"]
        assert (payload["journeyMap"], [(e["field"], e["code"]) for e in payload["errors"]]) == (
            None, [(field, code)]), change
    refused = api.data(save, {"input": {"key": "x", "name": "X", "stages": ["a"]}}, as_="support_agent")
    assert [e["code"] for e in refused["journeyMapSave"]["errors"]] == ["FORBIDDEN"]
    maps = api.data("{ journeyMaps { key stages } }", as_="integration")["journeyMaps"]
    assert maps == [{"key": "after-sales", "stages": ["reception", "diagnosis", "solution", "follow-up"]},
                    {"key": "purchase", "stages": ["awareness", "consideration", "purchase", "onboarding", "usage"]},
                    {"key": "returns", "stages": ["request", "label", "pickup", "refund"]}]
