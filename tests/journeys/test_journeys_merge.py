"""A merge moves the duplicate's interactions and survey answers onto the primary, rollups included."""
from __future__ import annotations

from sqlalchemy import select

from journeys.maps import rollups
from journeys.maps.models import CustomerTouchpointRollup
from tests.helpers import RECORD, create_customer, make_touchpoint, raw_id, submit

MERGE = """mutation($p: ID!, $d: ID!) { customerMerge(primaryId: $p, duplicateId: $d) {
  customer { metrics { lastInteractionAt csatAverage lastNpsScore } interactions(first: 10) { totalCount edges { node { externalId } } }
             surveyResponses(first: 10) { totalCount edges { node { kind score } } } }
  errors { code } } }"""


def test_merge_moves_interactions_surveys_and_rollups(api, app):
    make_touchpoint(api)
    primary = create_customer(api, email="ida@example.com")
    duplicate = create_customer(api, email="ida.old@example.com")
    for who, external_id, at in ((primary, "p-1", "2026-05-01T10:00:00Z"), (duplicate, "d-1", "2026-06-01T10:00:00Z"),
                                 (duplicate, "d-2", "2026-04-01T10:00:00Z")):
        api.data(RECORD, {"input": {"customerId": who["id"], "touchpointKey": "web.checkout", "occurredAt": at,
                                    "emotion": 1, "externalId": external_id}})
    submit(api, customerId=primary["id"], kind="NPS", score=9)
    submit(api, customerId=duplicate["id"], kind="NPS", score=3)
    submit(api, customerId=duplicate["id"], kind="CSAT", score=2)
    submit(api, customerId=primary["id"], kind="CSAT", score=5)
    merged = api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})["customerMerge"]
    assert merged["errors"] == []
    customer = merged["customer"]
    assert customer["metrics"]["lastInteractionAt"] == "2026-06-01T10:00:00+00:00"
    assert (customer["metrics"]["csatAverage"], customer["metrics"]["lastNpsScore"]) == (3.5, 3)
    assert [e["node"]["externalId"] for e in customer["interactions"]["edges"]] == ["d-1", "p-1", "d-2"]
    assert sorted(e["node"]["score"] for e in customer["surveyResponses"]["edges"]) == [2, 3, 5, 9]
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        assert rollups.differences(session) == 0
        cells = session.scalars(select(CustomerTouchpointRollup)).all()
        assert [(c.customer_id, c.interactions, c.emotion_sum) for c in cells] == [(raw_id(primary["id"]), 3, 3)]


def test_rollup_commands_verify_and_rebuild(api, app, runner):
    make_touchpoint(api)
    customer = create_customer(api, email="ida@example.com")
    api.data(RECORD, {"input": {"customerId": customer["id"], "touchpointKey": "web.checkout",
                                "occurredAt": "2026-05-01T10:00:00Z", "emotion": -2}})
    ok = runner.invoke(args=["journeys", "verify-rollups"])
    assert (ok.exit_code, ok.output) == (0, "rollups agree with interactions\n")
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        session.execute(CustomerTouchpointRollup.__table__.update().values(emotion_sum=5))
        session.commit()
    broken = runner.invoke(args=["journeys", "verify-rollups"])
    assert (broken.exit_code, broken.output) == (1, "1 rollup cells differ from the interactions\n")
    rebuilt = runner.invoke(args=["journeys", "rebuild-rollups"])
    assert (rebuilt.exit_code, rebuilt.output) == (0, "rebuilt 1 customer x touchpoint cells\n")
    assert runner.invoke(args=["journeys", "verify-rollups"]).exit_code == 0
